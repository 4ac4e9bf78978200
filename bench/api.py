"""REST API throughput and latency over a 100k-article SQLite store, on loopback.

What it does:

1. seeds ``--articles`` articles into a temporary SQLite store — titles and excerpts from AG News
   (``<data>/ag_news/test.csv``, cycled; synthetic text when absent), written through the store's own
   tables in one transaction (the FTS5 triggers index them as in production);
2. starts ``uvicorn`` (one process) on 127.0.0.1 in a subprocess over that store;
3. drives it from an httpx async load generator on the same machine — ``--concurrency`` requests in
   flight, each endpoint bounded by ``--requests`` AND ``--seconds``, whichever ends first — and prints
   requests/s and p50/p95 latency for: a page of the article list, a filtered page, one article, and text
   search.

The load generator shares the machine's cores with the server, so figures are a floor for a separate
client. Usage::

    .venv/bin/python bench/api.py                    # 100k articles, 16 concurrent, ≤ 2,000 req / ≤ 20 s
    .venv/bin/python bench/api.py --articles 10000 --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsdesk.model import Article, Provider  # noqa: E402
from newsdesk.store import Store  # noqa: E402
from newsdesk.store import rows as store_rows  # noqa: E402
from newsdesk.store import tables as t  # noqa: E402

CHUNK = 5_000  # rows per executemany: keeps the parameter lists small while amortising the round trips
TOPICS = (("AI in Finance", "AI"), ("Payments", "Fintech"), ("Markets",), ("Banking",), ("Economy",))
PROVIDERS = 40
STARTUP_TIMEOUT_S = 60.0
SEARCH_WORDS = ("oil", "stocks", "election", "google", "team", "prices", "space", "court", "bank", "music")


@dataclass(frozen=True)
class Result:
    name: str
    latencies_ms: list[float]
    errors: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------------------------- seeding


def texts(data: Path) -> list[tuple[str, str]]:
    path = data / "ag_news" / "test.csv"
    if not path.exists():
        return [
            (f"Synthetic headline {i}", f"Synthetic excerpt number {i} about markets.") for i in range(1000)
        ]
    with path.open(encoding="utf-8") as handle:
        return [(row[1].strip() or "Untitled", row[2].strip()[:200]) for row in csv.reader(handle)]


def articles(count: int, corpus: list[tuple[str, str]]) -> Iterator[Article]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(count):
        title, excerpt = corpus[n % len(corpus)]
        domain = f"site{n % PROVIDERS}.example.com"
        yield Article(
            title=title, excerpt=excerpt, web_url=f"https://{domain}/a/{n}", original_url=f"https://{domain}/a/{n}",
            provider=Provider(f"Site {n % PROVIDERS}", domain), published_at=start + timedelta(minutes=n),
            quality=n % 101, heat=n % 50, topics=TOPICS[n % len(TOPICS)], published=n % 3 == 0,
        )  # fmt: skip


def seed(url: str, count: int, corpus: list[tuple[str, str]]) -> float:
    """Insert ``count`` articles in one transaction through the store's tables; returns seconds taken."""
    started = time.perf_counter()
    store = Store.open(url)
    batch: list[Article] = []
    with store.engine.begin() as c:
        for n, article in enumerate(articles(count, corpus), start=1):
            batch.append(article)
            if len(batch) == CHUNK or n == count:
                _insert(c, batch, first_id=n - len(batch) + 1)
                batch = []
    store.close()
    return time.perf_counter() - started


def _insert(c: object, batch: list[Article], first_id: int) -> None:
    now = datetime.now(UTC)
    values, topic_rows = [], []
    for offset, a in enumerate(batch):
        row = store_rows.article_row(a, full_text_index=False)
        row |= {"id": first_id + offset, "published": a.published, "first_seen_at": now, "updated_at": now,
                "sort_at": a.published_at, "review_state": "published" if a.published else "pending"}  # fmt: skip
        values.append(row)
        topic_rows += [
            {"article_id": first_id + offset, "topic": x, "rank": r} for r, x in enumerate(a.topics)
        ]
    c.execute(insert(t.articles), values)  # type: ignore[attr-defined]
    c.execute(insert(t.article_topics), topic_rows)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: str, port: int) -> None:
    """Server mode (run in the subprocess): the API over the seeded store."""
    from newsdesk.api import serve as run
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings

    env = {"NEWSDESK_DATA_DIR": data_dir, "NEWSDESK_CONFIG": str(Path(data_dir) / "absent.toml")}
    run(Newsdesk(load_settings(env=env, base_dir=Path(data_dir))), "127.0.0.1", port)


def start_server(data_dir: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve", data_dir, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the API server did not start")


# -------------------------------------------------------------------------------------------- load


async def drive(
    base: str, name: str, path: Callable[[random.Random], str], args: argparse.Namespace
) -> Result:
    """``args.concurrency`` workers share a budget of ``args.requests`` requests and ``args.seconds``."""
    latencies: list[float] = []
    errors = 0
    budget = args.requests
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    started = time.perf_counter()
    deadline = started + args.seconds
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            nonlocal budget, errors
            rng = random.Random(seed)
            while budget > 0 and time.perf_counter() < deadline:
                budget -= 1
                sent = time.perf_counter()
                response = await client.get(path(rng))
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - sent) * 1000)
                else:
                    errors += 1

        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    return Result(name, latencies, errors, time.perf_counter() - started)


def endpoints(count: int) -> list[tuple[str, Callable[[random.Random], str]]]:
    return [
        ("list (limit 50)", lambda rng: "/api/v1/articles?limit=50"),
        (
            "list filtered",
            lambda rng: f"/api/v1/articles?limit=50&topic=Payments&min_quality={rng.randrange(90)}",
        ),
        # Anonymous readers see published articles only: every third seeded article (id = n + 1, n % 3 == 0).
        ("one article", lambda rng: f"/api/v1/articles/{3 * rng.randrange(count // 3) + 1}"),
        ("search text", lambda rng: f"/api/v1/search?q={rng.choice(SEARCH_WORDS)}&limit=20"),
    ]


def table(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"API benchmark: {args.articles:,} articles (SQLite), 1 uvicorn process, "
        f"{args.concurrency} concurrent, ≤ {args.requests} requests / ≤ {args.seconds:g} s per endpoint",
        f"{'endpoint':<18}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    for r in results:
        lines.append(f"{r.name:<18}{len(r.latencies_ms):>10}{r.errors:>8}{r.rate:>10.1f}"
                     f"{r.percentile(0.5):>10.1f}{r.percentile(0.95):>10.1f}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    with tempfile.TemporaryDirectory(prefix="newsdesk-bench-api-") as data_dir:
        seconds = seed(f"sqlite:///{data_dir}/newsdesk.db", args.articles, texts(args.data))
        print(f"seeded {args.articles:,} articles in {seconds:.1f} s ({args.articles / seconds:,.0f}/s)")
        port = free_port()
        server = start_server(data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            results = [asyncio.run(drive(base, name, path, args)) for name, path in endpoints(args.articles)]
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(table(results, args))


if __name__ == "__main__":
    main()
