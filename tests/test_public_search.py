"""The public's text search ranks the published matches only, on SQLite and PostgreSQL.

Before, every match was ranked and the unpublished ones dropped afterwards, reading the ranking deeper
(120, 480, then at most 1,000) until a page was full: while the desk ingests, that was up to 130 ms a
word on PostgreSQL for matches the public never sees, and a word with more than 1,000 better-scored
unpublished matches gave the public an empty page though published ones matched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from newsdesk.app import Newsdesk
from newsdesk.catalog import MAX_RANK_DEPTH, Audience
from newsdesk.model import Article
from newsdesk.store import Store
from tests.test_api import article as numbered
from tests.test_api import make_desk


def article(n: int, **changes: str) -> Article:
    return numbered(n, quality=50, heat=1, **changes)


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url)
    yield nd
    nd.close()


def test_the_published_ranking_is_the_full_ranking_less_the_unpublished(store: Store) -> None:
    titles = ["Harbour crane strike", "Harbour strike talks", "Strike", "Harbour strike strike strike"]
    ids = [store.save_article(article(n, title=t, excerpt="")).id for n, t in enumerate(titles * 3, 1)]
    for article_id in ids[1::2]:
        store.set_review_state(article_id, "published")
    full = store.search_ranking("strike", limit=50)
    public = store.search_ranking("strike", limit=50, published_only=True)
    assert sorted(i for i, _ in full) == sorted(ids)  # editors still rank every match
    assert public == [(i, score) for i, score in full if i in set(ids[1::2])]  # same order, same scores
    assert store.search_ranking("strike", limit=2, published_only=True) == public[:2]
    assert store.search_ranking("harbour strike", limit=50, published_only=True) == [
        (i, s) for i, s in store.search_ranking("harbour strike", limit=50) if i in set(ids[1::2])
    ]


def test_published_matches_below_a_thousand_unpublished_ones_still_reach_the_public(desk: Newsdesk) -> None:
    store = desk.store
    hidden = [
        article(n, title="Pipeline pipeline pipeline", excerpt="Pipeline.")
        for n in range(MAX_RANK_DEPTH + 10)
    ]
    assert store.insert_new_articles(hidden) is not None
    long_title = "A long report on many matters of the week, among them a pipeline"
    shown = [store.save_article(article(5_000 + n, title=f"{long_title} {n}")).id for n in range(3)]
    for article_id in shown:
        store.set_review_state(article_id, "published")
    hits = desk.catalog.search("pipeline", "text", 5, Audience.PUBLIC)
    assert sorted(h.article.id for h in hits) == sorted(shown)
    assert all(h.article.published for h in hits)
    trusted = desk.catalog.search("pipeline", "text", 5, Audience.TRUSTED)
    assert len(trusted) == 5 and not any(h.article.published for h in trusted)  # better scored, unpublished


def test_postgres_ranks_the_public_search_from_the_published_index(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        ids = store.insert_new_articles([article(n, title=f"Grain harvest {n}") for n in range(3)])
        assert ids and store.insert_new_articles([article(n) for n in range(10, 400)])
        with store.engine.begin() as c:  # half the store published, as a live one might be
            c.exec_driver_sql("UPDATE articles SET published = true WHERE id %% 2 = 0 OR id = %s", (ids[0],))
            c.exec_driver_sql("ANALYZE articles")
        seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert [i for i, _ in store.search_ranking("grain", limit=5, published_only=True)] == [
            i for i in sorted(ids, reverse=True) if i % 2 == 0 or i == ids[0]
        ]
        with store.engine.connect() as c:
            sql = next(s for s in seen if "ts_rank" in s).replace("%(q)s", "'grain:*'").replace("%(n)s", "5")
            plan = "\n".join(row[0] for row in c.exec_driver_sql("EXPLAIN " + sql))
        assert "ix_articles_search_vector_published" in plan, plan
    finally:
        store.close()
