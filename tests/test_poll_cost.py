"""A poll cycle costs in proportion to what changed (issue 13): a cycle that finds nothing new does no
enrichment, sealing, rules or alerts, and its SQL does not grow with the articles stored — counted with
SQLAlchemy's ``before_cursor_execute`` over a real store of thousands of articles, on SQLite (whose
query plans are checked for scans of the articles table) and PostgreSQL."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Provider, Source
from newsdesk.stages import RunSummary
from newsdesk.store import Store, make_engine, rows
from newsdesk.store import tables as t
from newsdesk.store.migrate import upgrade
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen, rss_with_content

FEEDS = 4
SEEDED = 2_000  # articles added between two no-change cycles
RSS = "application/rss+xml"
PARTIAL_INDEXES = ("ix_articles_unenriched", "ix_articles_clear_text")


class Feeds:
    """``FEEDS`` feeds of two items each; ``validators`` on: an ETag, and 304 when it is sent back."""

    def __init__(self) -> None:
        self.validators = True
        self.extra: dict[int, list[str]] = {}
        self.lock = threading.Lock()

    def reply(self, seen: Seen, base: str) -> Reply:
        n = int(seen.path.removeprefix("/f").removesuffix(".xml"))
        with self.lock:
            slugs = [f"{n}-a", f"{n}-b", *self.extra.get(n, [])]
        items = "".join(
            f"<item><title>Story {s}</title><link>{base}/a/{s}</link><description>Brief {s}.</description></item>"
            for s in slugs
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{n}</title>{items}</channel></rss>'
        tag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if not self.validators:
            return Reply(body=body.encode(), content_type=RSS)
        if seen.headers.get("if-none-match") == tag:
            return Reply(status=304, content_type=None, headers={"ETag": tag})
        return Reply(body=body.encode(), content_type=RSS, headers={"ETag": tag})


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def seed(nd: Newsdesk, count: int, start: int) -> None:
    """Articles stored and finished by earlier runs: the later stages have seen them."""
    insert_articles(nd.store.engine, count, start)
    with nd.store.engine.connect() as c:
        nd.store.mark_finished_through(int(c.execute(select(func.max(t.articles.c.id))).scalar_one()))


def insert_articles(engine: Engine, count: int, start: int) -> None:
    """``count`` articles in one transaction, as bench/api.py seeds (a save per article takes minutes)."""
    at = datetime.now(UTC)
    values = []
    for n in range(start, start + count):
        article = Article(f"Seeded {n}", f"https://seed.example/{n}", f"https://seed.example/{n}",
                          Provider("Seed", "seed.example"), text=f"Body {n}.")  # fmt: skip
        values.append(
            rows.article_row(article, full_text_index=False)
            | {
                "first_seen_at": at,
                "updated_at": at,
                "sort_at": at,
                "published": False,
                "review_state": "pending",
            }
        )
    with engine.begin() as c:
        c.execute(insert(t.articles), values)


def cycle(nd: Newsdesk) -> tuple[RunSummary, list[str]]:
    """Every source polled once (as the desk does when they are due), and the SQL it took."""
    sources = nd.sources.list()
    with statements(nd.store.engine) as sql:
        summary = nd.run(sources=sources)
    return summary, sql


def scans_of_articles(nd: Newsdesk, sql: list[str]) -> list[str]:
    """The SELECTs whose SQLite plan walks the whole articles table or one of its full indexes (the
    query that handed every unenriched article to the later stages did)."""
    found = []
    with nd.store.engine.connect() as c:
        for statement in {s for s in sql if s.lstrip().upper().startswith("SELECT")}:
            params = [None] * statement.count("?")
            plan = c.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(params)).all()
            if any(_walks_all_articles(str(row[-1])) for row in plan):
                found.append(statement)
    return found


def _walks_all_articles(step: str) -> bool:
    """A plan step reading every article; a partial index holds only the pending ones and may be walked."""
    return step.startswith("SCAN articles") and not any(name in step for name in PARTIAL_INDEXES)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("postgres_url"))


def test_a_cycle_that_finds_nothing_new_costs_the_same_over_a_bigger_store(
    tmp_path: Path, database: str
) -> None:
    feeds = Feeds()
    with LoopbackServer() as server:
        for n in range(FEEDS):
            server.route(f"/f{n}.xml", lambda seen: feeds.reply(seen, server.base_url))
        env = quiet_env(tmp_path / "data", database, NEWSDESK_WORKERS="1", NEWSDESK_FETCH_PAGES="0")
        with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
            for n in range(FEEDS):
                nd.sources.add(Source(url=server.url(f"/f{n}.xml"), allow_loopback=True))
            workers = {p.pid for p in multiprocessing.active_children()}
            first = nd.run()
            assert (first.new, dict(first.errors)) == (2 * FEEDS, {})
            started = {p.pid for p in multiprocessing.active_children()} - workers
            assert started == set()  # small feeds parse here and no page is fetched: no worker process
            assert "rules_s" in first.stages  # new articles: the later stages ran

            seed(nd, SEEDED, 0)
            small, small_sql = cycle(nd)
            seed(nd, SEEDED, SEEDED)
            big, big_sql = cycle(nd)
            for summary in (small, big):
                assert (summary.unchanged, summary.new, dict(summary.errors)) == (FEEDS, 0, {})
                assert not any(
                    k.endswith("_s") and k not in ("ingest_s", "duration_s") for k in summary.stages
                )
            assert len(big_sql) == len(small_sql), "the no-change cycle's SQL grew with the articles"
            assert len(big_sql) <= 12, big_sql  # the health rows are one batch, not a transaction each
            if nd.store.dialect == "sqlite":
                assert scans_of_articles(nd, big_sql) == []

            feeds.validators = False  # 200s with the very bytes parsed before: nothing is parsed
            same, same_sql = cycle(nd)
            assert (same.same_body, same.entries, same.new) == (FEEDS, 0, 0)
            assert len(same_sql) == len(big_sql)

            feeds.extra[1] = ["1-c"]  # one new item: the later stages see that article only
            changed, changed_sql = cycle(nd)
            assert (changed.same_body, changed.new, changed.entries, changed.alternates) == (
                FEEDS - 1,
                1,
                3,
                0,
            )
            article_look_ups = [s for s in changed_sql if " AS rank" in s]  # Store.find_article
            # none: the two known entries are their own articles, and the poll's one look-up of its URLs
            # found the new entry's absent, so it is inserted without a second look
            assert article_look_ups == []
            assert "rules_s" in changed.stages
            assert nd.store.pending_ids(unenriched=False) == []


def test_a_feed_whose_entry_failed_is_parsed_again_though_its_bytes_are_the_same(tmp_path: Path) -> None:
    """The body hash is kept only when every entry was taken: an entry whose page failed is retried."""
    with LoopbackServer({"/a/ok": Reply(body=b"<html><body><p>Fine.</p></body></html>")}) as server:
        items = "".join(
            f"<item><title>Story {s}</title><link>{server.url('/a/' + s)}</link></item>"
            for s in ("ok", "gone")
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'
        server.route("/f.xml", Reply(body=body.encode(), content_type=RSS))
        env = quiet_env(tmp_path / "data", NEWSDESK_WORKERS="1")
        with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
            source = nd.sources.add(Source(url=server.url("/f.xml"), allow_loopback=True))
            first = nd.run()
            assert "http-404" in first.errors
            assert nd.store.get_source(source.url).health.body_hash is None
            again = nd.run(sources=nd.sources.list())
            assert (again.same_body, again.entries) == (0, 2)


def test_the_upgrade_marks_every_stored_article_as_seen_by_the_later_stages(tmp_path: Path) -> None:
    """Before the mark, each run handed every unenriched article to rules and alerts again; after the
    upgrade those articles are not new work, and an article stored later is."""
    engine = make_engine(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    try:
        upgrade(engine, "0011")
        insert_articles(engine, 5, 0)
        upgrade(engine)
    finally:
        engine.dispose()
    store = Store.open(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    try:
        assert store.pending_ids(unenriched=False) == []
        insert_articles(store.engine, 1, 5)
        assert len(store.pending_ids(unenriched=False)) == 1
    finally:
        store.close()


def test_a_feed_only_first_poll_inserts_in_one_batch_and_still_folds_copies(
    tmp_path: Path, database: str
) -> None:
    """A feed-only poll inserts its new entries in one transaction; an entry with the text of another
    (in the same batch or stored before) makes the batch fall back to one by one, and it becomes an
    alternate as it always did. Two feeds listing one URL give one article."""
    same = "The central bank kept its rates unchanged and said inflation was easing. " * 4
    other = "A new payments network opened across the region on Monday, linking forty banks. " * 4
    third = "Regulators published draft rules for AI models used in lending decisions today. " * 4
    with LoopbackServer() as server:
        base = server.base_url
        server.route(
            "/f0.xml",
            Reply(body=rss_with_content(base, [("x", same), ("y", same), ("z", other)]), content_type=RSS),
        )
        server.route(
            "/f1.xml", Reply(body=rss_with_content(base, [("x", same), ("w", third)]), content_type=RSS)
        )
        server.route("/f2.xml", Reply(body=rss_with_content(base, [("v", other)]), content_type=RSS))
        env = quiet_env(tmp_path / "data", database, NEWSDESK_WORKERS="1", NEWSDESK_FETCH_PAGES="0")
        with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
            for n in range(2):
                nd.sources.add(Source(url=server.url(f"/f{n}.xml"), allow_loopback=True))
            first = nd.run()
            assert (first.new, dict(first.errors)) == (3, {})  # x, z, w; y is x's text
            nd.sources.add(Source(url=server.url("/f2.xml"), allow_loopback=True))
            second = nd.run()  # v has z's text, stored in the first run
            assert (second.new, dict(second.errors)) == (0, {})
            with nd.store.engine.connect() as c:
                rows_ = c.execute(select(t.articles.c.canonical_url, t.articles.c.id)).all()
            stored = {url.rsplit("/", 1)[1]: int(article_id) for url, article_id in rows_}
            assert sorted(stored) == ["w", "x", "z"]
            copies = {
                (key, alt.url.rsplit("/", 1)[1], alt.reason)
                for key, article_id in stored.items()
                for alt in nd.store.alternates(article_id)
            }
            assert ("x", "y", "same-content") in copies and ("z", "v", "same-content") in copies
