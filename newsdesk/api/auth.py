"""Bearer-token auth, scopes and the write rate limit.

Scopes are ordered ``read < write < admin``; a token satisfies every scope up to its own. Each route in the
route table names the scope it needs (``routes.py``):

- ``open``  — no token looked at (``/health``);
- ``read``  — open to anonymous callers when the ``public_read`` setting is on, else a token is needed;
  an anonymous caller sees published articles only, any valid token everything (:func:`audience`).
  Routes that are not ``public`` (the sources) need a token whatever ``public_read`` says;
- ``write`` / ``admin`` — always a token.

A request that *sends* credentials is checked even where none are needed: a wrong or revoked token is a 401,
never silently downgraded to anonymous. 401 answers carry ``WWW-Authenticate: Bearer`` (RFC 6750 §3).

Rate limit: a token bucket per token (capacity = ``write_rate_limit`` requests, refilled at that many per
minute) in process memory, applied to every state-changing request; a refusal is a 429 with
``Retry-After`` in whole seconds. With several server processes each keeps its own buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..catalog import Audience
from .context import api_context

SCOPES = ("read", "write", "admin")  # ascending power; the same tuple as Tokens.SCOPES
OPEN = "open"

bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <token>`; create tokens with `newsdesk token create NAME SCOPE`.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, name (recorded as the actor of decisions) and scope."""

    token_id: int
    name: str
    scope: str

    def allows(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="newsdesk"'})


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The verified caller, None when no credentials were sent; 401 for malformed or unknown ones."""
    if "authorization" not in request.headers:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("send `Authorization: Bearer <token>`")
    row = api_context(request).nd.tokens.verify(credentials.credentials)
    if row is None or row.get("scope") not in SCOPES:
        raise _unauthorized("unknown or revoked token")
    return Principal(int(row["id"]), str(row["name"]), str(row["scope"]))


def require(scope: str, *, limited: bool, public: bool = True) -> Callable[..., Principal | None]:
    """A dependency that admits callers holding ``scope`` (and spends their rate limit when ``limited``);
    anonymous callers pass a ``read`` check only on a ``public`` route with ``public_read`` on. The
    caller is left on ``request.state.principal`` for handlers that record who acted."""

    def check(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal | None:
        who = _principal(request, credentials)
        request.state.principal = who
        if who is None:
            if scope == "read" and public and api_context(request).public_read:
                return None
            raise _unauthorized(f"this endpoint needs a token with the {scope!r} scope")
        if not who.allows(scope):
            raise HTTPException(403, f"this endpoint needs the {scope!r} scope; the token has {who.scope!r}")
        if limited:
            _spend(request, who)
        return who

    check.__name__ = f"require_{scope}"
    return check


def _spend(request: Request, who: Principal) -> None:
    wait = api_context(request).limiter.take(f"token:{who.token_id}")
    if wait > 0:
        raise HTTPException(
            429, "write rate limit reached for this token", headers={"Retry-After": str(math.ceil(wait))}
        )


def audience(request: Request) -> Audience:
    """What the caller may see (a dependency; the route's auth check runs first and leaves the caller on
    the request): published articles only when anonymous, everything with any valid token."""
    return Audience.of(getattr(request.state, "principal", None) is not None)


def actor(request: Request) -> str:
    """The name decisions are recorded under: the token's name."""
    who: Principal | None = getattr(request.state, "principal", None)
    return who.name if who is not None else "anonymous"
