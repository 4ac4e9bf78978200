"""Read and starred flags: one statement writes them (insert or update), so two first writes of one
flag row at once both land. Real SQLite and, when configured, PostgreSQL, where a second connection
holds the row's insert open while the store writes the same row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import insert, select

from newsdesk.model import Article, Provider, now
from newsdesk.store import Store
from newsdesk.store import tables as t
from newsdesk.store.users import ItemFilter


def publish(store: Store, n: int) -> int:
    url = f"https://a.example.com/{n}"
    saved = store.save_article(
        Article(f"Title {n}", url, url, Provider("A", "a.example.com"), published=True)
    )
    assert saved.id is not None
    return saved.id


def flags(store: Store, user_id: int) -> dict[int, tuple[bool, bool]]:
    s = t.reader_states
    query = select(s.c.article_id, s.c.is_read, s.c.starred).where(s.c.user_id == user_id)
    with store.engine.connect() as c:
        return {int(i): (bool(r), bool(st)) for i, r, st in c.execute(query)}


def test_a_flag_write_makes_missing_rows_and_keeps_the_other_flag(store: Store) -> None:
    user = store.add_user("ana", "reader")
    first, second = publish(store, 1), publish(store, 2)
    assert store.set_reader_state(user, [first], starred=True) == 1
    assert store.set_reader_state(user, [first, second], read=True) == 2
    assert flags(store, user) == {first: (True, True), second: (True, False)}
    assert store.set_reader_state(user, [first], read=False) == 1
    assert flags(store, user) == {first: (False, True), second: (True, False)}


def test_mark_read_counts_only_what_was_unread(store: Store) -> None:
    user = store.add_user("ana", "reader")
    ids = [publish(store, n) for n in range(4)]
    store.set_reader_state(user, ids[:1], read=True)
    store.set_reader_state(user, ids[1:2], starred=True)  # a row, unread
    assert store.mark_read(user, ItemFilter()) == 3
    assert flags(store, user) == {
        ids[0]: (True, False),
        ids[1]: (True, True),
        ids[2]: (True, False),
        ids[3]: (True, False),
    }
    assert store.mark_read(user, ItemFilter()) == 0


def test_an_editor_flag_is_written_the_same_way(store: Store) -> None:
    editor = store.editor_user_id("desk")
    article = publish(store, 1)
    assert store.set_editor_state(editor, [article, 999_999], starred=True) == 1
    assert store.set_editor_state(editor, [article], read=True) == 1
    assert flags(store, editor) == {article: (True, True)}


@pytest.mark.parametrize("writer", ["reader", "editor"])
def test_a_first_write_racing_another_lands_on_postgresql(postgres_url: str, writer: str) -> None:
    store = Store.open(postgres_url)
    try:
        user = store.add_user("ana", "reader")
        article = publish(store, 1)
        write: Callable[[], int] = {
            "reader": lambda: store.set_reader_state(user, [article], read=True),
            "editor": lambda: store.set_editor_state(user, [article], read=True),
        }[writer]
        outcome: list[object] = []
        with store.engine.connect() as other:
            other.execute(  # the other request's first write of the same row, not committed yet
                insert(t.reader_states).values(
                    user_id=user, article_id=article, is_read=False, starred=True, updated_at=now()
                )
            )
            racing = threading.Thread(target=lambda: outcome.append(_attempt(write)))
            racing.start()
            time.sleep(0.5)  # the store's write now waits on the row's key
            other.commit()
            racing.join(timeout=30)
        assert outcome == [1]
        assert flags(store, user) == {article: (True, True)}
    finally:
        store.close()


def _attempt(write: Callable[[], int]) -> object:
    try:
        return write()
    except Exception as e:  # the failure is the test's finding, shown in the assertion
        return e
