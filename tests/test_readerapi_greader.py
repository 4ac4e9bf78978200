"""The Google Reader API over real HTTP (uvicorn on loopback, real SQLite), with the request shapes reader
apps send (NetNewsWire, Reeder: FreshRSS's and Miniflux's published documentation). No maintained Python
client for this API runs on Python 3.11 (``google-reader`` needs 3.12, ``libgreader`` is from 2013)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsdesk.readerapi.greader import long_id
from newsdesk.readers import TOPIC_FEED_BASE
from newsdesk.store import tables as t
from tests.readerapp import World, world

API = "/reader/api/0"
READING_LIST = "user/-/state/com.google/reading-list"
READ = "user/-/state/com.google/read"
STARRED = "user/-/state/com.google/starred"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("greader")) as w:
        yield w


def login(live: World, name: str) -> dict[str, str]:
    answer = httpx.post(
        live.url("/accounts/ClientLogin"), data={"Email": name, "Passwd": live.passwords[name]}
    )
    assert answer.status_code == 200, answer.text
    lines = dict(line.split("=", 1) for line in answer.text.strip().splitlines())
    assert set(lines) == {"SID", "LSID", "Auth"}
    return {"Authorization": f"GoogleLogin auth={lines['Auth']}"}


def get(live: World, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = httpx.get(live.url(API + path), params=params | {"output": "json"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ids(live: World, headers: dict[str, str], **params: Any) -> list[int]:
    refs = get(live, "/stream/items/ids", headers, n=1000, **params)["itemRefs"]
    return [int(r["id"]) for r in refs]


def state_rows(live: World) -> int:
    with live.nd.store.engine.connect() as c:
        return len(c.execute(t.reader_states.select()).all())


# ------------------------------------------------------------------------------------------ sign in


def test_client_login_takes_the_app_password_only(live: World) -> None:
    url = live.url("/accounts/ClientLogin")
    good = {"Email": "ana", "Passwd": live.passwords["ana"]}
    assert httpx.post(url, data=good).status_code == 200
    as_json = httpx.post(url, data=good | {"output": "json"}).json()
    assert as_json["Auth"].startswith("ana/")
    for wrong in ({"Email": "ana", "Passwd": live.passwords["bo"]}, {"Email": "nobody", "Passwd": "x"},
                  {"Email": "ana"}, {"Email": "a/b:c", "Passwd": "x"}):  # fmt: skip
        answer = httpx.post(url, data=wrong)
        assert answer.status_code == 401 and "BadAuthentication" in answer.text
    assert httpx.get(url, params=good).status_code == 405  # never a password in a URL


@pytest.mark.parametrize(
    "path",
    [
        "/token",
        "/user-info",
        "/subscription/list",
        "/tag/list",
        "/unread-count",
        "/stream/items/ids",
        f"/stream/contents/{READING_LIST}",
        "/stream/items/contents?i=1",
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer nd_x", "GoogleLogin auth=ana/0000", "GoogleLogin auth=bo/"])
def test_every_endpoint_refuses_anonymous_and_wrong_tokens(
    live: World, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = httpx.get(live.url(API + path), headers=headers)
    assert answer.status_code == 401
    assert "published" not in answer.text.lower() and "Record" not in answer.text


def test_posts_refuse_wrong_tokens_and_store_nothing(live: World) -> None:
    before = state_rows(live)
    for path in ("/edit-tag", "/mark-all-as-read"):
        answer = httpx.post(live.url(API + path), data={"i": str(live.published[0]), "a": READ, "s": READING_LIST},
                            headers={"Authorization": "GoogleLogin auth=ana/deadbeef"})  # fmt: skip
        assert answer.status_code == 401
    assert state_rows(live) == before


# --------------------------------------------------------------------------------- who and what


def test_user_info_and_token(live: World) -> None:
    headers = login(live, "ana")
    info = get(live, "/user-info", headers)
    assert info["userName"] == "ana" and info["userId"] == info["userProfileId"]
    token = httpx.get(live.url(API + "/token"), headers=headers)
    assert token.status_code == 200 and len(token.text) == 57


def test_a_reader_sees_topics_as_feeds_and_never_a_source(live: World) -> None:
    subscriptions = get(live, "/subscription/list", login(live, "ana"))["subscriptions"]
    titles = {s["title"]: s for s in subscriptions}
    assert {"AI in Finance", "Payments", "AI", "More from the desk"} <= set(titles)
    assert "secret" not in str(subscriptions) and "feeds1.example" not in str(subscriptions)
    folders = {c["label"] for c in titles["AI in Finance"]["categories"]}
    assert folders == {"AI in Finance", "AI"}  # its own folder and its parent's
    tags = {t["id"] for t in get(live, "/tag/list", login(live, "ana"))["tags"]}
    assert {STARRED, "user/-/label/AI", "user/-/label/Fintech"} <= tags


def test_an_editor_sees_each_source_as_a_feed(live: World) -> None:
    subscriptions = get(live, "/subscription/list", login(live, "eve"))["subscriptions"]
    by_id = {s["id"]: s for s in subscriptions}
    assert {f"feed/{i}" for i in live.sources} <= set(by_id)
    assert by_id[f"feed/{live.sources[0]}"]["url"].startswith("https://feeds1.example/")
    feed_items = ids(live, login(live, "eve"), s=f"feed/{live.sources[0]}")
    assert feed_items and set(feed_items) <= set(live.published)
    assert all(live.nd.store.get_article(i).source_id == live.sources[0] for i in feed_items)


def test_unread_counts_per_stream(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        headers = login(w, "ana")
        counts = {c["id"]: c["count"] for c in get(w, "/unread-count", headers)["unreadcounts"]}
        assert counts[READING_LIST] == len(w.published)
        assert counts["user/-/label/AI"] == len(ids(w, headers, s="user/-/label/AI"))
        feed = f"feed/{TOPIC_FEED_BASE + 5}"  # Payments
        assert counts[feed] == len(ids(w, headers, s=feed)) > 0
        httpx.post(w.url(API + "/edit-tag"), data={"i": str(w.published[0]), "a": READ}, headers=headers)
        after = {c["id"]: c["count"] for c in get(w, "/unread-count", headers)["unreadcounts"]}
        assert after[READING_LIST] == len(w.published) - 1


# ---------------------------------------------------------------------------------------- streams


def test_reading_list_is_the_published_records_only(live: World) -> None:
    headers = login(live, "bo")
    assert sorted(ids(live, headers)) == sorted(live.published)
    contents = get(live, f"/stream/contents/{READING_LIST}", headers, n=1000)
    assert {int(i["id"].rsplit("/", 1)[1], 16) for i in contents["items"]} == set(live.published)


def test_continuation_pages_cover_everything_once(live: World) -> None:
    headers, seen, continuation = login(live, "bo"), [], None
    while True:
        params = {"s": READING_LIST, "n": 3} | ({"c": continuation} if continuation else {})
        page = get(live, "/stream/items/ids", headers, **params)
        seen += [int(r["id"]) for r in page["itemRefs"]]
        continuation = page.get("continuation")
        if not continuation:
            break
    assert seen == sorted(live.published, reverse=True)
    oldest = get(live, "/stream/items/ids", headers, s=READING_LIST, n=2, r="o")["itemRefs"]
    assert [int(r["id"]) for r in oldest] == sorted(live.published)[:2]


def test_items_carry_the_documented_shape(live: World) -> None:
    headers = login(live, "ana")
    item = get(live, "/stream/contents", headers, s="user/-/label/Payments", n=1)["items"][0]
    assert (
        item["id"].startswith("tag:google.com,2005:reader/item/") and len(item["id"].rsplit("/", 1)[1]) == 16
    )
    assert {"crawlTimeMsec", "timestampUsec", "published", "title", "canonical", "alternate", "categories",
            "origin", "summary"} <= set(item)  # fmt: skip
    assert READING_LIST in item["categories"] and "user/-/label/Payments" in item["categories"]
    assert item["origin"]["streamId"] == f"feed/{TOPIC_FEED_BASE + 5}"  # Payments: 5th in the taxonomy
    assert "<script>" not in item["summary"]["content"] and "&lt;script&gt;" in item["summary"]["content"]
    feeds = {s["id"] for s in get(live, "/subscription/list", headers)["subscriptions"]}
    assert item["origin"]["streamId"] in feeds


def test_items_by_long_and_short_ids_and_never_an_unpublished_one(live: World) -> None:
    headers = login(live, "ana")
    wanted = [
        long_id(live.published[0]),
        str(live.published[1]),
        str(live.hidden[0]),
        long_id(live.hidden[1]),
    ]
    answer = httpx.post(live.url(API + "/stream/items/contents"), data={"i": wanted}, headers=headers)
    assert answer.status_code == 200, answer.text
    got = [int(i["id"].rsplit("/", 1)[1], 16) for i in answer.json()["items"]]
    assert got == live.published[:2]


# ---------------------------------------------------------------------------------------- changes


def test_read_and_starred_are_per_user(live: World) -> None:
    ana, bo = login(live, "ana"), login(live, "bo")
    token = httpx.get(live.url(API + "/token"), headers=ana).text
    target = live.published[3]
    for tag in (READ, STARRED):
        answer = httpx.post(live.url(API + "/edit-tag"), data={"i": long_id(target), "a": tag, "T": token},
                            headers=ana)  # fmt: skip
        assert answer.status_code == 200 and answer.text == "OK"
    assert target not in ids(live, ana, s=READING_LIST, xt=READ)
    assert ids(live, ana, s=STARRED) == [target]
    assert target in ids(live, bo, s=READING_LIST, xt=READ) and ids(live, bo, s=STARRED) == []
    item = get(live, "/stream/contents", ana, s=STARRED)["items"][0]
    assert READ in item["categories"] and STARRED in item["categories"]
    httpx.post(live.url(API + "/edit-tag"), data={"i": str(target), "r": READ}, headers=ana)
    assert target in ids(live, ana, s=READING_LIST, xt=READ)


def test_unpublished_records_cannot_be_marked(live: World) -> None:
    before = state_rows(live)
    answer = httpx.post(live.url(API + "/edit-tag"), data={"i": [str(i) for i in live.hidden], "a": STARRED},
                        headers=login(live, "bo"))  # fmt: skip
    assert answer.status_code == 200  # nothing to say about records the caller may not know exist
    assert state_rows(live) == before


def test_mark_all_as_read_in_a_label_up_to_a_time(live: World, tmp_path: Path) -> None:
    headers = login(live, "bo")
    label = "user/-/label/Fintech"
    in_label = ids(live, headers, s=label)
    assert in_label
    answer = httpx.post(live.url(API + "/mark-all-as-read"), data={"s": label, "ts": "1"}, headers=headers)
    assert answer.status_code == 200 and ids(live, headers, s=label, xt=READ) == in_label  # nothing that old
    answer = httpx.post(live.url(API + "/mark-all-as-read"), data={"s": label}, headers=headers)
    assert answer.status_code == 200 and ids(live, headers, s=label, xt=READ) == []
    others = set(ids(live, headers, s=READING_LIST, xt=READ))
    assert others == set(live.published) - set(in_label) - set(ids(live, headers, s=READ))


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/edit-tag", {"i": "tag:google.com,2005:reader/item/xyz", "a": READ}),
        ("post", "/edit-tag", {"i": "12abc", "a": READ}),
        ("post", "/edit-tag", {"i": "-5", "a": READ}),
        ("post", "/edit-tag", {"i": "1", "a": "user/-/label/AI"}),
        ("post", "/edit-tag", {"i": "1"}),
        ("post", "/edit-tag", {"a": READ}),
        ("post", "/mark-all-as-read", {"s": "feed/999999"}),
        ("post", "/mark-all-as-read", {"s": "user/-/label/AI", "ts": "soon"}),
        ("get", "/stream/items/ids", {"s": "user/-/state/com.google/broadcast"}),
        ("get", "/stream/items/ids", {"n": "many"}),
        ("get", "/stream/items/ids", {"c": "not-a-continuation"}),
        ("get", "/stream/items/ids", {"xt": "user/-/label/AI"}),
        ("post", "/stream/items/contents", {}),
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(
    live: World, method: str, path: str, data: dict[str, str]
) -> None:
    before = state_rows(live)
    headers = login(live, "ana")
    if method == "post":
        answer = httpx.post(live.url(API + path), data=data, headers=headers)
    else:
        answer = httpx.get(live.url(API + path), params=data, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"]
    assert state_rows(live) == before


def test_a_wrong_t_token_is_refused_the_google_way(live: World) -> None:
    before = state_rows(live)
    answer = httpx.post(live.url(API + "/edit-tag"), data={"i": str(live.published[0]), "a": READ, "T": "x" * 57},
                        headers=login(live, "ana"))  # fmt: skip
    assert answer.status_code == 401 and answer.headers["X-Reader-Google-Bad-Token"] == "true"
    assert state_rows(live) == before


def test_huge_bodies_and_too_many_ids_are_refused(live: World) -> None:
    before, headers = state_rows(live), login(live, "ana")
    huge = httpx.post(live.url(API + "/edit-tag"), content=b"i=1&a=" + b"x" * 2_000_000,
                      headers=headers | {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert huge.status_code == 413
    many = httpx.post(live.url(API + "/edit-tag"), data={"i": [str(i) for i in range(1, 1502)], "a": READ},
                      headers=headers)  # fmt: skip
    assert many.status_code == 413
    assert state_rows(live) == before


def test_removing_the_user_ends_the_token(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        headers = login(w, "bo")
        assert httpx.get(w.url(API + "/user-info"), headers=headers).status_code == 200
        w.nd.readers.remove_user("bo")
        assert httpx.get(w.url(API + "/user-info"), headers=headers).status_code == 401


def test_sign_ins_are_rate_limited_per_address(tmp_path: Path) -> None:
    with world(tmp_path, write_rate_limit="3") as w:
        wrong = {"Email": "ana", "Passwd": "guess"}
        codes = [httpx.post(w.url("/accounts/ClientLogin"), data=wrong).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        right = httpx.post(
            w.url("/accounts/ClientLogin"), data={"Email": "ana", "Passwd": w.passwords["ana"]}
        )
        assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1


def test_the_same_sync_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    with world(tmp_path, postgres_url) as w:
        headers = login(w, "ana")
        assert sorted(ids(w, headers)) == sorted(w.published)
        httpx.post(
            w.url(API + "/edit-tag"), data={"i": long_id(w.published[0]), "a": STARRED}, headers=headers
        )
        assert ids(w, headers, s=STARRED) == [w.published[0]]
        httpx.post(w.url(API + "/mark-all-as-read"), data={"s": "user/-/label/AI"}, headers=headers)
        unread = set(ids(w, headers, s=READING_LIST, xt=READ))
        assert unread == set(w.published) - set(ids(w, headers, s="user/-/label/AI"))
