"""The web UI's routes: server-rendered pages over the library facade, in-process (no HTTP to the API).

Every page is a thin handler: read the request, call the facade — reads through its catalog
(:mod:`newsdesk.catalog`) — and render a template. Anonymous readers see published articles only; a
signed-in editor sees everything.
Actions (publish, reject, fix topics, add/remove a source) are plain HTML form POSTs that need an editor
session and a matching CSRF token (:mod:`.session`); after one, the browser is redirected (303) back to
the page it came from, so a reload never repeats an action.

Wiring: ``create_app(nd)`` in the API includes :data:`router` and calls :func:`mount_static`. The router
finds the facade on ``app.state`` — the API's context (``app.state.newsdesk_api.nd``) or, in a web-only
app, ``app.state.newsdesk`` (see :func:`create_web_app`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..app import Editorial, Newsdesk, Tokens
from ..catalog import Audience, Catalog, Hit, topic_tree
from ..errors import NewsdeskError, StorageError
from ..extract.images import SHA256_RE
from ..fetch.client import Fetcher
from ..model import Article, Source, Story, is_http_url
from ..pipeline import fetch_policy
from ..store import ArticleQuery
from .addsource import find_feed
from .charts import stacked_bars
from .session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    EDITOR_SCOPES,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Editor,
    Signer,
    csrf_matches,
    csrf_valid,
    new_csrf,
    read_session,
    session_value,
)
from .views import STATIC, environment

log = logging.getLogger(__name__)

STATE_KEY = "newsdesk_web"
HOT_STORIES = 8  # front-page stories: one screen of cards on a laptop
LATEST = 20  # articles per list page
REVIEW_PAGE = 25  # review cards per page: j/k through a page takes about a minute
SEARCH_LIMIT = 30
STATS_DAYS = 14  # default chart window: two weeks shows weekday rhythm without crowding the labels
STATS_MAX_DAYS = 90
STATS_SERIES = 8  # topics drawn; one colour each (the palette has eight)
SEARCH_MODES = ("text", "semantic", "hybrid")
NOT_DONE = {"publish": "Not published", "reject": "Not rejected", "topics": "Topics not changed"}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline script or style at all: even if a hostile title slipped past escaping, it could not run."""

router = APIRouter(include_in_schema=False)
_context_lock = threading.Lock()


@dataclass
class WebContext:
    """What every page handler needs; one per app, created on first use."""

    catalog: Catalog  # the API's (sharing its vector cache) when the API is mounted
    signer: Signer
    has_api: bool = False  # the API is mounted: link to its record files, feeds and docs
    templates: jinja2.Environment = field(default_factory=environment)

    @property
    def nd(self) -> Newsdesk:
        return self.catalog.nd

    @property
    def semantic_search(self) -> bool:
        return self.catalog.semantic is not None


def web_context(request: Request) -> WebContext:
    """This app's :class:`WebContext`, built from ``app.state`` on first use."""
    state = request.app.state
    context: WebContext | None = getattr(state, STATE_KEY, None)
    if context is not None:
        return context
    with _context_lock:
        context = getattr(state, STATE_KEY, None)
        if context is None:
            context = _new_context(state)
            setattr(state, STATE_KEY, context)
    return context


def _new_context(state: Any) -> WebContext:
    """Over the API's catalog when the API is mounted, else over ``app.state.newsdesk``."""
    api_catalog = getattr(getattr(state, "newsdesk_api", None), "catalog", None)
    if isinstance(api_catalog, Catalog):
        return WebContext(api_catalog, Signer.random(), has_api=True)
    nd = getattr(state, "newsdesk", None)
    if not isinstance(nd, Newsdesk):
        raise RuntimeError("the web UI needs app.state.newsdesk (or the API context) to be set")
    return WebContext(Catalog(nd), Signer.random())


