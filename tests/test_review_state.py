"""The editorial state has one truth: ``Article.review_state`` (a ``ReviewState``); ``published`` is its
projection in the domain model and a copy the store writes from it in one place (``rows.review_columns``).
Real SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsdesk.errors import ValidationError
from newsdesk.model import Article, Provider, ReviewState
from newsdesk.record import dump_record, load_record
from newsdesk.store import ArticleQuery, Store
from newsdesk.store import tables as t


def make(n: int, **changes: object) -> Article:
    base = Article(
        f"Title {n}",
        f"https://a.example.com/{n}",
        f"https://a.example.com/{n}",
        Provider("A", "a.example.com"),
    )
    return base.replace(**changes)


def columns(store: Store, article_id: int) -> tuple[str, bool]:
    query = select(t.articles.c.review_state, t.articles.c.published).where(t.articles.c.id == article_id)
    with store.engine.connect() as c:
        state, published = c.execute(query).one()
    return state, published


def test_an_unknown_state_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match="one of pending, published, rejected, got 'live'"):
        make(1, review_state="live")


def test_published_follows_the_state() -> None:
    published = make(1, published=True)  # a record file says only ``published: true``
    assert published.review_state is ReviewState.PUBLISHED
    rejected = published.replace(review_state=ReviewState.REJECTED)  # the old flag is copied along
    assert rejected.published is False and rejected.review_state is ReviewState.REJECTED
    assert make(2, review_state="published").published is True
    assert make(3).review_state is ReviewState.PENDING and not make(3).published


def test_a_record_round_trip_keeps_the_state() -> None:
    article = make(1, review_state=ReviewState.PUBLISHED)
    loaded = load_record(dump_record(article))
    assert loaded.published and loaded.review_state is ReviewState.PUBLISHED


def test_the_store_writes_both_columns_from_the_state(store: Store) -> None:
    first = store.save_article(make(1, published=True)).id
    second = store.save_article(make(2)).id
    assert columns(store, first) == ("published", True)
    assert columns(store, second) == ("pending", False)
    assert store.set_review_state(second, ReviewState.REJECTED, expect=ReviewState.PENDING)
    assert columns(store, second) == ("rejected", False)
    assert store.set_review_state(first, ReviewState.REJECTED)
    assert columns(store, first) == ("rejected", False)
    back = store.get_article(first)
    assert back.review_state is ReviewState.REJECTED and back.published is False
    pending = store.list_articles(ArticleQuery(review_state=ReviewState.REJECTED)).items
    assert sorted(a.id for a in pending if a.id is not None) == sorted([first, second])
