"""The editor's controls on one source in the sources page: poll now, pause, resume and rename.

Each is a plain form POST (CSRF-checked, editors only, like removing a source) that calls one facade
method and sends the browser back to the list. The facade wakes a running desk, so "poll now" and a
resume are acted on within seconds instead of at the next scheduled check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ..app import Newsdesk
from ..errors import StorageError, ValidationError
from ..model import Source
from .context import Denied, Web, back, error_page, require_editor

router = APIRouter(include_in_schema=False)

MAX_NAME = 300  # the sources.name column's length (store/tables.py)


def _act(
    request: Request, web: Web, source_id: int, csrf_token: str, action: Callable[[Newsdesk], Source]
) -> Response:
    """Check the editor, run ``action`` on the facade, and go back to the list (or show why not)."""
    try:
        require_editor(request, web, csrf_token)
        action(web.nd)
    except Denied as denied:
        return denied.response
    except StorageError:
        return error_page(request, web, 404, "No such source", f"There is no source with id {source_id}.")
    except ValidationError as error:
        return error_page(request, web, 409, "Not possible now", str(error))
    return back(f"/sources#source-{source_id}")


@router.post("/sources/{source_id}/poll")
def poll_source(
    request: Request, web: Web, source_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _act(request, web, source_id, csrf_token, lambda nd: nd.sources.poll(source_id))


@router.post("/sources/{source_id}/pause")
def pause_source(
    request: Request, web: Web, source_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _act(request, web, source_id, csrf_token, lambda nd: nd.sources.pause(source_id, paused=True))


@router.post("/sources/{source_id}/resume")
def resume_source(
    request: Request, web: Web, source_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _act(request, web, source_id, csrf_token, lambda nd: nd.sources.pause(source_id, paused=False))


@router.post("/sources/{source_id}/rename")
def rename_source(
    request: Request,
    web: Web,
    source_id: int,
    name: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A blank name clears it (the list then shows the URL); longer than the column allows is refused."""
    wanted = " ".join(name.split())[:MAX_NAME] or None

    def rename(nd: Newsdesk) -> Source:
        return nd.sources.rename(source_id, wanted)

    return _act(request, web, source_id, csrf_token, rename)
