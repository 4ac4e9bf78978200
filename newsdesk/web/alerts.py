"""The alerts page (signed-in editors), the webhook delivery log (admins), and the unsubscribe page of
digest emails (no sign-in: the signed token in the link is the credential).

Unsubscribing takes a POST — the button on the page, or a mail client's RFC 8058 one-click POST to the
link — so a link scanner that merely fetches the URL does not turn a digest off.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..errors import NewsdeskError
from .context import Denied, Web, WebContext, back, error_page, live_editor, render, require_editor

router = APIRouter(include_in_schema=False)
PAGE = 200  # alerts shown at once, newest first
LOG = 100  # deliveries shown at once
MAX_TOKEN = 100  # "<id>.<64 hex>"
ADMIN = "admin"


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, web: Web, unseen: bool = False) -> Response:
    if live_editor(request, web) is None:
        return back("/login?next=" + quote("/alerts"))
    facade = web.nd.alerts
    return render(
        request,
        web,
        "alerts.html",
        alerts=facade.alerts(unseen=unseen, limit=PAGE),
        searches=facade.list(),
        unseen=unseen,
    )


@router.post("/alerts/seen", response_class=HTMLResponse)
def mark_seen(
    request: Request,
    web: Web,
    ids: Annotated[list[int] | None, Form()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    try:
        require_editor(request, web, csrf_token)
    except Denied as denied:
        return denied.response
    web.nd.alerts.mark_seen(ids or [])
    return back("/alerts")


@router.get("/alerts/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request, web: Web, token: Annotated[str, Query(max_length=MAX_TOKEN)] = ""
) -> Response:
    saved = web.nd.alerts.unsubscribe_target(token)
    if saved is None:
        return _invalid(request, web)
    return render(request, web, "unsubscribe.html", search=saved, token=token, done=False)


@router.post("/alerts/unsubscribe", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    web: Web,
    token: Annotated[str, Query(max_length=MAX_TOKEN)] = "",
    form_token: Annotated[str, Form(alias="token", max_length=MAX_TOKEN)] = "",
) -> Response:
    try:
        saved = web.nd.alerts.unsubscribe(form_token or token)
    except NewsdeskError:
        return _invalid(request, web)
    return render(request, web, "unsubscribe.html", search=saved, token="", done=True)


def _invalid(request: Request, web: WebContext) -> HTMLResponse:
    detail = "This unsubscribe link is not valid, or its saved search was removed."
    return error_page(request, web, 400, "Link not valid", detail)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, web: Web) -> Response:
    editor = live_editor(request, web)
    if editor is None:
        return back("/login?next=" + quote("/webhooks"))
    if editor.scope != ADMIN:
        return error_page(request, web, 403, "Admins only", "Sign in with an admin token to see webhooks.")
    hooks = web.nd.webhooks
    return render(
        request, web, "webhooks.html", webhooks=hooks.list(), deliveries=hooks.deliveries(limit=LOG)
    )


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_class=HTMLResponse)
def redeliver(
    request: Request, web: Web, delivery_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    try:
        editor = require_editor(request, web, csrf_token)
        if editor.scope != ADMIN:
            raise Denied(error_page(request, web, 403, "Admins only", "Sign in with an admin token."))
        web.nd.webhooks.redeliver(delivery_id)
    except Denied as denied:
        return denied.response
    except NewsdeskError as e:
        return error_page(request, web, 404, "No such delivery", str(e))
    return back("/webhooks")
