"""Routes whose module is imported on the first request that reaches them: the web UI's pages and the
reader apps' APIs.

``serve`` answers the API from its start, but a desk whose UI nobody has opened yet, and that no reader
app polls, has no use for those modules: with ``prometheus_client`` (``metrics.py``) they were 56
modules, ≈ 0.02 CPU-s and ≈ 3 MB at every start, before their routes were built (docs/benchmarks.md,
"What serve pays to start its API"). A :class:`LazyRoutes` stands in the app's route list where those
routes would be. The first request that gets to it — one that no route before it answered — imports
the module (on the server's event loop, once), and from then on it matches and handles every request
exactly as the module's routes would in its place: the same order, the same partial matches (a 405
for a known path with another method), the same handlers. ``url_path_for`` reaches them too (it
imports the module when asked first).

What it does not do: tell FastAPI's OpenTelemetry hook which route template matched (its ``http.route``
span attribute), as it does for a route in the app's own list — the UI and reader routes are outside
the OpenAPI document anyway, and newsdesk configures no telemetry.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

MATCHED = "newsdesk.lazy_route"  # the scope key carrying the matched route from matches() to handle()


class LazyRoutes(BaseRoute):
    """The routes of ``module``'s ``ROUTES`` tuple, imported when first needed."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._routes: tuple[BaseRoute, ...] | None = None

    @property
    def routes(self) -> tuple[BaseRoute, ...]:
        """The module's routes (importing it the first time: the import system's lock makes a
        concurrent first call wait for the same module)."""
        if self._routes is None:
            self._routes = tuple(importlib.import_module(self.module).ROUTES)
        return self._routes

    @property
    def loaded(self) -> bool:
        return self._routes is not None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Starlette's rule over the module's routes: the first full match, else the first partial."""
        partial: Scope | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, {**child_scope, MATCHED: route}
            if match is Match.PARTIAL and partial is None:
                partial = {**child_scope, MATCHED: route}
        return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(MATCHED)
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.module!r}, loaded={self.loaded})"
