"""The sources pages (signed-in editors only): the list with each source's health, and the forms to add
and remove one.

Adding takes whatever address the editor has — a site's home page or its feed — and finds the feed
(``nd.sources.find_feed``: :mod:`newsdesk.discovery`) before the facade stores the source; a failure
shows the form again with the reason.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ..catalog import Audience
from ..errors import BlockedURLError, NewsdeskError, StorageError
from ..model import Source, is_http_url
from .context import Denied, Web, WebContext, back, error_page, live_editor, render, require_editor

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

LOOPBACK_REFUSED = (
    "{url} leads to a loopback or private network address, and newsdesk fetches those only for a source "
    "an admin has allowed to. An admin token can add it: POST /api/v1/sources with "
    '"allowLoopback": true (or, on the server, `newsdesk source add URL --allow-loopback`).'
)
"""The form's answer for a private address: what is refused, why, and who may allow it, and how. The
same words whether or not something answers there (the guard refuses before connecting)."""


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, web: Web, added: int = 0) -> Response:
    """The list is for signed-in editors only, like the API's (a feed URL can carry its credentials, and
    errors describe internal hosts): anybody else is sent to sign in."""
    if live_editor(request, web) is None:
        return back("/login?next=" + quote("/sources"))
    views = web.catalog.source_health(Audience.TRUSTED)
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
        await run_in_threadpool(require_editor, request, web, csrf_token)
    except Denied as denied:
        return denied.response
    url = url.strip()
    error, source = await _discover_and_add(web, url, name.strip())
    if source is None:
        views = await run_in_threadpool(web.catalog.source_health, Audience.TRUSTED)  # an editor's form
        return render(request, web, "sources.html", status=422, views=views, added=None, error=error, url=url)
    return back(f"/sources?added={source.id}")


async def _discover_and_add(web: WebContext, url: str, name: str) -> tuple[str | None, Source | None]:
    if not is_http_url(url):
        return "Enter a full http(s) address, like https://example.com/ or its feed URL.", None
    try:
        found = await web.nd.sources.find_feed(url)
        source = Source(url=found.url, kind=found.kind, name=name or found.title, name_given=bool(name))
        return None, await run_in_threadpool(web.nd.sources.add, source)
    except BlockedURLError as e:
        log.info("source not added", extra={"url": url, "error_kind": e.kind})
        return LOOPBACK_REFUSED.format(url=url), None
    except NewsdeskError as e:
        log.info("source not added", extra={"url": url, "error_kind": e.kind})
        return str(e), None


@router.post("/sources/{source_id}/remove")
def remove_source(
    request: Request, web: Web, source_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    try:
        require_editor(request, web, csrf_token)
        web.nd.sources.remove(source_id)
    except Denied as denied:
        return denied.response
    except StorageError:
        return error_page(request, web, 404, "No such source", f"There is no source with id {source_id}.")
    return back("/sources")
