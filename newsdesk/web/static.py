"""What an app needs from the web UI at its start: the ``/static`` files and the response cache's hook
for a visitor's CSRF token. Kept apart from the pages (:mod:`.routes`) so that ``create_app`` can serve
these from the start while the pages' modules load on their first request (``newsdesk.api.lazy``)."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ..api.cache import TOKEN_KEY
from .context import cached_page_token
from .views import STATIC


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS at ``/static``, and give the response cache (api/cache.py) the way to
    put each visitor's CSRF token into a kept page."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    setattr(app.state, TOKEN_KEY, partial(cached_page_token, app.state))
