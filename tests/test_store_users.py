"""Users, app passwords and reader state in the store and the facade part, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from newsdesk.errors import NewsdeskError, StorageError
from newsdesk.readers import Readers, fever_key
from newsdesk.store import tables as t
from newsdesk.store.users import ItemFilter
from tests.readerapp import make_desk, seed


@pytest.fixture
def readers(store_url: str, tmp_path: Path) -> Readers:
    nd = make_desk(tmp_path, store_url)
    yield nd.readers
    nd.close()


def test_users_and_app_passwords_store_no_secret(readers: Readers) -> None:
    readers.add_user("ana")
    password_id, password = readers.new_app_password("ana", "phone")
    with pytest.raises(StorageError, match="already exists"):
        readers.add_user("ana")
    stored = readers.nd.store.app_passwords(readers.nd.store.find_user("ana")["id"])[0]  # type: ignore[index]
    assert password not in str(stored) and fever_key("ana", password) not in str(stored)
    assert stored["password_hash"].startswith("scrypt$")
    assert readers.by_fever_key(fever_key("ana", password)).name == "ana"  # type: ignore[union-attr]
    auth = readers.client_login("ana", password)
    assert auth is not None and readers.by_greader_token(auth).password_id == password_id  # type: ignore[union-attr]
    assert readers.client_login("ana", password + "x") is None
    assert readers.by_greader_token(auth.replace("ana/", "bo/")) is None
    assert readers.list_users()[0]["app_passwords"] == 1
    readers.revoke_app_password("ana", password_id)
    assert readers.by_fever_key(fever_key("ana", password)) is None and readers.by_greader_token(auth) is None


@pytest.mark.parametrize("name", ["", "a:b", "a/b", "a b", "x" * 65, "ünï"])
def test_user_names_that_would_break_a_key_are_refused(readers: Readers, name: str) -> None:
    with pytest.raises(NewsdeskError, match="user name"):
        readers.add_user(name)
    assert readers.list_users() == []


def test_reader_state_touches_published_records_only_and_goes_with_the_user(readers: Readers) -> None:
    published, hidden, _ = seed(readers.nd)
    readers.add_user("ana")
    _, password = readers.new_app_password("ana")
    ana = readers.by_fever_key(fever_key("ana", password))
    assert ana is not None
    assert readers.set_state(ana, [published[0], hidden[0]], starred=True) == 1
    assert readers.set_state(ana, [published[0]], read=True) == 1  # the second write updates the row
    starred = readers.items(ana, ItemFilter(starred=True), limit=10)
    assert [(i.article.id, i.read, i.starred) for i in starred] == [(published[0], True, True)]
    marked = readers.mark_read(ana, ItemFilter(topic="Fintech"))
    fintech = {i for i, _ in readers.item_ids(ana, ItemFilter(topic="Fintech"))}
    assert marked == len(fintech - {published[0]}) and fintech <= set(published)
    assert {i for i, _ in readers.item_ids(ana, ItemFilter(read=False))} == set(published) - fintech - {
        published[0]
    }
    readers.remove_user("ana")
    with readers.nd.store.engine.connect() as c:
        assert (
            c.execute(select(t.reader_states)).all() == [] and c.execute(select(t.app_passwords)).all() == []
        )


def test_fever_key_is_md5_of_name_and_password() -> None:
    assert fever_key("ana", "pw") == hashlib.md5(b"ana:pw").hexdigest()
