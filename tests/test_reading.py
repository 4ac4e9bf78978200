"""An editor's reading tools over the API, over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL:
the review queue's filters and sorts, per-editor read/starred flags, bulk publish/reject, and undo with
both the decision and its reversal kept in the log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Source
from newsdesk.store import tables as t
from tests.conftest import quiet_env
from tests.readerapp import serve
from tests.test_api import article

BASE = "/api/v1"


class Desk:
    def __init__(self, nd: Newsdesk, base: str) -> None:
        self.nd, self.base = nd, base
        self.source = nd.sources.add(Source("https://feeds.example.com/rss")).id or 0
        self.ids = [
            nd.store.save_article(
                article(n, language="de" if n % 3 == 0 else "en", source_id=self.source if n <= 3 else None)
            ).id
            for n in range(1, 7)
        ]
        self.headers = {who: self.bearer(scope, who) for who, scope in
                        (("ana", "write"), ("bo", "write"), ("rita", "read"), ("with space", "write"))}  # fmt: skip

    def bearer(self, scope: str, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.nd.tokens.create(name, scope)[1]}"}

    def get(self, path: str, who: str = "ana", **params: Any) -> httpx.Response:
        return httpx.get(self.base + BASE + path, params=params, headers=self.headers.get(who, {}))

    def post(self, path: str, body: Any, who: str = "ana") -> httpx.Response:
        return httpx.post(self.base + BASE + path, json=body, headers=self.headers.get(who, {}))

    def queue(self, who: str = "ana", **params: Any) -> list[int]:
        answer = self.get("/review", who, **params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    def decisions(self) -> list[tuple[int, str]]:
        with self.nd.store.engine.connect() as c:
            return [
                (r.article_id, r.action) for r in c.execute(t.decisions.select().order_by(t.decisions.c.id))
            ]

    def state(self, article_id: int) -> str:
        return self.nd.store.get_article(article_id).review_state


@pytest.fixture
def desk(tmp_path: Path, store_url: str) -> Iterator[Desk]:
    env = quiet_env(tmp_path / "data", store_url, NEWSDESK_WRITE_RATE_LIMIT="0")
    nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
    try:
        with serve(nd) as base:
            yield Desk(nd, base)
    finally:
        nd.close()


def test_filters_and_sorts(desk: Desk) -> None:
    ids = desk.ids  # article n has quality 10n, heat n, published_at T0 + n hours
    assert desk.queue() == ids[::-1]  # newest first
    assert desk.queue(sort="oldest") == ids
    assert desk.queue(sort="quality", min_quality=40) == [ids[5], ids[4], ids[3]]
    assert desk.queue(sort="heat", min_heat=5) == [ids[5], ids[4]]
    assert desk.queue(topic="Payments") == [ids[5], ids[3], ids[1]]
    assert desk.queue(source_id=desk.source) == [ids[2], ids[1], ids[0]]
    assert desk.queue(language="de") == [ids[5], ids[2]]
    assert desk.queue(since="2024-05-01T15:00:00Z", until="2024-05-01T16:00:00Z") == [ids[3], ids[2]]
    page = desk.get("/review", limit=4).json()
    assert page["nextOffset"] == 4 and desk.queue(offset=4, limit=4) == [ids[1], ids[0]]
    for bad in ({"sort": "random"}, {"topic": "Nope"}, {"language": "x"}, {"min_heat": 101}, {"limit": 0}):
        assert desk.get("/review", **bad).status_code == 422, bad


def test_read_and_starred_are_per_editor(desk: Desk) -> None:
    ids = desk.ids
    answer = desk.post("/review/state", {"ids": [ids[0], ids[1]], "read": True, "starred": True})
    assert answer.status_code == 200 and answer.json() == {"updated": 2}
    assert desk.post("/review/state", {"ids": [ids[1]], "starred": False}).json() == {"updated": 1}
    assert desk.queue(read=False) == ids[:1:-1]
    assert desk.queue(starred=True) == [ids[0]]
    items = {i["id"]: (i["read"], i["starred"]) for i in desk.get("/review").json()["items"]}
    assert (
        items[ids[0]] == (True, True) and items[ids[1]] == (True, False) and items[ids[2]] == (False, False)
    )
    assert desk.queue("bo", read=True) == []  # bo's flags are bo's
    assert desk.post("/review/state", {"ids": [ids[2]], "read": True}, who="rita").json() == {"updated": 1}
    assert desk.queue("rita", read=True) == [ids[2]]  # a read token keeps flags too
    assert desk.post("/review/state", {"ids": [ids[3]], "starred": True}, who="with space").status_code == 200
    assert desk.queue("with space", starred=True) == [ids[3]]
    assert desk.nd.store.find_user("ana")["role"] == "editor"  # the flags' users row


@pytest.mark.parametrize(
    "body",
    [{"ids": [], "read": True}, {"ids": [1]}, {"ids": [0], "read": True}, {"ids": ["x"], "read": True},
     {"ids": list(range(1, 502)), "read": True}, {"ids": [1], "read": True, "extra": 1}],
)  # fmt: skip
def test_bad_state_requests_store_nothing(desk: Desk, body: dict[str, Any]) -> None:
    assert desk.post("/review/state", body).status_code == 422
    with desk.nd.store.engine.connect() as c:
        assert c.execute(t.reader_states.select()).all() == []


def test_unknown_ids_are_skipped_in_flags(desk: Desk) -> None:
    assert desk.post("/review/state", {"ids": [desk.ids[0], 999], "read": True}).json() == {"updated": 1}


def test_bulk_publish_then_undo_keeps_both_in_the_log(desk: Desk) -> None:
    a, b, c = desk.ids[:3]
    answer = desk.post("/decisions", {"ids": [a, b], "action": "publish"})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["id"], r["changed"], r["state"]) for r in results] == [
        (a, True, "published"),
        (b, True, "published"),
    ]
    assert desk.state(a) == desk.state(b) == "published" and desk.nd.store.get_article(a).published
    again = desk.post("/decisions", {"ids": [a], "action": "publish"}).json()["results"]
    assert again == [{"id": a, "changed": False, "decisionId": None, "state": "published"}]
    undone = desk.post(f"/decisions/{results[0]['decisionId']}/undo", {})
    assert undone.status_code == 200, undone.text
    assert undone.json()["state"] == "pending" and undone.json()["id"] == a
    assert desk.state(a) == "pending" and not desk.nd.store.get_article(a).published
    assert desk.state(b) == "published"
    assert desk.post(f"/decisions/{results[0]['decisionId']}/undo", {}).status_code == 409  # once only
    assert desk.decisions() == [(a, "publish"), (b, "publish"), (a, "undo")]
    log = desk.nd.store.decisions(a)
    assert log[1]["data"] == {"undoes": log[0]["id"], "from": "published", "to": "pending"}
    assert log[1]["actor"] == "ana"
    rejected = desk.post("/decisions", {"ids": [c], "action": "reject", "reason": "off topic"}).json()
    desk.post("/decisions", {"ids": [c], "action": "publish"})  # decided again since
    assert desk.post(f"/decisions/{rejected['results'][0]['decisionId']}/undo", {}).status_code == 409
    assert desk.state(c) == "published"


def test_undo_of_a_reject_of_a_published_article_republishes_it(desk: Desk) -> None:
    a = desk.ids[0]
    desk.post("/decisions", {"ids": [a], "action": "publish"})
    rejected = desk.post("/decisions", {"ids": [a], "action": "reject", "reason": "wrong"}).json()
    assert desk.state(a) == "rejected"
    assert (
        desk.post(f"/decisions/{rejected['results'][0]['decisionId']}/undo", {}).json()["state"]
        == "published"
    )
    assert desk.nd.store.get_article(a).published


@pytest.mark.parametrize(
    ("body", "status"),
    [({"ids": [1], "action": "reject"}, 422), ({"ids": [1], "action": "reject", "reason": " \u001c"}, 422),
     ({"ids": [1], "action": "delete"}, 422), ({"ids": [], "action": "publish"}, 422),
     ({"ids": [1, 999], "action": "publish"}, 422)],
)  # fmt: skip
def test_bad_bulk_requests_decide_nothing(desk: Desk, body: dict[str, Any], status: int) -> None:
    assert desk.post("/decisions", body).status_code == status
    assert desk.decisions() == [] and {desk.state(i) for i in desk.ids} == {"pending"}


def test_undo_of_unknown_or_other_decisions_is_a_404(desk: Desk) -> None:
    assert desk.post("/decisions/999/undo", {}).status_code == 404
    desk.nd.store.record_decision(desk.ids[0], "topics", "ana", "", {"topics": ["AI"]})
    (topic_decision,) = desk.nd.store.decisions(desk.ids[0])
    assert desk.post(f"/decisions/{topic_decision['id']}/undo", {}).status_code == 404


def test_scopes(desk: Desk) -> None:
    body = {"ids": [desk.ids[0]], "action": "publish"}
    assert desk.get("/review", who="nobody").status_code == 401  # anonymous: nothing, public_read or not
    assert desk.post("/review/state", {"ids": [1], "read": True}, who="nobody").status_code == 401
    assert desk.post("/decisions", body, who="rita").status_code == 403  # decisions need write
    assert desk.post("/decisions", body, who="nobody").status_code == 401
    assert desk.post("/decisions/1/undo", {}, who="rita").status_code == 403
    assert desk.decisions() == []
