"""Managing reader-app users: the admins-only web page (real app through TestClient, real SQLite) and the
``newsdesk user`` commands (real CLI, real store)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.cli import app
from newsdesk.config import load_settings
from newsdesk.readers import fever_key
from tests.conftest import quiet_env
from tests.readerapp import make_desk, serve

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = re.compile(r'<code class="app-password">([^<]+)</code>')


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    yield nd
    nd.close()


def signed_in(desk: Newsdesk, scope: str) -> TestClient:
    client = TestClient(create_app(desk))
    _, token = desk.tokens.create(f"{scope}-editor", scope)
    csrf = CSRF_INPUT.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    return client


def csrf(client: TestClient) -> str:
    return CSRF_INPUT.search(client.get("/login").text).group(1)  # type: ignore[union-attr]


def test_an_admin_adds_a_user_and_an_app_password_shown_once(desk: Newsdesk) -> None:
    client = signed_in(desk, "admin")
    assert client.get("/users").status_code == 200
    added = client.post("/users", data={"name": "ana", "role": "reader", "csrf_token": csrf(client)})
    assert added.status_code == 200 and "ana" in added.text
    made = client.post("/users/ana/app-password", data={"label": "phone", "csrf_token": csrf(client)})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    password = PASSWORD.search(made.text).group(1)  # type: ignore[union-attr]
    assert desk.readers.by_fever_key(fever_key("ana", password)) is not None
    assert password not in client.get("/users").text  # never shown again
    bad = client.post("/users", data={"name": "a:b", "csrf_token": csrf(client)})
    assert bad.status_code == 422 and [u["name"] for u in desk.readers.list_users()] == ["ana"]
    gone = client.post("/users/ana/remove", data={"csrf_token": csrf(client)})
    assert gone.status_code == 200 and desk.readers.list_users() == []


def test_the_users_page_is_for_admins_only(desk: Newsdesk) -> None:
    anonymous = TestClient(create_app(desk))
    assert anonymous.get("/users", follow_redirects=False).status_code == 303
    assert anonymous.post("/users", data={"name": "x", "csrf_token": csrf(anonymous)}).status_code == 401
    writer = signed_in(desk, "write")
    assert writer.get("/users").status_code == 403
    assert writer.post("/users", data={"name": "x", "csrf_token": csrf(writer)}).status_code == 403
    admin = signed_in(desk, "admin")
    assert admin.post("/users", data={"name": "x"}).status_code == 403  # no CSRF token
    assert desk.readers.list_users() == []


def test_user_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in quiet_env(tmp_path / "data").items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert runner.invoke(app, ["user", "add", "eve", "--role", "editor"]).exit_code == 0
    made = runner.invoke(app, ["user", "app-password", "eve", "--label", "laptop", "--json"])
    assert made.exit_code == 0, made.stderr
    password = json.loads(made.stdout)["password"]
    listed = json.loads(runner.invoke(app, ["user", "list", "--json"]).stdout)
    assert [(u["name"], u["role"], u["app_passwords"]) for u in listed] == [("eve", "editor", 1)]
    twice = runner.invoke(app, ["user", "add", "eve"])
    assert twice.exit_code == 1 and "already exists" in twice.stderr
    assert runner.invoke(app, ["user", "add", "x", "--role", "boss"]).exit_code == 1
    with (
        Newsdesk(load_settings(env=quiet_env(tmp_path / "data"), base_dir=tmp_path)) as nd,
        serve(nd) as base,
    ):
        answer = httpx.post(f"{base}/fever/?api", data={"api_key": fever_key("eve", password)})
        assert answer.json()["auth"] == 1
    assert runner.invoke(app, ["user", "remove", "eve"]).exit_code == 0
    missing = runner.invoke(app, ["user", "remove", "eve"])
    assert missing.exit_code == 1 and "no such user" in missing.stderr
