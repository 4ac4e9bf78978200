"""The app's start (api/app.py, api/lazy.py): the UI's pages, the reader APIs and the metrics load on
first use, and then answer exactly as routes in the app's own list would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.api.lazy import LazyRoutes
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.web.routes import create_web_app, mount_static

LATER = ["newsdesk.web.routes", "newsdesk.web.pages", "newsdesk.readerapi.greader", "prometheus_client"]
# A fresh interpreter: what create_app imported, then what each first request added.
PROBE = """
import json, sys
from fastapi.testclient import TestClient
from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
later = {later!r}
loaded = lambda: [m for m in later if m in sys.modules]
with Newsdesk(load_settings()) as nd:
    nd.init()
    app = create_app(nd)
    seen = {{"create_app": loaded()}}
    with TestClient(app) as client:
        for path in ("/healthz", "/api/v1/health", "/", "/reader/api/0/user-info", "/metrics"):
            seen[path] = [client.get(path).status_code, loaded()]
print("SEEN=" + json.dumps(seen))
"""
# Every kind of answer a route list gives: pages, HEAD on a GET page, 405 for a known path (Allow),
# redirects of a trailing slash, 404s, path parameters, the sign-in form's POST without its token.
PATHS = [
    "/",
    "/topics",
    "/topics/",
    "/topics/nowhere",
    "/login",
    "/review",
    "/live/stamp",
    "/articles/nope",
    "/images/00/thumb",
    "/static/app.css",
    "/static/none.css",
    "/nope",
    "/nope/",
    "/users",
    "/alerts",
    "/webhooks",
]
REQUESTS = [(method, path) for path in PATHS for method in ("GET", "HEAD", "POST", "DELETE")]


@pytest.fixture
def nd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Newsdesk]:
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSDESK_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("NEWSDESK_ENRICH", "0")
    with Newsdesk(load_settings()) as desk:
        desk.init()
        yield desk


def test_create_app_leaves_the_pages_reader_apis_and_metrics_to_their_first_request(tmp_path: Path) -> None:
    env = os.environ | {
        "NEWSDESK_DATA_DIR": str(tmp_path),
        "NEWSDESK_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSDESK_ENRICH": "0",
    }
    code = PROBE.format(later=LATER)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.rpartition("SEEN=")[2])
    assert seen["create_app"] == []
    assert seen["/healthz"] == [200, []]
    assert seen["/api/v1/health"] == [200, []]
    assert seen["/"] == [200, ["newsdesk.web.routes", "newsdesk.web.pages", "newsdesk.readerapi.greader"]]
    assert seen["/reader/api/0/user-info"][0] == 401  # no reader-app password sent
    assert seen["/metrics"] == [200, LATER]


def _answers(app: FastAPI) -> list[tuple[str, str, int, str | None, str | None]]:
    with TestClient(app) as client:
        answers = []
        for method, path in REQUESTS:
            reply = client.request(method, path, follow_redirects=False)
            allow = reply.headers.get("allow")
            methods = ", ".join(sorted(allow.split(", "))) if allow else None  # a set's order
            answers.append((method, path, reply.status_code, methods, reply.headers.get("location")))
        return answers


def test_lazy_pages_answer_as_the_pages_in_the_app_s_own_list(nd: Newsdesk) -> None:
    lazy = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    lazy.state.newsdesk = nd
    routes = LazyRoutes("newsdesk.web.routes")
    lazy.router.routes.append(routes)
    mount_static(lazy)
    assert _answers(lazy) == _answers(create_web_app(nd))
    assert routes.loaded


def test_lazy_routes_resolve_names_as_their_routes_do(nd: Newsdesk) -> None:
    from newsdesk.readerapi.routes import ROUTES

    app = create_app(nd)
    assert app.url_path_for("front") == "/"
    first = next(route for route in ROUTES if getattr(route, "name", None) == "fever")
    assert app.url_path_for("fever") == first.url_path_for("fever")


def test_the_openapi_document_holds_the_problem_schema_every_error_refers_to(nd: Newsdesk) -> None:
    with TestClient(create_app(nd)) as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert list(schemas) == sorted(schemas)
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail", "instance"]
    assert "FieldProblem" in schemas
    unavailable = document["paths"]["/api/v1/health"]["get"]["responses"]["503"]["content"]
    assert unavailable["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
