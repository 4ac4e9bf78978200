"""``/docs`` works on a machine without internet: the page names no other host, its Swagger UI files come
from the installed package, page and files carry the same kind of security headers as the UI, and the
UI's pages answer HEAD like GET."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.api.docs import assets_dir
from newsdesk.app import Newsdesk
from newsdesk.web.routes import create_web_app
from tests.test_authz import make_desk

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")
URL_IN_ATTRIBUTE = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk) -> TestClient:
    return TestClient(create_app(desk))


def _csp(headers: object) -> dict[str, list[str]]:
    policy: str = headers["content-security-policy"]  # type: ignore[index]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def test_docs_page_names_no_other_host(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    linked = URL_IN_ATTRIBUTE.findall(page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert linked and all(u.startswith("/") and not u.startswith("//") for u in linked), linked
    assert "http://" not in page.text and "https://" not in page.text
    assert {f"/docs/assets/{name}" for name in ASSETS} <= set(linked)


def test_docs_assets_are_served_from_the_package(client: TestClient) -> None:
    for name in ASSETS:
        served = client.get(f"/docs/assets/{name}")
        assert served.status_code == 200, name
        assert served.content == (assets_dir() / name).read_bytes()
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["x-frame-options"] == "DENY"
        assert _csp(served.headers)["default-src"] == ["'self'"]
    assert b"SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").content


def test_docs_page_allows_this_origin_and_its_own_script_only(client: TestClient) -> None:
    page = client.get("/docs")
    policy = _csp(page.headers)
    assert page.headers["x-frame-options"] == "DENY"
    assert policy["default-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert len(inline) == 1 and policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]


@pytest.mark.parametrize("with_api", [True, False])
def test_ui_pages_answer_head_like_get(desk: Newsdesk, with_api: bool) -> None:
    client = TestClient(create_app(desk) if with_api else create_web_app(desk))
    for path in ("/", "/topics", "/login", "/stats"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-security-policy"] == got.headers["content-security-policy"]
    if with_api:
        assert client.head("/docs").status_code == 200
