"""The change stamp (``store.base``): one row every write to what records and pages are read from moves,
on SQLite and on PostgreSQL, and that another process's engine sees at once (the desk writes, API
workers read). The API's response cache and the desk's output rewrites are keyed on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import update

from newsdesk.errors import StorageError
from newsdesk.model import ReviewState, Source, SourceHealth, Story
from newsdesk.store import Store
from newsdesk.store import tables as t
from tests.test_store import T0, make


def _moves(store: Store, change: Callable[[], object]) -> bool:
    before = store.change_stamp()
    change()
    return store.change_stamp() != before


def test_each_kind_of_change_moves_the_stamp(store: Store) -> None:
    a = store.save_article(make(1)).id
    b = store.save_article(make(2)).id
    assert a is not None and b is not None
    story = Story(None, "AI supervision", T0, T0 + timedelta(hours=2), size=2, providers=("x.example",))
    assert _moves(store, lambda: store.save_article(make(3)))  # a new article
    assert _moves(store, lambda: store.save_article(make(1, id=a, topics=("Markets",))))  # its topics
    assert _moves(store, lambda: store.set_review_state(a, ReviewState.PUBLISHED))  # a review
    reject = partial(
        store.decide, b, ReviewState.REJECTED, expect=ReviewState.PENDING, action="reject", actor="ana"
    )
    assert _moves(store, reject)  # a decision
    sid = store.create_story(story, None, {})
    assert _moves(store, lambda: store.update_story_heat(sid, 40))  # a story
    assert _moves(store, lambda: store.set_related(a, [(b, 0.8)]))
    assert _moves(store, lambda: store.mark_enriched(a))
    assert _moves(store, lambda: store.delete_article(b))


def test_what_no_page_shows_leaves_it_alone(store: Store) -> None:
    source = store.add_source(Source("https://marketwire.example/feed.xml"))
    assert source.id is not None
    assert not _moves(store, lambda: store.save_health(source.id, SourceHealth(error_count=1)))
    assert not _moves(store, lambda: store.set_meta("k", 1))
    run = store.start_run()
    assert not _moves(store, lambda: store.finish_run(run, {}))  # an idle cycle: nothing to export
    assert not _moves(store, store.change_stamp)  # reading never moves it


def test_a_failed_transaction_leaves_it_alone(store: Store) -> None:
    before = store.change_stamp()
    with pytest.raises(StorageError), store._begin() as c:
        c.execute(update(t.articles).values(title="x"))
        raise StorageError("the change fails after a write")
    assert store.change_stamp() == before


def test_another_process_sees_each_move(store: Store, store_url: str) -> None:
    """The desk writes in one process, API workers read in others: a fresh interpreter on the same
    database reads the stamp this one just moved."""
    store.save_article(make(1))
    code = "import sys; from newsdesk.store import Store; print(Store.open(sys.argv[1]).change_stamp()[0])"
    seen = subprocess.run([sys.executable, "-c", code, store_url], capture_output=True, text=True, check=True)
    assert int(seen.stdout) == store.change_stamp()[0] > 0