Web = Annotated[WebContext, Depends(web_context)]


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS at ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def create_web_app(nd: Newsdesk) -> FastAPI:
    """The UI alone (no API): for tests and for running the UI without the API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.newsdesk = nd
    app.include_router(router)
    mount_static(app)
    return app


# --------------------------------------------------------------------------------------- rendering


def _editor(request: Request, web: WebContext) -> Editor | None:
    return read_session(web.signer, request.cookies.get(SESSION_COOKIE), time.time())


def _live_editor(request: Request, web: WebContext) -> Editor | None:
    """The signed-in editor, unless their token was revoked since (their session ends with it)."""
    editor = _editor(request, web)
    return editor if editor is not None and web.catalog.token_live(editor.token_id) else None


def _audience(request: Request, web: WebContext) -> Audience:
    """Everything for a signed-in editor; published articles for everybody else."""
    return Audience.of(_live_editor(request, web) is not None)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def render(request: Request, web: WebContext, name: str, *, status: int = 200, **data: Any) -> HTMLResponse:
    """Render a page: adds the signed-in editor, the CSRF token (set as a cookie when missing) and the
    security headers every page carries."""
    cookie = request.cookies.get(CSRF_COOKIE)
    token = cookie if cookie and csrf_valid(web.signer, cookie) else new_csrf(web.signer)
    page = web.templates.get_template(name).render(
        request=request,
        editor=_editor(request, web),
        csrf=token,
        csrf_field=CSRF_FIELD,
        has_api=web.has_api,
        path=request.url.path,
        **data,
    )
    response = HTMLResponse(page, status_code=status)
    if token != cookie:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/"
        )
    _headers(response)
    return response


def _headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"


def error_page(request: Request, web: WebContext, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, web, "error.html", status=status, code=status, title=title, detail=detail)


def _back(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def _local(path: str | None, default: str) -> str:
    """``path`` when it is a path on this site, else ``default`` (no open redirects via ``next``)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


class _Denied(Exception):
    def __init__(self, response: HTMLResponse) -> None:
        self.response = response


def _require_editor(request: Request, web: WebContext, submitted: str | None) -> Editor:
    """The editor behind a form POST; raises :class:`_Denied` (with the page to show) when the CSRF
    token does not match, nobody is signed in, or their token was revoked since."""
    if not csrf_matches(web.signer, request.cookies.get(CSRF_COOKIE), submitted):
        detail = "The form's security token is missing or stale. Reload the page and try again."
        raise _Denied(error_page(request, web, 403, "Form expired", detail))
    editor = _live_editor(request, web)
    if editor is None:
        detail = "Sign in with an editor token (scope write or admin) to do this."
        raise _Denied(error_page(request, web, 401, "Sign in required", detail))
    return editor


# ----------------------------------------------------------------------------------------- reading
# Anonymous readers see published articles only; a signed-in editor (with a live token) sees everything.


@router.get("/", response_class=HTMLResponse)
def front(request: Request, web: Web, cursor: str | None = None) -> HTMLResponse:
    catalog, viewer = web.catalog, _audience(request, web)
    stories = catalog.hot_stories(viewer, HOT_STORIES) if cursor is None else []
    try:
        latest = catalog.articles(ArticleQuery(limit=LATEST, cursor=cursor), viewer)
    except StorageError as e:
        return error_page(request, web, 400, "Bad page link", str(e))
    tree = catalog.topic_tree(viewer)
    return render(request, web, "front.html", stories=stories, latest=latest, tree=tree)


@router.get("/topics", response_class=HTMLResponse)
def topics(request: Request, web: Web) -> HTMLResponse:
    tree = web.catalog.topic_tree(_audience(request, web))
    return render(request, web, "topics.html", tree=tree, current=None)


