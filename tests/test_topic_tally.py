"""Topic counts kept from the change log (newsdesk/tally.py) stay exactly a full recount's, on SQLite and
PostgreSQL, through new articles, publishing, unpublishing, topic changes and deletes; and while the
desk only adds articles, no change makes a server process count every topic row again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience
from newsdesk.model import Article
from newsdesk.store import Store
from tests.test_api import article as numbered
from tests.test_api import make_desk


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url)
    yield nd
    nd.close()


@pytest.fixture
def recount(store_url: str) -> Iterator[Store]:
    """A store of its own for the full recounts the tallies are compared with (its statements are not
    the desk's)."""
    opened = Store.open(store_url)
    yield opened
    opened.close()


def article(n: int, topics: tuple[str, ...], **changes: Any) -> Article:
    return numbered(n, quality=50, heat=1, topics=topics, **changes)


def _recounts(desk: Newsdesk) -> list[str]:
    """The full counts' statements (GROUP BY topic) run from now on."""
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "GROUP BY" in statement and "article_topics" in statement:
            seen.append(statement)

    event.listen(desk.store.engine, "before_cursor_execute", record)
    return seen


def _assert_exact(desk: Newsdesk, recount: Store) -> None:
    catalog = desk.catalog
    assert catalog.topic_counts(Audience.PUBLIC) == recount.topic_totals(published_only=True)
    assert catalog.topic_counts(Audience.TRUSTED) == recount.topic_totals()


def test_new_articles_are_followed_without_counting_again(desk: Newsdesk, recount: Store) -> None:
    store = desk.store
    old = [store.save_article(article(n, ("AI", "Markets"))).id for n in range(1, 4)]
    store.set_review_state(old[0], "published")
    _assert_exact(desk, recount)  # the one count
    recounts = _recounts(desk)
    new = store.save_article(article(10, ("AI",), review_state="published")).id
    _assert_exact(desk, recount)
    hidden = store.save_article(article(11, ("Payments",))).id
    _assert_exact(desk, recount)
    store.save_article(store.get_article(hidden).replace(topics=("Payments", "Fintech")))  # enriched later
    _assert_exact(desk, recount)
    store.set_review_state(hidden, "published")
    _assert_exact(desk, recount)
    store.set_review_state(new, "rejected")
    _assert_exact(desk, recount)
    store.save_article(store.get_article(hidden).replace(topics=("Markets",)))  # an editor retags it
    _assert_exact(desk, recount)
    store.delete_article(hidden)
    _assert_exact(desk, recount)
    assert store.insert_new_articles([article(n, ("AI",), review_state="published") for n in (20, 21)])
    _assert_exact(desk, recount)
    assert recounts == []  # followed: none of these counted again
    assert desk.catalog.topic_counts(Audience.PUBLIC) == {"AI": 3, "Markets": 1}


def test_a_change_to_an_article_counted_before_counts_again_and_stays_exact(
    desk: Newsdesk, recount: Store
) -> None:
    store = desk.store
    old = [store.save_article(article(n, ("AI", "Markets"))).id for n in range(1, 4)]
    _assert_exact(desk, recount)
    recounts = _recounts(desk)
    store.set_review_state(old[1], "published")  # counted as unpublished: its part is unknown
    _assert_exact(desk, recount)
    assert recounts  # counted again
    store.save_article(store.get_article(old[1]).replace(topics=("Payments",)))
    _assert_exact(desk, recount)
    store.set_review_state(old[1], "rejected")
    _assert_exact(desk, recount)
    store.delete_article(old[2])
    _assert_exact(desk, recount)
    assert desk.catalog.topic_counts(Audience.PUBLIC) == {}
