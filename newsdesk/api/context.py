"""What every request handler can reach: the facade, its read side and the API's long-lived helpers.

One :class:`ApiContext` is built by ``create_app`` and kept on ``app.state``; handlers get it through the
:func:`api_context` dependency, so nothing in the API reads a global or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ..app import Newsdesk
from ..catalog import Catalog
from .ratelimit import RateLimiter

STATE_KEY = "newsdesk_api"


@dataclass(frozen=True)
class ApiContext:
    nd: Newsdesk
    limiter: RateLimiter
    public_read: bool

    @property
    def catalog(self) -> Catalog:
        """The facade's read models, with the semantic-search cache."""
        return self.nd.catalog


def api_context(request: Request) -> ApiContext:
    context: ApiContext = getattr(request.app.state, STATE_KEY)
    return context
