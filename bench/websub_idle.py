"""What WebSub adds to an idle desk step (``newsdesk.websub.WebSub.tend``, called once per loop turn).

A fresh SQLite store with ``--sources`` feed sources whose hubs were already looked for (none found),
``--active`` of them with a live lease; then times ``tend([])`` (nothing due: the common step) and
``tend(all sources)`` (the subscription table read to filter a due list), and ``tend`` with WebSub
off. No network: nothing is due for discovery or renewal. Usage::

    .venv/bin/python bench/websub_idle.py [--sources 500] [--active 50] [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Source, now
from newsdesk.websub import WebSub

OFF_CALLS = 1000


def desk(root: Path, **env: str) -> Newsdesk:
    base = {"NEWSDESK_CONFIG": str(root / "absent.toml"), "NEWSDESK_DATA_DIR": str(root / "data")}
    return Newsdesk(load_settings(env=base | env, base_dir=root))


def seed(nd: Newsdesk, sources: int, active: int) -> None:
    for n in range(sources):
        source_id = nd.sources.add(Source(f"https://feed{n}.example/rss")).id or 0
        state = (
            {"state": "active", "lease_expires_at": now() + timedelta(days=5)}
            if n < active
            else {"state": "none"}
        )
        nd.store.save_websub(source_id, checked_at=now(), callback_key=f"key{n}", secret="s", **state)


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    runs = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000, statistics.quantiles(runs, n=10)[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=500)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        nd = desk(root, NEWSDESK_PUBLIC_URL="http://127.0.0.1:1")
        seed(nd, args.sources, args.active)
        websub, due = WebSub(nd), nd.store.list_sources()
        for label, arg in (("tend([])", []), (f"tend({len(due)} due)", due)):
            median, p90 = timed(lambda arg=arg: websub.tend(arg), args.calls)  # type: ignore[misc]
            print(f"{label:>16}: median {median:.2f} ms, p90 {p90:.2f} ms")
        off = WebSub(desk(root))
        started = time.perf_counter()
        for _ in range(OFF_CALLS):
            off.tend(due)
        print(f"{'off':>16}: {(time.perf_counter() - started) / OFF_CALLS * 1e6:.1f} µs a call")
        nd.close()


if __name__ == "__main__":
    main()
