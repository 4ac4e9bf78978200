"""The web UI's routes: server-rendered pages over the library facade, in-process (no HTTP to the API).

Every page is a thin handler: read the request, call the facade — reads through its catalog
(:mod:`newsdesk.catalog`) — and render a template. Anonymous readers see published articles only; a
signed-in editor sees everything. The handlers live by what they do, and :data:`router` includes them
in this order:

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

Wiring: ``create_app(nd)`` in the API includes :data:`router` and calls :func:`mount_static`. The router
finds the facade on ``app.state`` — the API's context (``app.state.newsdesk_api.nd``) or, in a web-only
app, ``app.state.newsdesk`` (see :func:`create_web_app`).
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from ..api.cache import TOKEN_KEY
from ..app import Newsdesk
from . import alerts, editing, images, live, pages, reading, sourcecontrol, sources, users
from .context import cached_page_token
from .views import STATIC


def _answer_head(group: APIRouter) -> APIRouter:
    """Let every GET page of ``group`` answer HEAD too (RFC 9110 §9.3.2: same headers, no body). FastAPI
    routes answer only the methods they list, so a monitor's or link checker's ``HEAD /`` got a 405;
    the server sends no body for HEAD."""
    for route in group.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
    return group


router = APIRouter(include_in_schema=False)
for _module in (
    pages,
    editing,
    reading,
    sources,
    sourcecontrol,
    live,
    users,
    alerts,
    images,
):  # the order their routes are matched in
    router.include_router(_answer_head(_module.router))


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS at ``/static``, and give the response cache (api/cache.py) the way to
    put each visitor's CSRF token into a kept page."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    setattr(app.state, TOKEN_KEY, partial(cached_page_token, app.state))


def create_web_app(nd: Newsdesk) -> FastAPI:
    """The UI alone (no API): for tests and for running the UI without the API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.newsdesk = nd
    app.include_router(router)
    mount_static(app)
    return app
