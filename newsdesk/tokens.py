"""API bearer tokens, the facade's ``nd.tokens``: shown once at creation, stored only as a SHA-256 hash."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from .errors import NewsdeskError

if TYPE_CHECKING:
    from .app import Newsdesk


class Tokens:
    """Create, verify, list and revoke API tokens; an editor's web session lives as long as its token."""

    SCOPES = ("read", "write", "admin")

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def create(self, name: str, scope: str) -> tuple[int, str]:
        """A new token: ``(id, token)``, the token shown this once."""
        if scope not in self.SCOPES:
            raise NewsdeskError(f"scope must be one of {', '.join(self.SCOPES)}, got {scope!r}")
        token = "nd_" + secrets.token_urlsafe(32)
        return self.nd.store.create_token(name, scope, _hash_token(token)), token

    def verify(self, token: str) -> dict[str, Any] | None:
        return self.nd.store.find_token(_hash_token(token)) if token else None

    def revoke(self, token_id: int) -> bool:
        return self.nd.store.revoke_token(token_id)

    def list(self) -> builtins.list[dict[str, Any]]:
        return self.nd.store.list_tokens()

    def live(self, token_id: int) -> bool:
        """False once the token an editor signed in with is revoked: their session ends with it."""
        return any(t["id"] == token_id and t["revoked_at"] is None for t in self.list())


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
