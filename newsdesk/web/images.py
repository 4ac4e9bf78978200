"""The pages' images, served from the image cache by the pages' own visibility rule.

The API serves images under /api/v1/images, behind its read-token policy; the pages need them same-origin
and without a token whatever that policy is, so the UI serves the cache itself — by the pages' rule:
anonymous readers get the images of published articles only, a signed-in editor all.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from ..catalog import Audience
from .context import Web, WebContext, audience, error_page

router = APIRouter(include_in_schema=False)


@router.get("/images/{sha256}/thumb")
def thumbnail(request: Request, web: Web, sha256: str) -> Response:
    viewer = audience(request, web)
    path = web.catalog.image_file(sha256, viewer, thumbnail=True)
    return _image_response(request, web, path, viewer, "image/jpeg")


@router.get("/images/{sha256}")
def image(request: Request, web: Web, sha256: str) -> Response:
    viewer = audience(request, web)
    return _image_response(request, web, web.catalog.image_file(sha256, viewer), viewer)


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
