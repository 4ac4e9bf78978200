"""Who may do what: the authorisation matrix of the API and the UI pages that show sources, and the
loopback rule (a source allowed to reach private addresses keeps that right only while it points where an
admin allowed it), checked on every path that can add or change a source.

Real store, real app through TestClient, real HTTP on loopback for fetches; see docs/design.md,
"Authorisation".
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk, Tokens
from newsdesk.config import load_settings
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

BASE = "/api/v1"
SECRET = base64.b64encode(bytes(range(32))).decode()
INTERNAL = "http://127.0.0.1:8080/feed"  # what an admin allowed
ELSEWHERE = "http://127.0.0.1:6379/"  # where a write token would like the fetcher to go instead


def make_desk(tmp_path: Path, **settings: str) -> Newsdesk:
    env = quiet_env(tmp_path / "data", NEWSDESK_SECRET_KEY=SECRET) | {
        f"NEWSDESK_{k.upper()}": v for k, v in settings.items()
    }
    return Newsdesk(load_settings(env=env, base_dir=tmp_path))


def bearer(nd: Newsdesk, scope: str, name: str | None = None) -> dict[str, str]:
    _, secret = Tokens(nd).create(name or f"{scope}-token", scope)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk) -> Iterator[TestClient]:
    with TestClient(create_app(desk)) as test_client:
        yield test_client


# ------------------------------------------------------------------------------------ the loopback rule


def test_moving_an_allowed_source_clears_its_loopback_flag(client: TestClient, desk: Newsdesk) -> None:
    writer, admin = bearer(desk, "write"), bearer(desk, "admin")
    created = client.post(f"{BASE}/sources", json={"url": INTERNAL, "allowLoopback": True}, headers=admin)
    assert created.status_code == 201 and created.json()["allowLoopback"] is True
    url = f"{BASE}/sources/{created.json()['id']}"

    def patch(body: dict[str, object], headers: dict[str, str]) -> bool:
        answer = client.patch(url, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        flag: bool = answer.json()["allowLoopback"]
        assert desk.store.get_source(created.json()["id"]).allow_loopback is flag
        return flag

    assert patch({"name": "Internal", "reputation": 0.5}, writer) is True  # same address: kept
    assert patch({"url": INTERNAL}, writer) is True  # "moved" to where it already is
    assert patch({"url": ELSEWHERE}, writer) is False  # the bypass: a write token re-points it
    assert client.patch(url, json={"allowLoopback": True}, headers=writer).status_code == 403
    assert patch({"url": INTERNAL, "allowLoopback": True}, admin) is True  # an admin re-grants
    assert patch({"kind": "page"}, writer) is False  # the kind decides what is fetched, too
    assert patch({"kind": "feed", "allowLoopback": True}, admin) is True
    assert patch({"url": ELSEWHERE}, admin) is False  # admins too must say it again
    assert patch({"url": INTERNAL, "allowLoopback": True}, admin) is True


def test_a_moved_source_is_refused_before_anything_is_dialled(tmp_path: Path) -> None:
    """After the bypass attempt the next run refuses the new address before connecting, and the error
    is the same whether something listens there or not: the caller learns nothing about the port."""
    nd = make_desk(tmp_path, workers="1")
    admin, writer = bearer(nd, "admin"), bearer(nd, "write")
    listening = LoopbackServer({"/feed": Reply(body=b"<rss/>", content_type="application/rss+xml")})
    with listening, TestClient(create_app(nd)) as c:
        closed = f"http://127.0.0.1:{_closed_port()}/feed"
        errors = {}
        for n, target in enumerate((listening.url("/feed"), closed)):
            made = c.post(
                f"{BASE}/sources", json={"url": f"{INTERNAL}{n}", "allowLoopback": True}, headers=admin
            )
            moved = c.patch(f"{BASE}/sources/{made.json()['id']}", json={"url": target}, headers=writer)
            assert moved.json()["allowLoopback"] is False
            nd.run(sources=[nd.store.get_source(made.json()["id"])])
            health = c.get(f"{BASE}/sources/{made.json()['id']}", headers=writer).json()["health"]
            errors[target] = (health["lastErrorKind"], health["lastError"].replace(target, "URL"))
        assert listening.requests == []
    assert len(set(errors.values())) == 1, errors
    assert next(iter(errors.values()))[0] == "blocked"
    nd.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
