"""The reader-app routes, for ``create_app`` to add: Google Reader, then Fever."""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import fever, greader

ROUTES: tuple[BaseRoute, ...] = (*greader.router.routes, *fever.router.routes)
"""Both APIs' routes as their modules built them, in the order they are matched; ``create_app`` adds
them to the app as they are (``newsdesk.api.app.add_routes`` says why not through a router)."""