@router.get("/topics/{name}", response_class=HTMLResponse)
def topic(request: Request, web: Web, name: str, cursor: str | None = None) -> HTMLResponse:
    catalog, viewer, taxonomy = web.catalog, _audience(request, web), web.nd.taxonomy
    found = catalog.find_topic(name)
    if found is None:
        return error_page(request, web, 404, "No such topic", f"The taxonomy has no topic called “{name}”.")
    try:
        latest = catalog.articles(ArticleQuery(topic=found.name, limit=LATEST, cursor=cursor), viewer)
    except StorageError as e:
        return error_page(request, web, 400, "Bad page link", str(e))
    published = catalog.articles(ArticleQuery(topic=found.name, published=True, limit=LATEST), viewer).items
    counts = catalog.topic_counts(viewer)
    return render(
        request,
        web,
        "topic.html",
        topic=found,
        ancestors=taxonomy.ancestors(found.name),
        children=[(c.name, counts.get(c.name, 0)) for c in taxonomy.children(found.name)],
        tree=topic_tree(taxonomy, counts),
        current=found.name,
        latest=latest,
        published=published,
        count=counts.get(found.name, 0),
    )


@router.get("/articles/{key}", response_class=HTMLResponse)
def article(request: Request, web: Web, key: str) -> HTMLResponse:
    viewer = _audience(request, web)
    try:
        found = web.catalog.article(int(key), viewer) if key.isdigit() else None
    except StorageError:
        found = None
    if found is None or found.id is None:
        return error_page(request, web, 404, "No such article", f"There is no article with id “{key}”.")
    store = web.nd.store
    return render(
        request,
        web,
        "article.html",
        a=found,
        alternates=store.alternates(found.id),
        siblings=web.catalog.story_siblings(found, viewer),
        decisions=store.decisions(found.id),
        story=_story(web, found, viewer),
        topic_names=[t.name for t in web.nd.taxonomy.topics],
    )


def _story(web: WebContext, found: Article, viewer: Audience) -> Story | None:
    if found.story_id is None:
        return None
    try:
        return web.catalog.story(found.story_id, viewer)[0]
    except StorageError:
        return None


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, web: Web, q: str = "", mode: str = "text") -> HTMLResponse:
    modes = SEARCH_MODES if web.semantic_search else ("text",)
    mode = mode if mode in modes else "text"
    viewer = _audience(request, web)
    hits, note = _search(web, q.strip(), mode, viewer) if q.strip() else ([], None)
    return render(request, web, "search.html", q=q, mode=mode, modes=modes, hits=hits, note=note)


def _search(web: WebContext, q: str, mode: str, viewer: Audience) -> tuple[list[Hit], str | None]:
    """Hits for ``q``. Semantic modes need the embedding model; when it cannot load, the page falls
    back to text search and says so."""
    try:
        return web.catalog.search(q, mode, SEARCH_LIMIT, viewer), None
    except (NewsdeskError, OSError) as e:  # model files missing or unreadable
        if mode == "text":
            raise
        note = f"{mode} search is unavailable ({e}); showing text matches."
        return web.catalog.search(q, "text", SEARCH_LIMIT, viewer), note


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request, web: Web, days: int = STATS_DAYS, parent: str = "") -> HTMLResponse:
    catalog, viewer, taxonomy = web.catalog, _audience(request, web), web.nd.taxonomy
    days = max(1, min(days, STATS_MAX_DAYS))
    counts = catalog.topic_counts(viewer)
    group = catalog.find_topic(parent) if parent else None
    members = taxonomy.children(group.name if group else None)
    names = sorted((t.name for t in members), key=lambda n: -counts.get(n, 0))[:STATS_SERIES]
    daily = catalog.daily_topic_counts(names, viewer, days=days, end=datetime.now(UTC).date())
    chart = stacked_bars(daily.days, daily.series)
    return render(
        request,
        web,
        "stats.html",
        daily=daily,
        chart=chart,
        days=days,
        group=group,
        parents=[t for t in taxonomy.topics if taxonomy.children(t.name)],
        counts=counts,
        total=catalog.count_articles(viewer),
        sources=len(web.nd.list_sources()),
        tree=topic_tree(taxonomy, counts),
    )


