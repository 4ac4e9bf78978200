"""The web UI's routes: server-rendered pages over the library facade, in-process (no HTTP to the API).

Every page is a thin handler: read the request, call the facade — reads through its catalog
(:mod:`newsdesk.catalog`) — and render a template. Anonymous readers see published articles only; a
signed-in editor sees everything. The handlers live by what they do, and :data:`ROUTES` holds their
routes in this order:

- :mod:`.pages` — front page, topics, one topic, one article, search, stats;
- :mod:`.editing` — sign in and out, the review queue and its actions (publish, reject, fix topics);
- :mod:`.reading` — the queue's filters, read/starred flags, bulk publish/reject and undo;
- :mod:`.sources` — the sources list, adding one (with feed discovery) and removing one;
- :mod:`.users` — reader-app users and their app passwords (admins only);
- :mod:`.alerts` — saved-search alerts (editors), the webhook delivery log (admins), digest unsubscribe;
- :mod:`.sourcecontrol` — poll now, pause, resume and rename one source;
- :mod:`.live` — the change stamp the pages poll to refresh themselves without a reload;
- :mod:`.images` — article images and thumbnails from the cache.

What they share — the per-app context, rendering, the editor and CSRF checks — is in :mod:`.context`.

Wiring: ``create_app(nd)`` in the API puts :data:`ROUTES` in its app, loaded on the first request that
reaches them (``newsdesk.api.lazy``), and calls :func:`mount_static` (:mod:`.static`) at once. The pages
find the facade on ``app.state`` — the API's context (``app.state.newsdesk_api.nd``) or, in a web-only
app, ``app.state.newsdesk`` (see :func:`create_web_app`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ..api.app import add_routes
from ..app import Newsdesk
from . import alerts, editing, images, live, pages, reading, sourcecontrol, sources, users
from .static import mount_static

__all__ = ["ROUTES", "create_web_app", "mount_static"]


def _answer_head(group: APIRouter) -> APIRouter:
    """Let every GET page of ``group`` answer HEAD too (RFC 9110 §9.3.2: same headers, no body). FastAPI
    routes answer only the methods they list, so a monitor's or link checker's ``HEAD /`` got a 405;
    the server sends no body for HEAD."""
    for route in group.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
    return group


ROUTES: tuple[BaseRoute, ...] = tuple(
    route
    for module in (pages, editing, reading, sources, sourcecontrol, live, users, alerts, images)
    for route in _answer_head(module.router).routes
)
"""Every page's route as its module built it, in the order they are matched. An app adds them as they
are (``newsdesk.api.app.add_routes`` says why not through ``include_router``)."""


def create_web_app(nd: Newsdesk) -> FastAPI:
    """The UI alone (no API): for tests and for running the UI without the API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.newsdesk = nd
    add_routes(app, ROUTES)
    mount_static(app)
    return app
