"""Feed-only polls share the writer thread: the polls that reach it while it is busy are written in one
call and one transaction, and a conflict anywhere in such a batch still leaves each feed all or nothing
(its articles inserted together, or each through the look-ups that fold copies)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.decider import FeedContext
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import Ingestor, _Take, _Takes, fetch_policy
from newsdesk.model import Source
from newsdesk.sources.feeds import parse_feed
from newsdesk.store import tables as t
from tests.conftest import quiet_env
from tests.httpserver import rss_with_content

SAME = "The central bank kept its rates unchanged and said inflation was easing. " * 4


def _texts(n: int) -> str:
    return f"Report number {n} on the regional economy, with figures for each of its sectors. " * 4


def test_polls_queued_while_the_writer_is_busy_are_written_in_one_call() -> None:
    """Three polls arriving while the writer thread is busy reach it in one call, in their order."""
    writer = ThreadPoolExecutor(1)
    busy, calls = threading.Event(), list[list[str]]()
    takes = _Takes(writer, lambda batch: calls.append([take.source.url for take in batch]))

    async def main() -> None:
        writer.submit(busy.wait)  # the writer is busy with an earlier write
        polls = [
            asyncio.ensure_future(
                takes.take(_Take(Source(url=f"http://f{n}.example/"), [], FeedContext(), {}))
            )
            for n in range(3)
        ]
        await asyncio.sleep(0.05)
        assert not any(poll.done() for poll in polls)
        busy.set()
        await asyncio.gather(*polls)

    asyncio.run(main())
    writer.shutdown()
    assert calls == [["http://f0.example/", "http://f1.example/", "http://f2.example/"]]


def test_a_failed_batch_write_fails_each_of_its_polls() -> None:
    def refuse(batch: Sequence[_Take]) -> None:
        raise RuntimeError("disk full")

    writer = ThreadPoolExecutor(1)
    takes = _Takes(writer, refuse)

    async def main() -> list[Any]:
        polls = [
            takes.take(_Take(Source(url=f"http://f{n}.example/"), [], FeedContext(), {})) for n in range(2)
        ]
        return await asyncio.gather(*polls, return_exceptions=True)

    outcomes = asyncio.run(main())
    writer.shutdown()
    assert [str(o) for o in outcomes] == ["disk full", "disk full"]


def _takes(nd: Newsdesk, feeds: Sequence[Sequence[tuple[str, str]]]) -> list[_Take]:
    out = []
    for n, items in enumerate(feeds):
        source = nd.sources.add(Source(url=f"http://f{n}.example/feed.xml"))
        parsed = parse_feed(rss_with_content(f"http://f{n}.example", items), source.url)
        urls = {e.url: e.url for e in parsed.entries}
        out.append(_Take(source, list(parsed.entries), FeedContext(parsed.title, None), urls))
    return out


def _write(nd: Newsdesk, takes: list[_Take]) -> tuple[Ingestor, int]:
    """``takes`` written as one batch by a run's ingestor; how many transactions it committed."""
    commits: list[int] = []

    def record(_conn: Any) -> None:
        commits.append(1)

    fetcher = Fetcher(fetch_policy(nd.settings))  # not used: the batch is written, nothing fetched
    ingestor = Ingestor(nd.settings, nd.store, fetcher, ThreadPoolExecutor(1))
    event.listen(nd.store.engine, "commit", record)
    try:
        ingestor._take_together(takes)
    finally:
        event.remove(nd.store.engine, "commit", record)
        asyncio.run(fetcher.aclose())
    return ingestor, len(commits)


def test_several_feeds_new_articles_go_in_one_insert(tmp_path: Path) -> None:
    env = quiet_env(tmp_path / "data", NEWSDESK_FETCH_PAGES="0")
    with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
        nd.init()
        takes = _takes(nd, [[("a", _texts(1)), ("b", _texts(2))], [("c", _texts(3))], [("d", _texts(4))]])
        ingestor, commits = _write(nd, takes)
        assert (ingestor.summary.new, commits) == (4, 1)
        with nd.store.engine.connect() as c:
            owners = dict(c.execute(select(t.articles.c.canonical_url, t.articles.c.source_id)).all())
    assert owners == {
        f"http://f{n}.example/a/{s}": takes[n].source.id for n, s in ((0, "a"), (0, "b"), (1, "c"), (2, "d"))
    }


def test_a_copy_in_one_feed_leaves_the_others_batched_and_becomes_an_alternate(tmp_path: Path) -> None:
    """The second feed repeats the first feed's text: the joint insert is withdrawn, the first and third
    feeds insert as their own batches, and the copy is folded into the first feed's article."""
    env = quiet_env(tmp_path / "data", NEWSDESK_FETCH_PAGES="0")
    with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
        nd.init()
        takes = _takes(nd, [[("a", SAME), ("b", _texts(2))], [("c", SAME)], [("d", _texts(4))]])
        ingestor, commits = _write(nd, takes)
        assert (ingestor.summary.new, ingestor.summary.alternates) == (3, 1)
        assert commits >= 3  # the first feed's batch, the third's, the copy's alternate
        with nd.store.engine.connect() as c:
            stored = {
                url.rsplit("/", 1)[1]: i
                for url, i in c.execute(select(t.articles.c.canonical_url, t.articles.c.id))
            }
        assert sorted(stored) == ["a", "b", "d"]
        copies = [(alt.url, alt.reason) for alt in nd.store.alternates(stored["a"])]
    assert copies == [("http://f1.example/a/c", "same-content")]