# ---------------------------------------------------------------------------------------- sessions


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, web: Web, next: str = "/review") -> HTMLResponse:
    return render(request, web, "login.html", next=_local(next, "/review"), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    web: Web,
    token: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    target = _local(next, "/review")
    if not csrf_matches(web.signer, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, web, 403, "Form expired", "Reload the sign-in page and try again.")
    row = Tokens(web.nd).verify(token.strip())
    if row is None or row["scope"] not in EDITOR_SCOPES:
        error = (
            "That token is not valid."
            if row is None
            else "That token is read-only; editors need write or admin."
        )
        return render(request, web, "login.html", status=401, next=target, error=error)
    response = _back(target)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(web.signer, row, time.time()),
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    log.info("editor signed in", extra={"token_id": row["id"], "token_name": row["name"]})
    return response


@router.post("/logout")
def logout(request: Request, web: Web, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not csrf_matches(web.signer, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, web, 403, "Form expired", "Reload the page and try again.")
    response = _back("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------ review


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, web: Web, cursor: str | None = None, done: str = "", id: int = 0) -> Response:
    if _live_editor(request, web) is None:  # the queue is all unpublished articles: editors only
        return _back("/login?next=" + quote("/review"))
    try:
        page = Editorial(web.nd).queue(limit=REVIEW_PAGE, cursor=cursor)
    except StorageError as e:
        return error_page(request, web, 400, "Bad page link", str(e))
    flash = _flash(web, done, id)
    return render(
        request,
        web,
        "review.html",
        page=page,
        flash=flash,
        topics=web.nd.taxonomy.topics,
        depth=web.nd.taxonomy.depth,
    )


def _flash(web: WebContext, done: str, article_id: int) -> str | None:
    """The confirmation after an action, rebuilt from the store (never echoed from the query string)."""
    verbs = {
        "publish": "Published",
        "reject": "Rejected",
        "topics": "Updated topics of",
        "noop": "Already done:",
    }
    if done not in verbs or not article_id:
        return None
    try:
        title = web.nd.store.get_article(article_id).title
    except StorageError:
        return None
    return f"{verbs[done]} “{title}”"


def _review_target(next_page: str | None, done: str, article_id: int) -> str:
    base = _local(next_page, "/review")
    if base.startswith("/review"):
        return f"/review?done={done}&id={article_id}"
    return base


@router.post("/review/{article_id}/publish")
def publish(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    def act(editor: Editor) -> bool:
        return Editorial(web.nd).publish(article_id, actor=editor.actor)

    return _act(request, web, csrf_token, article_id, next, "publish", act)


@router.post("/review/{article_id}/reject")
def reject(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    if not reason.strip():
        return error_page(
            request, web, 400, "Reason needed", "Say why the article is rejected; it trains the models."
        )

    def act(editor: Editor) -> bool:
        return Editorial(web.nd).reject(article_id, actor=editor.actor, reason=reason.strip())

    return _act(request, web, csrf_token, article_id, next, "reject", act)


@router.post("/review/{article_id}/topics")
def set_topics(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    topic: Annotated[list[str] | None, Form()] = None,
    next: Annotated[str, Form()] = "/review",
) -> Response:

    def act(editor: Editor) -> bool:
        Editorial(web.nd).set_topics(article_id, topic or [], actor=editor.actor, reason="fixed in review")
        return True

    return _act(request, web, csrf_token, article_id, next, "topics", act)


def _act(
    request: Request,
    web: WebContext,
    token: str,
    article_id: int,
    next_page: str,
    action: str,
    act: Callable[[Editor], bool],
) -> Response:
    """Run one editor action on an article (``act`` says whether it changed anything) and send the
    browser back. The checks are the same for every action: CSRF and a live session (401/403 pages),
    an existing article (404), and a library refusal such as an unknown topic (400)."""
    try:
        changed = act(_require_editor(request, web, token))
    except _Denied as denied:
        return denied.response
    except StorageError:
        return error_page(request, web, 404, "No such article", f"There is no article with id {article_id}.")
    except NewsdeskError as e:
        return error_page(request, web, 400, NOT_DONE[action], str(e))
    log.info("editor decision", extra={"article_id": article_id, "action": action, "changed": changed})
    return _back(_review_target(next_page, action if changed else "noop", article_id))


# ----------------------------------------------------------------------------------------- sources


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, web: Web, added: int = 0) -> HTMLResponse:
    views = web.catalog.source_health(_audience(request, web))
    just_added = next((v.source for v in views if v.source.id == added), None)
    return render(request, web, "sources.html", views=views, added=just_added, error=None, url="")


@router.post("/sources", response_class=HTMLResponse)
async def add_source(
    request: Request,
    web: Web,
    url: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    try:
        await run_in_threadpool(_require_editor, request, web, csrf_token)
    except _Denied as denied:
        return denied.response
    url = url.strip()
    error, source = await _discover_and_add(web, url, name.strip())
    if source is None:
        views = await run_in_threadpool(web.catalog.source_health, Audience.TRUSTED)  # an editor's form
        return render(request, web, "sources.html", status=422, views=views, added=None, error=error, url=url)
    return _back(f"/sources?added={source.id}")


async def _discover_and_add(web: WebContext, url: str, name: str) -> tuple[str | None, Source | None]:
    if not is_http_url(url):
        return "Enter a full http(s) address, like https://example.com/ or its feed URL.", None
    try:
        async with Fetcher(fetch_policy(web.nd.settings, web.nd.resolve)) as fetcher:
            found = await find_feed(url, fetcher)
        source = Source(url=found.url, kind=found.kind, name=name or found.title)
        return None, await run_in_threadpool(web.nd.add_source, source)
    except NewsdeskError as e:
        log.info("source not added", extra={"url": url, "error_kind": e.kind})
        return str(e), None


@router.post("/sources/{source_id}/remove")
def remove_source(
    request: Request, web: Web, source_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    try:
        _require_editor(request, web, csrf_token)
        web.nd.remove_source(source_id)
    except _Denied as denied:
        return denied.response
    except StorageError:
        return error_page(request, web, 404, "No such source", f"There is no source with id {source_id}.")
    return _back("/sources")


# ------------------------------------------------------------------------------------------ images
# The API serves images under /api/v1/images, behind its read-token policy; the pages need them
# same-origin and without a token whatever that policy is, so the UI serves the cache itself — by the
# pages' rule: anonymous readers get the images of published articles only, a signed-in editor all.


@router.get("/images/{sha256}/thumb")
def thumbnail(request: Request, web: Web, sha256: str) -> Response:
    viewer = _audience(request, web)
    path = web.nd.images.thumbnail_for(sha256) if _image_shown(web, sha256, viewer) else None
    return _image_response(request, web, path, viewer, "image/jpeg")


@router.get("/images/{sha256}")
def image(request: Request, web: Web, sha256: str) -> Response:
    viewer = _audience(request, web)
    path = web.nd.images.path_for(sha256) if _image_shown(web, sha256, viewer) else None
    return _image_response(request, web, path, viewer)


def _image_shown(web: WebContext, sha256: str, viewer: Audience) -> bool:
    """Decided before the cache is looked at, so a refused request does not count as a use of the
    file (nor take longer when it exists)."""
    return SHA256_RE.fullmatch(sha256) is not None and web.catalog.image_visible(sha256, viewer)


def _image_response(
    request: Request, web: WebContext, path: Path | None, viewer: Audience, media_type: str | None = None
) -> Response:
    """The file, or the one "not in the cache" page whether the hash is unknown or hidden (so the page
    does not confirm that an unpublished article's image exists). An editor's answer is ``private``:
    a shared cache must not hand it on to anonymous readers."""
    if path is None:
        return error_page(request, web, 404, "No such image", "That image is not in the cache.")
    headers = {} if viewer.published_only else {"Cache-Control": "private"}
    return FileResponse(path, media_type=media_type, headers=headers)
