"""The ingest loop never stalls on the store (issue 13, item 3): while another process holds SQLite's
write lock, the run's saves wait on the writer thread and the event loop keeps serving its other tasks
(in the desk: the fetches of the other sources, whose connect timeouts a stalled loop used to trip)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import Ingestor, fetch_policy
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
