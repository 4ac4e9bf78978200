"""The heat step over stored stories (``newsdesk.storyheat``), on SQLite and PostgreSQL.

Heat reads its stories a chunk at a time, bounded by their articles, so that a few big stories never
put a whole large run in memory; the outcome must not depend on the chunks. Stories of several sizes
(one bigger than a chunk, one without articles, one quiet and cold) are scored in chunks of three
articles and in one chunk, in two stores filled the same way, and must come out the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from newsdesk import storyheat
from newsdesk.enrich import heat
from newsdesk.model import UNSCORED, Article, Provider, Story, held_clock, utc
from newsdesk.store import Store
from newsdesk.store import tables as t
from newsdesk.storyheat import StoryHeat, _packed

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIZES = (5, 1, 0, 2, 1)  # articles per story; the first is bigger than a chunk of MEMBERS = 3


def fill(store: Store) -> list[int]:
    """Stories of SIZES articles from several providers over the last day; the last story is cold
    (a week old, heat 0) and must stay as it is unless touched."""
    story_ids, n = [], 0
    for s, size in enumerate(SIZES):
        cold = s == len(SIZES) - 1
        at = NOW - timedelta(days=7 if cold else 0, hours=s)
        story_id = store.create_story(
            Story(None, f"Story {s}", at, at, size, (), 0 if cold else -1), None, {}
        )
        story_ids.append(story_id)
        for k in range(size):
            n += 1
            when = at - timedelta(hours=k)
            provider = Provider(f"P{n % 3}", f"p{n % 3}.example")
            topics = ("AI",) if s == 0 else ()
            article = Article(f"A {n}", f"https://p.example/{n}", f"https://p.example/{n}", provider)
            saved = store.save_article(
                article.replace(published_at=when, topics=topics, story_id=story_id, heat=0 if cold else -1)
            )
            assert saved.id is not None
    return story_ids


def scored(store: Store, story_ids: list[int], touched: set[int]) -> dict[str, Any]:
    with held_clock(NOW):
        StoryHeat(store, {"AI": 24.0}, 6.0).rescore(touched)
    members = store.articles_of_stories(story_ids)
    return {
        "stories": [store.get_story(i).heat for i in story_ids],
        "articles": {a.web_url: (a.heat, a.heat_reasons) for found in members.values() for a in found},
    }


def test_heat_in_small_chunks_is_heat_in_one(
    store: Store, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_chunk = fill(sqlite_store)
    whole = scored(sqlite_store, one_chunk, set(one_chunk[:-1]))
    story_ids = fill(store)
    monkeypatch.setattr(storyheat, "MEMBERS", 3)
    monkeypatch.setattr(storyheat, "STORIES", 2)
    chunked = scored(store, story_ids, set(story_ids[:-1]))
    assert chunked == whole
    hottest, one, empty, two, cold = whole["stories"]
    assert hottest == heat.HOTTEST_HEAT and 0 < one < two < hottest  # a slow beat: relative to the hottest
    assert empty == UNSCORED and cold == 0  # no articles; cold and untouched, it stays at 0
    assert sorted(heat for heat, _ in whole["articles"].values()) == [0] + [one] + [two] * 2 + [hottest] * 5


def test_only_articles_whose_heat_changes_are_written(store: Store) -> None:
    story_ids = fill(store)
    first = scored(store, story_ids, set(story_ids))
    with store.engine.begin() as c:  # a mark a rewrite of the row would move
        c.execute(update(t.articles).values(updated_at=NOW - timedelta(days=30)))
    assert scored(store, story_ids, set()) == first  # untouched, same clock: the same heat
    with store.engine.connect() as c:
        stamps = {at for (at,) in c.execute(select(t.articles.c.updated_at))}
    assert {utc(at) for at in stamps} == {NOW - timedelta(days=30)}
    a = t.articles
    with store.engine.begin() as c:  # reasons lost, heat kept: in a touched story and in another
        c.execute(update(a).where(a.c.story_id.in_(story_ids[:2])).values(heat_reasons=[]))
    again = scored(store, story_ids, set(story_ids[:1]))  # the touched story's reasons come back
    assert again["stories"] == first["stories"]
    assert {url: h for url, (h, _) in again["articles"].items()} == {
        url: h for url, (h, _) in first["articles"].items()
    }
    with store.engine.connect() as c:
        query = select(a.c.story_id, a.c.updated_at, a.c.heat_reasons)
        found = [(story_id, utc(at), reasons) for story_id, at, reasons in c.execute(query)]
    assert {story_id for story_id, at, _ in found if at == NOW} == {story_ids[0]}
    assert {story_id for story_id, _, reasons in found if not reasons} == {story_ids[1]}


def test_chunks_keep_the_order_and_the_bounds() -> None:
    sizes = {1: 2, 2: 2, 3: 9, 4: 1, 5: 0, 6: 3, 7: 1}
    asked: list[list[int]] = []

    def counts(ids: list[int]) -> dict[int, int]:
        asked.append(list(ids))
        return {i: sizes[i] for i in ids if sizes[i]}

    chunks = list(_packed(sorted(sizes), counts, 4, 3))
    assert chunks == [[1, 2], [3], [4, 5, 6], [7]]
    assert asked == [[1, 2, 3], [4, 5, 6], [7]]
    assert list(_packed([], counts, 4, 3)) == []
