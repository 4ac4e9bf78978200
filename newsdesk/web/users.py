"""The users page (signed-in admins only): reader-app users, their app passwords, and the forms to add a
user, make an app password (shown on the answer page once, never again) and remove a user.

Only an admin session may see it: an app password reads every published record as its user and keeps
their state, and an editor-role user also sees every source feed (see newsdesk.readerfeeds).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ..errors import NewsdeskError
from ..readers import USER_ROLES
from .context import Denied, Web, WebContext, back, error_page, live_editor, no_store, render, require_editor
from .session import Editor

router = APIRouter(include_in_schema=False)
ADMIN = "admin"


def _admin(request: Request, web: WebContext, csrf_token: str) -> Editor:
    """The admin behind a form POST; :class:`Denied` for anybody else."""
    editor = require_editor(request, web, csrf_token)
    if editor.scope != ADMIN:
        raise Denied(
            error_page(request, web, 403, "Admins only", "Sign in with an admin token to manage users.")
        )
    return editor


def _page(request: Request, web: WebContext, *, status: int = 200, **data: object) -> HTMLResponse:
    values: dict[str, object] = {"error": None, "created": None, "new_name": ""} | data
    users = web.nd.readers.list_users()
    page = render(request, web, "users.html", status=status, users=users, roles=USER_ROLES, **values)
    return no_store(page)  # it can carry a new app password


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, web: Web) -> Response:
    editor = live_editor(request, web)
    if editor is None:
        return back("/login?next=" + quote("/users"))
    if editor.scope != ADMIN:
        return error_page(request, web, 403, "Admins only", "Sign in with an admin token to manage users.")
    return _page(request, web)


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    web: Web,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "reader",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    try:
        _admin(request, web, csrf_token)
        web.nd.readers.add_user(name.strip(), role)
    except Denied as denied:
        return denied.response
    except NewsdeskError as e:
        return _page(request, web, status=422, error=str(e), new_name=name.strip())
    return back("/users")


@router.post("/users/{name}/app-password", response_class=HTMLResponse)
def app_password(
    request: Request,
    web: Web,
    name: str,
    label: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    try:
        _admin(request, web, csrf_token)
        password_id, password = web.nd.readers.new_app_password(name, label)
    except Denied as denied:
        return denied.response
    except NewsdeskError as e:
        return _page(request, web, status=404, error=str(e))
    return _page(request, web, created={"user": name, "id": password_id, "password": password})


@router.post("/users/{name}/remove", response_class=HTMLResponse)
def remove_user(request: Request, web: Web, name: str, csrf_token: Annotated[str, Form()] = "") -> Response:
    try:
        _admin(request, web, csrf_token)
        web.nd.readers.remove_user(name)
    except Denied as denied:
        return denied.response
    except NewsdeskError as e:
        return _page(request, web, status=404, error=str(e))
    return back("/users")
