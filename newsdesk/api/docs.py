"""The API's interactive documentation at ``/docs``, served entirely from this machine.

FastAPI's default page loads Swagger UI from a CDN: blank on a self-hosted machine without internet, and
a third party's script running next to the API tokens people paste into it. Here the page is FastAPI's own
(``get_swagger_ui_html``), pointed at the Swagger UI files the ``fastapi-offline`` package ships
(Swagger UI 5, MIT-licensed wrapper around the Apache-2.0 Swagger UI dist), mounted at
:data:`ASSETS_PATH`. Page and files carry a Content-Security-Policy allowing this origin only; the one
inline script (Swagger UI's start-up call) is allowed by its SHA-256, computed from the page itself, so
no ``'unsafe-inline'`` is needed and the hash cannot drift from the script.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from .middleware import SecurityHeaders

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_PACKAGE = "fastapi_offline"  # ships static/swagger-ui-bundle.js and static/swagger-ui.css
SWAGGER_PARAMETERS = {"validatorUrl": None}  # no badge fetched from the public validator service
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def assets_dir() -> Path:
    """The folder holding Swagger UI's files inside the installed package."""
    return Path(str(importlib.resources.files(ASSETS_PACKAGE) / "static"))


def security_headers(script_hashes: tuple[str, ...] = ()) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of the docs page and its files: like the web UI's, plus ``connect-src 'self'`` for
    the OpenAPI document and "Try it out" requests, and the inline scripts allowed by hash."""
    scripts = " ".join(["'self'", *(f"'sha256-{h}'" for h in script_hashes)])
    csp = (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return (
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    )


def page(app: FastAPI) -> HTMLResponse:
    """The Swagger UI page over ``app``'s OpenAPI document, with local asset URLs and its headers."""
    html = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} — API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )
    body = bytes(html.body)
    hashes = tuple(_sha256(script) for script in _INLINE_SCRIPT.findall(body.decode()))
    headers = {name.decode(): value.decode() for name, value in security_headers(hashes)}
    return HTMLResponse(body, headers=headers)


def _sha256(script: str) -> str:
    """A CSP hash source (CSP3 §8.4): base64 of the SHA-256 of the script's text exactly as served."""
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its files from the package (create the app with ``docs_url=None``)."""
    docs = page(app)  # the page never changes while the app runs: build it once

    def swagger_ui() -> HTMLResponse:
        return docs

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET", "HEAD"], include_in_schema=False)
    files = StaticFiles(directory=assets_dir())
    app.mount(ASSETS_PATH, SecurityHeaders(files, headers=security_headers()), name="docs-assets")
