"""The editor's side of the UI: signing in and out, and the review queue with its actions.

Signing in trades an API token (scope write or admin) for a signed session cookie (:mod:`.session`).
The queue lists every unpublished article, so it is for editors only. Its actions — publish, reject, fix
topics — are plain HTML form POSTs that need that session and a matching CSRF token; after one, the
browser is redirected (303) back to the page it came from, so a reload never repeats the action.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ..catalog import Audience
from ..editorial import SORTS
from ..errors import NewsdeskError, StorageError
from .context import (
    Denied,
    Web,
    WebContext,
    back,
    error_page,
    live_editor,
    no_store,
    reads_full_text,
    render,
    require_editor,
    secure,
)
from .session import (
    CSRF_COOKIE,
    EDITOR_SCOPES,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Editor,
    csrf_matches,
    session_value,
)

log = logging.getLogger(__name__)

REVIEW_PAGE = 25  # review cards per page: j/k through a page takes about a minute
NOT_DONE = {"publish": "Not published", "reject": "Not rejected", "topics": "Topics not changed"}

router = APIRouter(include_in_schema=False)


def _local(path: str | None, default: str) -> str:
    """``path`` when it is a path on this site, else ``default`` (no open redirects via ``next``)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


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
    row = web.nd.tokens.verify(token.strip())
    if row is None or row["scope"] not in EDITOR_SCOPES:
        error = (
            "That token is not valid."
            if row is None
            else "That token is read-only; editors need write or admin."
        )
        return render(request, web, "login.html", status=401, next=target, error=error)
    response = back(target)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(web.signer, row, time.time()),
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/",
    )
    log.info("editor signed in", extra={"token_id": row["id"], "token_name": row["name"]})
    return response


@router.post("/logout")
def logout(request: Request, web: Web, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not csrf_matches(web.signer, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, web, 403, "Form expired", "Reload the page and try again.")
    response = back("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------------------ review


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, web: Web, done: str = "", id: int = 0, bulk: str = "") -> Response:
    """The queue, filtered, sorted and paged by the query string (``web/reading.py``)."""
    from . import reading  # it imports this module's helpers; its router is included after this one

    editor = live_editor(request, web)
    if editor is None or not reads_full_text(request, web):  # unpublished articles: editors only
        return back("/login?next=" + quote("/review"))
    params = dict(request.query_params)
    page = reading.queue_page(web, editor.name, params)
    articles = [i.article for i in page.items]
    undo = reading.bulk_flash(web, bulk, editor.actor) if bulk else None
    here = "/review" + (f"?{urlencode(page.filters)}" if page.filters else "")
    response = render(
        request,
        web,
        "review.html",
        page=page,
        articles=articles,
        texts=web.catalog.full_texts(articles),
        flash=undo[0] if undo else _flash(web, done, id),
        undo_ids=undo[1] if undo else [],
        here=here,
        next_page=_page_link(page.filters, page.next_offset),
        topics=web.nd.taxonomy.topics,
        depth=web.nd.taxonomy.depth,
        sources=web.nd.sources.list(),
        sorts=SORTS,
    )
    return no_store(response)


def _page_link(filters: dict[str, str], offset: int | None) -> str | None:
    return None if offset is None else "/review?" + urlencode(filters | {"offset": str(offset)})


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
        title = web.catalog.article(article_id, Audience.TRUSTED).title
    except StorageError:
        return None
    return f"{verbs[done]} “{title}”"


def _review_target(next_page: str | None, done: str, article_id: int, then: str) -> str:
    """Where the browser goes after an action. Back to the queue, ``then`` names the card to select:
    the one after the decided card in display order (the page's script reads it; a value that is not
    an id is a stale or hand-made form and is dropped rather than failing the decision already made)."""
    base = _local(next_page, "/review")
    if not base.startswith("/review"):
        return base
    target = f"/review?done={done}&id={article_id}"
    return f"{target}&then={then}" if then.isascii() and then.isdigit() else target


@router.post("/review/{article_id}/publish")
def publish(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
    then: Annotated[str, Form()] = "",
) -> Response:
    def act(editor: Editor) -> bool:
        return web.nd.editorial.publish(article_id, actor=editor.actor)

    return _act(request, web, csrf_token, article_id, (next, then), "publish", act)


@router.post("/review/{article_id}/reject")
def reject(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
    then: Annotated[str, Form()] = "",
) -> Response:
    if not reason.strip():
        return error_page(
            request, web, 400, "Reason needed", "Say why the article is rejected; it trains the models."
        )

    def act(editor: Editor) -> bool:
        return web.nd.editorial.reject(article_id, actor=editor.actor, reason=reason.strip())

    return _act(request, web, csrf_token, article_id, (next, then), "reject", act)


@router.post("/review/{article_id}/topics")
def set_topics(
    request: Request,
    web: Web,
    article_id: int,
    csrf_token: Annotated[str, Form()] = "",
    topic: Annotated[list[str] | None, Form()] = None,
    next: Annotated[str, Form()] = "/review",
    then: Annotated[str, Form()] = "",
) -> Response:

    def act(editor: Editor) -> bool:
        web.nd.editorial.set_topics(article_id, topic or [], actor=editor.actor, reason="fixed in review")
        return True

    return _act(request, web, csrf_token, article_id, (next, then), "topics", act)


def _act(
    request: Request,
    web: WebContext,
    token: str,
    article_id: int,
    back_to: tuple[str, str],
    action: str,
    act: Callable[[Editor], bool],
) -> Response:
    """Run one editor action on an article (``act`` says whether it changed anything) and send the
    browser back to ``back_to`` (the form's ``next`` page and ``then`` card: :func:`_review_target`).
    The checks are the same for every action: CSRF and a live session (401/403 pages), an existing
    article (404), and a library refusal such as an unknown topic (400)."""
    try:
        changed = act(require_editor(request, web, token))
    except Denied as denied:
        return denied.response
    except StorageError:
        return error_page(request, web, 404, "No such article", f"There is no article with id {article_id}.")
    except NewsdeskError as e:
        return error_page(request, web, 400, NOT_DONE[action], str(e))
    log.info("editor decision", extra={"article_id": article_id, "action": action, "changed": changed})
    next_page, then = back_to
    return back(_review_target(next_page, action if changed else "noop", article_id, then))
