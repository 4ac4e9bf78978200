"""Editor sessions and CSRF tokens for the web UI, as HMAC-signed cookies.

Why not a server-side session table: the UI runs in the same process as the API and the store already
knows who may act (API tokens). An editor signs in once with a token of scope ``write`` or ``admin``; the
session cookie then carries only the token's id, name, scope and an expiry, signed with a per-app random
secret (so a restart signs everyone out — acceptable for an editor tool, and nothing to configure).

CSRF uses the double-submit cookie pattern: every page sets a signed random value in a cookie and repeats it
in each form; a POST is accepted only when both are present, equal, and carry a valid signature (a
sub-domain that can plant cookies still cannot forge one). ``SameSite=Strict`` on both cookies is a second,
independent guard.

Contract: :class:`Signer` never raises on bad input — a tampered, truncated or expired value reads as
``None`` (not signed in / token invalid).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

SESSION_COOKIE = "nd_session"
CSRF_COOKIE = "nd_csrf"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600
"""An editor's working day: sign in once in the morning. Revoking the token ends the session sooner
(checked on every action)."""
CSRF_NONCE_BYTES = 16  # 128 bits of randomness: OWASP's floor for unguessable tokens
EDITOR_SCOPES = frozenset({"write", "admin"})
"""Token scopes allowed to sign in to the UI: read-only tokens could not perform any editor action."""


class Signer:
    """Signs small JSON payloads: ``base64url(json) + "." + base64url(HMAC-SHA256)``."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret needs at least 16 bytes")
        self._secret = secret

    @classmethod
    def random(cls) -> Signer:
        return cls(secrets.token_bytes(32))

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(body)}"

    def unsign(self, value: str | None) -> dict[str, Any] | None:
        """The payload of a value this signer made, or None for anything else."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        return payload if isinstance(payload, dict) else None

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class Editor:
    """A signed-in editor: the API token they signed in with (by id, never the secret itself)."""

    token_id: int
    name: str
    scope: str
    expires_at: float

    @property
    def actor(self) -> str:
        """How decisions made in the UI are attributed (the API uses the token name alone)."""
        return f"web:{self.name}"


def session_value(signer: Signer, token: dict[str, Any], now_s: float) -> str:
    """A session cookie for the verified token row ``token`` (from ``Tokens.verify``)."""
    return signer.sign(
        {
            "tid": int(token["id"]),
            "name": str(token["name"]),
            "scope": str(token["scope"]),
            "exp": now_s + SESSION_TTL_S,
        }
    )


def read_session(signer: Signer, value: str | None, now_s: float) -> Editor | None:
    """The editor behind a session cookie; None when missing, forged, expired or of a read-only scope."""
    payload = signer.unsign(value)
    if payload is None:
        return None
    try:
        editor = Editor(
            int(payload["tid"]), str(payload["name"]), str(payload["scope"]), float(payload["exp"])
        )
    except (KeyError, TypeError, ValueError):
        return None
    if editor.expires_at <= now_s or editor.scope not in EDITOR_SCOPES:
        return None
    return editor


def new_csrf(signer: Signer) -> str:
    return signer.sign({"n": secrets.token_urlsafe(CSRF_NONCE_BYTES)})


def csrf_valid(signer: Signer, value: str | None) -> bool:
    payload = signer.unsign(value)
    return payload is not None and "n" in payload


def csrf_matches(signer: Signer, cookie: str | None, submitted: str | None) -> bool:
    """The double-submit check: the form repeats the cookie exactly, and the cookie is ours."""
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode()) and csrf_valid(signer, cookie)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
