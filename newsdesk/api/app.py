"""The REST API application: ``create_app(nd)`` builds it over a library facade, ``serve`` runs it.

A request passes, outermost first: CORS (only when ``cors_origins`` is set) → the body cap (413 before
parsing) → security headers → FastAPI routing → the route's auth/rate-limit dependency (``auth.py``) → a
handler (``articles.py``, ``sources.py``, ``browse.py``, ``outputs.py``) that calls the facade (reads go
through ``newsdesk.catalog``) and shapes the answer (the models of ``schemas.py``). Errors anywhere become
RFC 9457 problems (``problems.py``). The routes are listed in one table, ``routes.py``. When the web UI
package (``newsdesk.web``) is present, its pages are served by the same app; they, and the reader apps'
APIs, are imported on their first request (``lazy.py``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from .. import __version__
from ..app import Newsdesk
from ..desk import Desk
from ..errors import StorageError
from ..logs import check_log_format, use_json_lines
from . import docs, ops, problems, routes
from .cache import ResponseCache
from .context import STATE_KEY, ApiContext
from .lazy import LazyRoutes
from .middleware import MAX_BODY_BYTES, BodyLimit, SecurityHeaders
from .ratelimit import RateLimiter
from .workers import serve_workers

if TYPE_CHECKING:
    from ..catalog import Embedder

log = logging.getLogger(__name__)

READER_ROUTES = "newsdesk.readerapi.routes"  # Google Reader and Fever APIs for reader apps
WEB_ROUTES = "newsdesk.web.routes"  # the web UI's pages
WEB_STATIC = "newsdesk.web.static"  # its /static files, served from the start
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type"]
DESCRIPTION = (
    "Article records, stories, topics, sources, search, feeds and editorial actions. "
    "Errors are RFC 9457 problem documents. Send `Authorization: Bearer <token>` where a token is needed."
)


def create_app(
    nd: Newsdesk,
    *,
    embedder: Embedder | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    include_web: bool = True,
    desk: Desk | None = None,
    web_secret: bytes | None = None,
) -> FastAPI:
    """The API over ``nd``. ``embedder`` serves semantic search (default: the ``embed_model`` setting,
    loaded on the first semantic query — it must be the model that embedded the stored articles).
    ``include_web=False`` serves the API alone, without the UI pages. ``desk``, when given, runs
    while the app does (started and stopped by its lifespan). ``web_secret`` signs the UI's sessions
    and forms (default: a random one per app; ``workers.py`` gives its processes one to share)."""
    settings = nd.settings
    operations = ops.Ops(nd, desk, ops.LoopLag())
    app = FastAPI(
        title="newsdesk",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=operations.lifespan,
    )
    docs.install(app)  # /docs from the package's Swagger UI files, not a CDN
    routes.document(app)
    if embedder is not None:
        nd.catalog.use_embedder(embedder)
    context = ApiContext(nd, RateLimiter(settings.write_rate_limit), bool(settings.public_read))
    setattr(app.state, STATE_KEY, context)
    if web_secret is not None:
        app.state.web_secret = web_secret
    problems.install(app)
    add_routes(app, routes.router(public_read=context.public_read).routes)
    add_routes(app, ops.router(operations).routes)
    add_routes(app, [LazyRoutes(READER_ROUTES)])  # imported on first use, as are the pages (lazy.py)
    if include_web:
        _include_web(app)
    app.add_middleware(
        ResponseCache,
        stamp=partial(_change_stamp, nd),
        local=nd.catalog.local_changes,
        entries=settings.response_cache,
        reading=nd.catalog.reading,
        touched=partial(_touched, nd),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
        )
    return app


def add_routes(app: FastAPI, built: Iterable[BaseRoute]) -> None:
    """Add routes, already built, to ``app`` as they are, in their order.

    Why not ``app.include_router``: in FastAPI 0.16x it wraps the router and builds each of its routes
    again for the app (dependencies analysed, a pydantic field made per response model, the handler
    made) — once more at start for a router nested in another (its path check) and once more at the
    first request. Our routers add nothing for an include to apply (no prefix beyond their own, no
    tags, dependencies or responses of the router), so the routes they built are the app's routes, and
    each is built once. Measured with bench/serve_start.py (docs/benchmarks.md, "What serve pays to
    start its API"). The app's routes are Starlette's list, matched first to last."""
    app.router.routes.extend(built)


def _change_stamp(nd: Newsdesk) -> Hashable | None:
    """What the response cache keys on: the articles' change stamp (None when the store is down)."""
    try:
        return nd.catalog.change_stamp()
    except StorageError:
        return None


def _touched(nd: Newsdesk, before: Hashable, after: Hashable) -> Callable[[Any], bool]:
    """Which kept answers the changes between two stamps touch (``Catalog.touched``)."""
    return nd.catalog.touched(cast(tuple[Any, ...], before), cast(tuple[Any, ...], after))


def _include_web(app: FastAPI) -> None:
    """Serve the web UI from the same app when its package exists; the API works without it. The
    pages' modules load on the first request that reaches them (lazy.py); the static files are
    served from the start."""
    static = _optional_module(WEB_STATIC)
    if static is None:
        log.info("web UI not installed", extra={"module": WEB_STATIC})
        return
    add_routes(app, [LazyRoutes(WEB_ROUTES)])
    static.mount_static(app)


def _optional_module(name: str) -> ModuleType | None:
    """The module, or None when it (not something it imports) is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            return None
        raise


def serve(nd: Newsdesk, host: str, port: int, *, desk: Desk | None = None, workers: int = 1) -> None:
    """Run the API (and UI) with uvicorn — and the desk, when given — until SIGINT or SIGTERM. With
    ``workers`` above one, that many processes answer requests and this one runs the desk
    (``workers.py``)."""
    json_lines = check_log_format(nd.settings.log_format) == "json"
    if json_lines:
        use_json_lines()
    log.info("serving", extra={"host": host, "port": port, "desk": desk is not None, "workers": workers})
    # with JSON lines, uvicorn's own loggers go through the JSON handler too
    options: dict[str, Any] = {"log_level": "info"} | ({"log_config": None} if json_lines else {})
    if workers > 1:
        serve_workers(nd, host, port, workers, desk=desk, uvicorn_options=options)
        return
    uvicorn.run(create_app(nd, desk=desk), host=host, port=port, **options)
