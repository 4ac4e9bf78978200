"""The ingest loop never stalls on the store (issue 13, item 3): while another process holds SQLite's
write lock, the run's saves wait on the writer thread and the event loop keeps serving its other tasks
(in the desk: the fetches of the other sources, whose connect timeouts a stalled loop used to trip)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.desk import Desk, OutputTargets
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import Ingestor, fetch_policy
from newsdesk.looplag import LagProbe
from newsdesk.model import Source
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply
from tests.test_desk import page

HOLD_S = 2.0  # how long the other writer keeps the database locked
PROBE_S = 0.02  # the lag probe's sleep
MAX_LAG_S = 0.5  # a loop that waited on the lock would be late by most of HOLD_S


def _hold_write_lock(database: Path, held: threading.Event) -> None:
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as another newsdesk process mid-transaction
    held.set()
    time.sleep(HOLD_S)
    other.execute("COMMIT")
    other.close()


async def _ingest_with_probe(nd: Newsdesk, source: Source, database: Path) -> tuple[float, int]:
    lags: list[float] = []

    async def probe() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(PROBE_S)
            lags.append(time.perf_counter() - started - PROBE_S)

    watcher = asyncio.create_task(probe())
    held = threading.Event()
    locker = threading.Thread(target=_hold_write_lock, args=(database, held))
    async with Fetcher(fetch_policy(nd.settings)) as fetcher:
        ingestor = Ingestor(nd.settings, nd.store, fetcher, nd.worker_pool())
        locker.start()
        held.wait()
        summary = await ingestor.run([source])
    watcher.cancel()
    locker.join()
    return max(lags), summary.new


def test_a_locked_database_does_not_stall_the_ingest_loop(tmp_path: Path) -> None:
    routes = {f"/a/{n}": page for n in ("one", "two", "three")}
    with LoopbackServer(routes) as server:
        items = "".join(
            f"<item><title>Report {path}</title><link>{server.url(path)}</link></item>" for path in routes
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>L</title>{items}</channel></rss>'
        server.route("/feed.xml", Reply(body=body.encode(), content_type="application/rss+xml"))
        env = quiet_env(tmp_path / "data", NEWSDESK_WORKERS="1")
        nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
        source = nd.sources.add(Source(url=server.url("/feed.xml"), allow_loopback=True))
        nd.worker_pool().submit(int).result()  # the pool is warm before the clock matters
        worst, new = asyncio.run(_ingest_with_probe(nd, source, tmp_path / "data" / "newsdesk.db"))
        nd.close()
    assert new == 3  # the saves waited for the lock and then went through
    assert worst < MAX_LAG_S, f"the event loop stalled for {worst:.2f} s behind the store"


async def _blocks_the_loop(seconds: float) -> str:
    await asyncio.sleep(0.05)  # the probe is asleep by now
    time.sleep(seconds)  # a synchronous step on the loop, as a store call made there used to be
    await asyncio.sleep(0.05)
    return "done"


def test_the_desk_lag_probe_sees_its_loop_blocked() -> None:
    probe = LagProbe(every_s=0.02)
    assert asyncio.run(probe.around(_blocks_the_loop(0.3))) == "done"
    assert probe.take_worst() >= 0.25
    assert probe.take_worst() == 0.0  # taken: the next scrape reports only what happened since


def test_the_desk_reports_its_own_loop_lag_in_metrics(tmp_path: Path) -> None:
    """``newsdesk_desk_loop_lag_seconds`` is the desk's cycle loop (where the polls run), beside the
    API server's ``newsdesk_event_loop_lag_seconds``; a cycle of two sources leaves it small."""
    routes = {f"/f{n}.xml": Reply(body=_feed(n), content_type="application/rss+xml") for n in (1, 2)}
    with LoopbackServer(routes) as server:
        env = quiet_env(tmp_path / "data", NEWSDESK_FETCH_PAGES="0")
        nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
        for n in (1, 2):
            nd.sources.add(Source(url=server.url(f"/f{n}.xml"), allow_loopback=True))
        desk = Desk(nd, OutputTargets(), check_s=60.0)
        desk.loop_lag.every_s = 0.001  # so that even a short cycle is sampled
        with TestClient(create_app(nd, include_web=False, desk=desk)) as client:
            deadline = time.monotonic() + 60
            while desk.status.cycles < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            first, second = (_gauge(client.get("/metrics").text) for _ in range(2))
        nd.close()
    assert desk.status.cycles == 1 and desk.status.totals["new"] == 2
    assert 0.0 < first < MAX_LAG_S  # the probe ran on the cycle's loop, which nothing blocked
    assert second == 0.0


def _feed(n: int) -> bytes:
    item = f"<item><title>Story {n}</title><link>http://f{n}.example/a/{n}</link></item>"
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{n}</title>{item}</channel></rss>'.encode()
    )


def _gauge(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("newsdesk_desk_loop_lag_seconds "))
    return float(line.rsplit(" ", 1)[1])
