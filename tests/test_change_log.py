"""The change log (``store.base.log_change``, ``store.changes``): every move of the change stamp leaves
one row saying what the transaction touched, on SQLite and on PostgreSQL; every write path the store
has says it specifically; a write that says nothing is logged as "everything" (caught, and safe)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import numpy as np
from sqlalchemy import func, select, update

from newsdesk.model import Alternate, ReviewState, Story
from newsdesk.store import Store
from newsdesk.store import tables as t
from newsdesk.store.base import LOG_KEPT, MAX_NOTED, PRUNE_EVERY
from newsdesk.store.changes import EVERYTHING, ChangeSet
from tests.test_store import T0, make


def _seq(store: Store) -> int:
    return int(store.change_stamp()[0])


def _change(store: Store, write: Callable[[], object]) -> ChangeSet:
    """What the log says ``write`` touched (it must move the stamp)."""
    before = _seq(store)
    write()
    after = _seq(store)
    assert after > before, "the write did not move the stamp"
    return store.changes_between(before, after)


def _log_rows(store: Store) -> int:
    with store.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(t.change_log)).scalar_one())


def test_every_write_path_logs_what_it_touched(store: Store) -> None:
    """Each of the store's writing methods, one transaction each: the stamp moves by one per
    transaction, each leaves one row, and no row is "everything" (each path noted its ids)."""
    a = store.save_article(make(1)).id
    b = store.save_article(make(2)).id
    assert a is not None and b is not None
    story = Story(None, "AI supervision", T0, T0 + timedelta(hours=2), size=2, providers=("x.example",))
    sid = store.create_story(story, None, {})
    seen = Alternate("https://mirror.example/1", None, T0)
    c = store.save_article(make(3)).id
    assert c is not None
    reject = partial(
        store.decide, b, ReviewState.REJECTED, expect=ReviewState.PENDING, action="reject", actor="ana"
    )
    writes: list[tuple[str, Callable[[], object], set[int], set[int]]] = [
        ("new article", lambda: store.save_article(make(4)), set(), set()),
        ("batch", lambda: store.insert_new_articles([make(5), make(6)]), set(), set()),
        ("its topics", lambda: store.save_article(make(1, id=a, topics=("Markets",))), {a}, set()),
        ("a review", lambda: store.set_review_state(a, ReviewState.PUBLISHED), {a}, set()),
        ("a decision", reject, {b}, set()),
        ("a decision logged", lambda: store.record_decision(a, "note", "ana"), {a}, set()),
        ("story heat", lambda: store.update_story_heat(sid, 40), set(), {sid}),
        ("story", lambda: store.update_story(dataclasses.replace(story, id=sid), None, {}), set(), {sid}),
        ("story and members", lambda: store.save_story_heat(sid, 41, [], [a]), {a}, {sid}),
        ("related", lambda: store.set_related(a, [(b, 0.8)]), {a}, set()),
        ("enriched", lambda: store.mark_enriched(a), {a}, set()),
        ("signature", lambda: store.save_minhash(a, b"\x00" * 8), {a}, set()),
        ("names sketches", lambda: store.save_names([(a, b""), (c, b"")]), {a, c}, set()),
        ("sealed", lambda: store.update_secured(a, "x;y", "k1"), {a}, set()),
        ("alternate", lambda: store.add_alternate(a, seen), {a}, set()),
        ("fold", lambda: store.fold_article(c, a, []), {a, c}, set()),
        ("delete", lambda: store.delete_article(b), {b}, set()),
        ("vector", lambda: store.save_embedding(a, "m", np.ones(4, np.float32)), set(), set()),
    ]
    for name, write, articles, stories in writes:
        before, rows = _seq(store), _log_rows(store)
        write()
        assert _seq(store) == before + 1, name
        assert _log_rows(store) == rows + 1, name
        changes = store.changes_between(before, before + 1)
        assert not changes.everything, f"{name}: the write path noted nothing"
        assert articles <= changes.articles and stories <= changes.stories, name


def test_a_vector_write_names_its_articles_as_vectors_only(store: Store) -> None:
    """Only semantic search reads a vector: the row names it under ``vectors`` and touches no article,
    story or list; a batch past MAX_NOTED vectors says "everything"."""
    a, b = (store.save_article(make(n)).id or 0 for n in (1, 2))
    store.set_review_state(a, ReviewState.PUBLISHED)
    vectors = [(a, np.ones(4, np.float32)), (b, np.zeros(4, np.float32))]
    changes = _change(store, lambda: store.save_embeddings("m", vectors))
    assert changes == ChangeSet(vectors=frozenset({a, b}))
    replaced = _change(store, lambda: store.save_embedding(a, "m", np.full(4, 2, np.float32)))
    assert replaced == ChangeSet(vectors=frozenset({a}))
    many = [store.save_article(make(n)).id or 0 for n in range(3, MAX_NOTED + 4)]
    everything = _change(
        store, lambda: store.save_embeddings("m", [(i, np.ones(4, np.float32)) for i in many])
    )
    assert everything == EVERYTHING


def test_a_write_path_that_notes_nothing_is_logged_as_everything(store: Store) -> None:
    """A transaction that writes a stamped table without saying what (a new write path that forgot
    ``note_change``) still moves the stamp and leaves its row: "everything", so every reader marks
    all its answers stale, as before the log."""
    store.save_article(make(1))

    def forgetful() -> None:
        with store._begin() as c:
            c.execute(update(t.articles).values(title="renamed"))

    assert _change(store, forgetful) == EVERYTHING


def test_what_an_unpublished_save_touches(store: Store) -> None:
    """A pending article's save names it and no published list; publishing it, or changing it while
    published, names it as published; rejecting it says a published list may lose it."""
    saved = store.save_article(make(1))
    assert saved.id is not None
    new = _change(store, lambda: store.save_article(make(2)))
    assert not new.lists and not new.everything and len(new.articles) == 1 and not new.published
    published = _change(store, lambda: store.set_review_state(saved.id or 0, ReviewState.PUBLISHED))
    assert not published.lists and published.articles == published.published == {saved.id}
    edited = _change(store, lambda: store.save_article(make(1, excerpt="Changed.")))
    assert not edited.lists and edited.articles == edited.published == {saved.id}
    rejected = _change(store, lambda: store.set_review_state(saved.id or 0, ReviewState.REJECTED))
    assert rejected.lists and rejected.articles == {saved.id} and not rejected.published  # it left


def test_an_articles_story_is_named_with_it(store: Store) -> None:
    story = Story(None, "AI supervision", T0, T0 + timedelta(hours=2), size=1, providers=("x.example",))
    sid = store.create_story(story, None, {})
    changes = _change(store, lambda: store.save_article(make(1, story_id=sid)))
    assert changes.stories == {sid} and not changes.lists  # a pending member: no published list moves


def test_several_moves_are_read_as_one_and_a_gap_as_everything(store: Store) -> None:
    first = _seq(store)
    ids = [store.save_article(make(n)).id for n in range(1, 4)]
    assert store.changes_between(first, _seq(store)).articles == set(ids)
    assert store.changes_between(_seq(store), _seq(store)) == ChangeSet()
    with store.engine.begin() as c:  # the oldest row pruned: the reader that held it cannot know
        c.execute(t.change_log.delete().where(t.change_log.c.seq == first + 1))
    assert store.changes_between(first, _seq(store)) == EVERYTHING


def test_the_log_is_pruned(store: Store) -> None:
    """Every PRUNE_EVERY-th row deletes those more than LOG_KEPT behind it."""
    with store.engine.begin() as c:  # jump the stamp close to the prune point, past LOG_KEPT
        c.execute(update(t.change_stamp).values(seq=LOG_KEPT + 2 * PRUNE_EVERY - 3))
        c.execute(
            t.change_log.insert().values(seq=5, articles="1", stories="", lists=False, everything=False)
        )
    for n in range(1, 4):
        store.save_article(make(n))
    with store.engine.connect() as c:
        assert c.execute(select(func.min(t.change_log.c.seq))).scalar_one() > 5


def test_matching_finds_which_ids_a_search_would_find(store: Store) -> None:
    oil = store.save_article(make(1, title="Oil prices climb", content_hash="h1")).id
    court = store.save_article(make(2, title="Court rules on a merger", content_hash="h2")).id
    assert oil is not None and court is not None
    assert store.matching("oil", [oil, court]) == {oil}
    assert store.matching("court mer", [oil, court]) == {court}  # the last word as a prefix
    assert store.matching("nothing", [oil, court]) == set()


def test_the_newest_row_says_whether_an_article_is_published(store: Store) -> None:
    """Over several rows, an article counts as published when its latest change left it published:
    the rows are read oldest first, whatever order the engine would return them in."""
    article_id = store.save_article(make(7)).id or 0
    start = _seq(store)
    store.set_review_state(article_id, ReviewState.PUBLISHED)
    store.set_review_state(article_id, ReviewState.REJECTED)
    left = store.changes_between(start, _seq(store))
    assert left.lists and left.articles == {article_id} and not left.published
    start = _seq(store)
    store.set_review_state(article_id, ReviewState.PENDING)
    store.set_review_state(article_id, ReviewState.PUBLISHED)
    assert store.changes_between(start, _seq(store)).published == {article_id}
