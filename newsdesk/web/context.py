"""The plumbing every page module shares: the per-app :class:`WebContext`, rendering, and who is asking.

A page handler takes ``web: Web`` (the context, found or built on ``app.state`` on first use), asks
:func:`audience` what the visitor may see, and answers with :func:`render` or :func:`error_page` — which
add the CSRF cookie and the security headers every page carries. A form POST first calls
:func:`require_editor`, which checks the CSRF token and the editor session (:mod:`.session`) and raises
:class:`Denied` with the page to show instead; after the action, :func:`back` redirects (303) so a reload
never repeats it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api.cache import CSRF_MARKER, for_cache
from ..app import Newsdesk
from ..catalog import Audience, Catalog
from .session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    EDITOR_SCOPES,
    SESSION_COOKIE,
    Editor,
    Signer,
    csrf_matches,
    csrf_valid,
    new_csrf,
    read_session,
)
from .views import environment

STATE_KEY = "newsdesk_web"
SECRET_KEY = "web_secret"  # app.state: the signing secret shared by a server's worker processes
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline script or style at all: even if a hostile title slipped past escaping, it could not run."""

_context_lock = threading.Lock()


@dataclass
class WebContext:
    """What every page handler needs; one per app, created on first use."""

    nd: Newsdesk
    signer: Signer
    has_api: bool = False  # the API is mounted: link to its record files, feeds and docs
    templates: jinja2.Environment = field(default_factory=environment)

    @property
    def catalog(self) -> Catalog:
        return self.nd.catalog

    @property
    def semantic_search(self) -> bool:
        """The search page offers the semantic modes when the API is mounted: it serves the same
        catalog, and the API is where a deployment sets up the embedding model for queries."""
        return self.has_api


def web_context(request: Request) -> WebContext:
    """This app's :class:`WebContext`, built from ``app.state`` on first use."""
    return context_of(request.app.state)


def context_of(state: Any) -> WebContext:
    """The :class:`WebContext` kept on ``state`` (an app's), built on first use."""
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
    """Over the API's facade when the API is mounted, else over ``app.state.newsdesk``."""
    api_nd = getattr(getattr(state, "newsdesk_api", None), "nd", None)
    if isinstance(api_nd, Newsdesk):
        return WebContext(api_nd, _signer(state), has_api=True)
    nd = getattr(state, "newsdesk", None)
    if not isinstance(nd, Newsdesk):
        raise RuntimeError("the web UI needs app.state.newsdesk (or the API context) to be set")
    return WebContext(nd, _signer(state))


def _signer(state: Any) -> Signer:
    """Signs with ``app.state.web_secret`` when the server set one — every worker process of one
    ``serve`` shares it, so a session or form made by one is good in the others — else a random one."""
    secret = getattr(state, SECRET_KEY, None)
    return Signer(secret) if isinstance(secret, bytes) else Signer.random()


Web = Annotated[WebContext, Depends(web_context)]


# --------------------------------------------------------------------------------------- who is asking


def _editor(request: Request, web: WebContext) -> Editor | None:
    return read_session(web.signer, request.cookies.get(SESSION_COOKIE), time.time())


def live_editor(request: Request, web: WebContext) -> Editor | None:
    """The signed-in editor, unless their token was revoked since (their session ends with it)."""
    editor = _editor(request, web)
    return editor if editor is not None and web.nd.tokens.live(editor.token_id) else None


def audience(request: Request, web: WebContext) -> Audience:
    """Everything for a signed-in editor; published articles for everybody else."""
    return Audience.of(live_editor(request, web) is not None)


def reads_full_text(request: Request, web: WebContext) -> bool:
    """Whether the visitor may read articles' full text: a live editor session of a scope that may act
    on articles (write or admin). Anonymous readers never do, and read-only tokens cannot sign in."""
    editor = live_editor(request, web)
    return editor is not None and editor.scope in EDITOR_SCOPES


def secure(request: Request) -> bool:
    """Whether cookies set in answer to ``request`` get the ``Secure`` flag (it came over https)."""
    return request.url.scheme == "https"


# ------------------------------------------------------------------------------------------ answers


def render(request: Request, web: WebContext, name: str, *, status: int = 200, **data: Any) -> HTMLResponse:
    """Render a page: adds the signed-in editor, the CSRF token (set as a cookie when missing) and the
    security headers every page carries. A page the response cache will keep for every anonymous
    visitor holds a marker instead of the token; the cache puts each visitor's own in (api/cache.py)."""
    shared = for_cache(request.scope)
    cookie = request.cookies.get(CSRF_COOKIE)
    token = CSRF_MARKER if shared else page_token(web, cookie)
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
    if token != cookie and not shared:
        _set_csrf(response, token, secure(request))
    _headers(response)
    return response


def page_token(web: WebContext, cookie: str | None) -> str:
    """The visitor's CSRF token: their cookie when it is one of ours, else a new one."""
    return cookie if cookie and csrf_valid(web.signer, cookie) else new_csrf(web.signer)


def _set_csrf(response: Response, token: str, https: bool) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=https, path="/")


def cached_page_token(state: Any, cookie: str | None, https: bool) -> tuple[str, str | None]:
    """For the response cache: the token to put in a kept page, and the ``Set-Cookie`` header value
    when the visitor had none of ours."""
    token = page_token(context_of(state), cookie)
    if token == cookie:
        return token, None
    carrier = Response()
    _set_csrf(carrier, token, https)
    return token, carrier.headers["set-cookie"]


def _headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"


def no_store(response: HTMLResponse) -> HTMLResponse:
    """Mark a page that carries decrypted full text: no browser or proxy cache may keep a copy
    (RFC 9111 §5.2.2.5), so the clear text lives only on the screen of the editor who asked."""
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, web: WebContext, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, web, "error.html", status=status, code=status, title=title, detail=detail)


def back(to: str) -> RedirectResponse:
    """Send the browser on to ``to`` after a form POST (303: it follows with a GET)."""
    return RedirectResponse(to, status_code=303)


class Denied(Exception):
    """A form POST refused by :func:`require_editor`; ``response`` is the page to show instead."""

    def __init__(self, response: HTMLResponse) -> None:
        self.response = response


def require_editor(request: Request, web: WebContext, submitted: str | None) -> Editor:
    """The editor behind a form POST; raises :class:`Denied` (with the page to show) when the CSRF
    token does not match, nobody is signed in, or their token was revoked since."""
    if not csrf_matches(web.signer, request.cookies.get(CSRF_COOKIE), submitted):
        detail = "The form's security token is missing or stale. Reload the page and try again."
        raise Denied(error_page(request, web, 403, "Form expired", detail))
    editor = live_editor(request, web)
    if editor is None:
        detail = "Sign in with an editor token (scope write or admin) to do this."
        raise Denied(error_page(request, web, 401, "Sign in required", detail))
    return editor
