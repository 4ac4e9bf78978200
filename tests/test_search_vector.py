"""PostgreSQL's full-text search ranks a stored tsvector, not one parsed again per match (migration 0017).

Ranking from the expression index re-parsed every matching article's text — twice per match (recheck
and ``ts_rank``): about a second of PostgreSQL's CPU for one common word at 100k articles
(docs/benchmarks.md, "PostgreSQL (2026-12-07, h1)"). These run on PostgreSQL only (SQLite's FTS5 is
its own index) and skip without NEWSDESK_TEST_POSTGRES_URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text

from newsdesk.model import Article, Provider
from newsdesk.store import Store
from newsdesk.store.search import among_ids, search_ids

WHEN = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _article(n: int, title: str) -> Article:
    url = f"https://example.com/a/{n}"
    return Article(
        title=title, excerpt="An excerpt.", web_url=url, original_url=url,
        provider=Provider("Example", "example.com"), published_at=WHEN,
    )  # fmt: skip


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_search_reads_the_stored_vector_and_never_parses_the_text(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        ids = [
            store.save_article(_article(n, title)).id
            for n, title in enumerate(("Oil prices climb", "Oilfield sale", "Bank news"))
        ]
        seen = _statements(store)
        with store.engine.connect() as c:
            ranked = search_ids(c, "oil", 10)
            among = among_ids(c, "oil", ids)
        assert {i for i, _ in ranked} == set(ids[:2]) == among  # "oil" is a prefix: Oilfield too
        assert seen and not any("to_tsvector" in s for s in seen)
        with store.engine.connect() as c:
            c.exec_driver_sql("SET enable_seqscan = off")  # three rows: make the planner show its index
            plan = "\n".join(
                row[0]
                for row in c.exec_driver_sql(
                    "EXPLAIN " + seen[0].replace("%(q)s", "'oil:*'").replace("%(n)s", "10")
                )
            )
        assert "ix_articles_search_vector" in plan and "to_tsvector" not in plan
    finally:
        store.close()


def test_the_stored_vector_follows_every_write_of_the_text(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        article_id = store.save_article(_article(1, "Harbour reopens")).id
        with store.engine.begin() as c:
            c.execute(
                text("UPDATE articles SET search_text = 'zebra crossing' WHERE id = :i"), {"i": article_id}
            )
        with store.engine.connect() as c:
            assert search_ids(c, "zebra", 5)[0][0] == article_id
            assert search_ids(c, "harbour", 5) == []
            index = c.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_articles_search_vector'"
            )
            assert "gin (search_vector)" in index.scalar_one()
            assert c.exec_driver_sql("SELECT to_regclass('ix_articles_search')").scalar_one() is None
    finally:
        store.close()
