"""The Fever API over real HTTP (uvicorn on loopback, real SQLite): through a real client library from
PyPI (``freshrss-api``, which speaks Fever at FreshRSS's ``/api/fever.php``), and with raw form POSTs in
the shapes the Fever documentation gives for what that client does not cover."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from freshrss_api import FreshRSSAPI
from freshrss_api.utils.errors import AuthenticationError

from newsdesk.store import tables as t
from tests.readerapp import World, world

TOTAL_PAGE = 50


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("fever")) as w:
        yield w


def key(live: World, name: str) -> str:
    return hashlib.md5(f"{name}:{live.passwords[name]}".encode()).hexdigest()


def fever(live: World, name: str, query: str, **form: str) -> Any:
    answer = httpx.post(live.url(f"/fever/?api&{query}"), data={"api_key": key(live, name)} | form)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["api_version"] == 3 and body["auth"] == 1
    return body


def state_rows(live: World) -> int:
    with live.nd.store.engine.connect() as c:
        return len(c.execute(t.reader_states.select()).all())


# ------------------------------------------------------------------------------ the real client


def test_the_freshrss_client_reads_and_marks(live: World) -> None:
    client = FreshRSSAPI(host=live.base, username="ana", password=live.passwords["ana"])
    unread = client.get_unreads()
    assert sorted(i.id for i in unread) == sorted(live.published)
    groups = client.get_groups()
    assert {"AI", "AI in Finance", "Fintech", "Payments"} <= {g["title"] for g in groups["groups"]}
    feeds = client.get_feeds()["feeds"]
    assert {i.feed_id for i in unread} <= {f["id"] for f in feeds}
    client.set_mark(as_="read", id=unread[0].id)
    client.set_mark(as_="saved", id=unread[1].id)
    assert unread[0].id not in {i.id for i in client.get_unreads()}
    assert [i.id for i in client.get_saved()] == [unread[1].id]


def test_the_client_is_refused_with_a_wrong_password(live: World) -> None:
    with pytest.raises(AuthenticationError):
        FreshRSSAPI(host=live.base, username="ana", password=live.passwords["bo"])


# ------------------------------------------------------------------------------ the documented shapes


@pytest.mark.parametrize("form", [{}, {"api_key": ""}, {"api_key": "0" * 32}, {"api_key": "not-hex"}])
def test_without_a_valid_key_the_answer_is_auth_0_and_nothing_else(live: World, form: dict[str, str]) -> None:
    answer = httpx.post(live.url("/fever/?api&items&groups&unread_item_ids"), data=form)
    assert answer.status_code == 200 and answer.json() == {"api_version": 3, "auth": 0}  # as Fever answers


def test_a_key_in_the_query_string_works_too(live: World) -> None:
    answer = httpx.get(live.url("/fever/"), params={"api": "", "api_key": key(live, "bo")})
    assert answer.status_code == 200 and answer.json()["auth"] == 1


def test_groups_are_topics_and_contain_their_subtopics_feeds(live: World) -> None:
    body = fever(live, "bo", "groups")
    groups = {g["title"]: g["id"] for g in body["groups"]}
    members = {g["group_id"]: set(g["feed_ids"].split(",")) for g in body["feeds_groups"]}
    feeds = {f["title"]: str(f["id"]) for f in fever(live, "bo", "feeds")["feeds"]}
    assert {feeds["AI"], feeds["AI in Finance"]} <= members[groups["AI"]]
    assert feeds["AI"] not in members[groups["AI in Finance"]]


def test_an_editor_gets_sources_as_feeds(live: World) -> None:
    feeds = fever(live, "eve", "feeds")["feeds"]
    assert {f["id"] for f in feeds} >= set(live.sources)
    assert all("secret" not in str(f) for f in fever(live, "bo", "feeds")["feeds"])


def test_items_page_by_since_id_and_max_id_and_never_unpublished(live: World) -> None:
    first = fever(live, "bo", "items", since_id="0")
    assert first["total_items"] == len(live.published)
    assert [i["id"] for i in first["items"]] == sorted(live.published)
    later = fever(live, "bo", "items", since_id=str(live.published[4]))
    assert [i["id"] for i in later["items"]] == sorted(live.published)[5:]
    older = fever(live, "bo", "items", max_id=str(live.published[3]))
    assert [i["id"] for i in older["items"]] == sorted(live.published[:3], reverse=True)
    asked = ",".join(str(i) for i in [*live.hidden, live.published[0]])
    assert [i["id"] for i in fever(live, "bo", "items", with_ids=asked)["items"]] == [live.published[0]]
    item = first["items"][0]
    assert set(item) == {"id", "feed_id", "title", "author", "html", "url", "is_saved", "is_read",
                         "created_on_time"}  # fmt: skip
    assert "<script>" not in item["html"]


def test_mark_group_read_before_a_time(live: World) -> None:
    groups = {g["title"]: g["id"] for g in fever(live, "bo", "groups")["groups"]}
    unread = set(fever(live, "bo", "unread_item_ids")["unread_item_ids"].split(","))
    kept = fever(live, "bo", "", mark="group", **{"as": "read"}, id=str(groups["Fintech"]), before="1")
    assert set(kept["unread_item_ids"].split(",")) == unread  # nothing is that old
    done = fever(
        live, "bo", "", mark="group", **{"as": "read"}, id=str(groups["Fintech"]), before="4102444800"
    )
    left = set(done["unread_item_ids"].split(","))
    fintech = {str(i["id"]) for i in fever(live, "bo", "items", since_id="0")["items"]
               if live.nd.store.get_article(i["id"]).topics[-1:] == ("Fintech",)}  # fmt: skip
    assert fintech and left == unread - fintech


def test_marks_are_per_user(live: World) -> None:
    target = str(live.published[-1])
    fever(live, "ana", "", mark="item", **{"as": "saved"}, id=target)
    assert target in fever(live, "ana", "saved_item_ids")["saved_item_ids"].split(",")
    assert target not in fever(live, "bo", "saved_item_ids")["saved_item_ids"].split(",")
    fever(live, "ana", "", mark="item", **{"as": "unsaved"}, id=target)
    assert target not in fever(live, "ana", "saved_item_ids")["saved_item_ids"].split(",")


@pytest.mark.parametrize(
    ("query", "form"),
    [
        ("mark=item&as=burnt&id=1", {}),
        ("mark=item&as=read", {}),
        ("mark=item&as=read&id=one", {}),
        ("mark=feed&as=read&id=999999", {}),
        ("mark=group&as=read&id=999999", {}),
        ("mark=group&as=saved&id=1", {}),
        ("items&since_id=-1", {}),
        ("items&with_ids=1,,2", {}),
        ("items&with_ids=" + ",".join(str(i) for i in range(1, 60)), {}),
    ],
)
def test_bad_parameters_are_a_400_and_store_nothing(live: World, query: str, form: dict[str, str]) -> None:
    before = state_rows(live)
    answer = httpx.post(live.url(f"/fever/?api&{query}"), data={"api_key": key(live, "ana")} | form)
    assert answer.status_code == 400, answer.text
    assert state_rows(live) == before


def test_marking_an_unpublished_item_stores_nothing(live: World) -> None:
    before = state_rows(live)
    fever(live, "ana", "", mark="item", **{"as": "saved"}, id=str(live.hidden[0]))
    assert state_rows(live) == before


def test_a_huge_body_is_refused(live: World) -> None:
    answer = httpx.post(live.url("/fever/?api"), content=b"api_key=" + b"a" * 2_000_000,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 413


def test_mark_a_feed_read_and_the_empty_lists(live: World) -> None:
    feeds = {f["title"]: f["id"] for f in fever(live, "ana", "feeds")["feeds"]}
    unread = set(fever(live, "ana", "unread_item_ids")["unread_item_ids"].split(","))
    in_feed = {str(i["id"]) for i in fever(live, "ana", "items", since_id="0")["items"]
               if i["feed_id"] == feeds["Payments"]}  # fmt: skip
    done = fever(
        live, "ana", "", mark="feed", **{"as": "read"}, id=str(feeds["Payments"]), before="4102444800"
    )
    assert in_feed and set(done["unread_item_ids"].split(",")) == unread - in_feed
    both = fever(live, "ana", "favicons&links")
    assert both["favicons"] == [] and both["links"] == []
