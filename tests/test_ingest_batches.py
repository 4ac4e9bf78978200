"""Fetched pages' new articles are held on the writer thread and inserted :data:`PAGE_BATCH` at a time,
with the same outcome as a save each: every page stored once, in the order decided, exact copies (by
canonical URL or by text, within a batch or against the store) kept as alternates. Real pages over
loopback HTTP, a real run's ingestor, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import PAGE_BATCH, Ingestor, fetch_policy
from newsdesk.model import Source
from newsdesk.store import tables as t
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply


def _page(title: str, text: str) -> Reply:
    html = f"<html><head><title>{title}</title></head><body><article><p>{text}</p></article></body></html>"
    return Reply(200, html.encode(), "text/html; charset=utf-8")


def _text(n: int) -> str:
    return f"Story {n} reports on a separate council decision with its own figures and quotes. " * 8


def _feed(server: LoopbackServer, path: str, links: Sequence[str]) -> str:
    """Serve an RSS feed at ``path`` listing ``links`` (paths on ``server``); its URL."""
    items = "".join(
        f"<item><title>Item {n}</title><link>{server.url(p)}</link></item>" for n, p in enumerate(links)
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
    server.route(path, Reply(200, feed.encode(), "application/rss+xml"))
    return server.url(path)


@contextmanager
def _desk(tmp_path: Path, store_url: str) -> Iterator[Newsdesk]:
    settings = load_settings(env=quiet_env(tmp_path / "data", store_url), base_dir=tmp_path)
    with Newsdesk(settings) as nd:
        nd.init()
        yield nd


def _ingest(nd: Newsdesk, feeds: Sequence[str]) -> Ingestor:
    """One run's ingest stage over ``feeds`` (added as sources), pages extracted on a thread."""
    sources = [nd.sources.add(Source(url, allow_loopback=True)) for url in feeds]
    fetcher = Fetcher(fetch_policy(nd.settings))
    ingestor = Ingestor(nd.settings, nd.store, fetcher, ThreadPoolExecutor(1))

    async def main() -> None:
        try:
            await ingestor.run(sources)
        finally:
            await fetcher.aclose()

    asyncio.run(main())
    return ingestor


def _noted(nd: Newsdesk, after: int = 0) -> list[list[int]]:
    """The articles each committed transaction past stamp ``after`` said it touched (change log)."""
    query = select(t.change_log.c.articles).where(t.change_log.c.seq > after).order_by(t.change_log.c.seq)
    with nd.store.engine.connect() as c:
        return [[int(i) for i in text.split(",")] for text in c.execute(query).scalars() if text]


def _stamp(nd: Newsdesk) -> int:
    with nd.store.engine.connect() as c:
        return int(c.execute(select(t.change_stamp.c.seq)).scalar_one())


def test_more_pages_than_a_batch_are_all_stored_in_two_transactions(tmp_path: Path, store_url: str) -> None:
    """``PAGE_BATCH + 8`` pages of one feed: a full batch, then the rest once the poll has handed over
    its entries; a save each was a transaction each. The ids follow the order of the decisions."""
    count = PAGE_BATCH + 8
    paths = [f"/news/{n}" for n in range(count)]
    routes = {p: _page(f"Story {n}", _text(n)) for n, p in enumerate(paths)}
    with LoopbackServer(routes) as server, _desk(tmp_path, store_url) as nd:
        ingestor = _ingest(nd, [_feed(server, "/feed.xml", paths)])
        assert (ingestor.summary.new, ingestor.summary.alternates) == (count, 0)
        assert ingestor.new_ids == sorted(ingestor.new_ids)
        assert {a.web_url for a in nd.store.iter_articles()} == {server.url(p) for p in paths}
        assert [len(ids) for ids in _noted(nd)] == [PAGE_BATCH, count - PAGE_BATCH]
        assert sorted(i for ids in _noted(nd) for i in ids) == sorted(ingestor.new_ids)


def test_two_pages_with_one_text_in_a_batch_are_one_article_and_its_alternate(
    tmp_path: Path, store_url: str
) -> None:
    """The copy meets the held original: the batch is written first, the copy becomes its same-content
    alternate, and the batch's other pages are stored."""
    routes = {f"/news/{n}": _page(f"Story {n}", _text(n)) for n in range(4)}
    routes["/copy"] = _page("Story 1", _text(1))
    with LoopbackServer(routes) as server, _desk(tmp_path, store_url) as nd:
        ingestor = _ingest(nd, [_feed(server, "/feed.xml", list(routes))])
        assert (ingestor.summary.new, ingestor.summary.alternates) == (4, 1)
        article = nd.store.find_article(server.url("/copy"))
        assert article is not None and article.id is not None
        assert article.id == nd.store.find_article(server.url("/news/1")).id  # type: ignore[union-attr]
        (alternate,) = nd.store.alternates(article.id)
        assert alternate.reason == "same-content"
        assert {alternate.url, article.web_url} == {server.url("/copy"), server.url("/news/1")}
        assert nd.store.count_articles() == 4


def test_two_feeds_linking_one_page_give_one_article_and_a_same_url_alternate(
    tmp_path: Path, store_url: str
) -> None:
    """The second sighting of a URL (held or stored by then) is a same-url alternate under its source."""
    routes = {f"/news/{n}": _page(f"Story {n}", _text(n)) for n in range(3)}
    with LoopbackServer(routes) as server, _desk(tmp_path, store_url) as nd:
        feeds = [
            _feed(server, "/a.xml", ["/news/0", "/news/1"]),
            _feed(server, "/b.xml", ["/news/2", "/news/1"]),
        ]
        ingestor = _ingest(nd, feeds)
        assert (ingestor.summary.new, ingestor.summary.alternates) == (3, 1)
        article = nd.store.find_article(server.url("/news/1"))
        assert article is not None and article.id is not None
        (alternate,) = nd.store.alternates(article.id)
        assert (alternate.url, alternate.reason) == (server.url("/news/1"), "same-url")
        owners = {s.url: s.id for s in nd.sources.list()}
        assert {alternate.source_id, article.source_id} == set(owners.values())


def test_a_page_whose_text_is_stored_becomes_its_alternate_and_the_batch_is_stored(
    tmp_path: Path, store_url: str
) -> None:
    routes = {f"/news/{n}": _page(f"Story {n}", _text(n)) for n in range(5)}
    routes["/old"] = _page("Story 2", _text(2))
    with LoopbackServer(routes) as server, _desk(tmp_path, store_url) as nd:
        first = _ingest(nd, [_feed(server, "/old.xml", ["/old"])])
        assert first.summary.new == 1
        stamp = _stamp(nd)
        ingestor = _ingest(nd, [_feed(server, "/feed.xml", [f"/news/{n}" for n in range(5)])])
        assert (ingestor.summary.new, ingestor.summary.alternates) == (4, 1)
        old = nd.store.find_article(server.url("/old"))
        assert old is not None and old.id is not None and old.id not in ingestor.new_ids
        assert [(a.url, a.reason) for a in nd.store.alternates(old.id)] == [
            (server.url("/news/2"), "same-content")
        ]
        assert nd.store.count_articles() == 5
        written = _noted(nd, stamp)  # the alternate at once, the four new pages together
        assert sorted(len(ids) for ids in written) == [1, 4]
