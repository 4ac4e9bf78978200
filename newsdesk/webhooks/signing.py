"""The webhook signature: HMAC-SHA256 over the timestamp and the body, in one header.

    X-Newsdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is inside what is signed, so a receiver that refuses a ``t`` older than its replay window
(:data:`REPLAY_WINDOW_S`) cannot be fed an old, captured delivery again. ``v1`` names the scheme so a
later one can be sent beside it during a change. The body is the exact bytes sent (UTF-8 JSON).
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Newsdesk-Signature"
REPLAY_WINDOW_S = 300  # five minutes either way: the window Stripe and Slack document for the same scheme


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, at: int, window_s: int = REPLAY_WINDOW_S) -> bool:
    """What a receiver does: the header parses, ``t`` is within the window of ``at``, and a ``v1``
    matches (compared in constant time)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs(at - timestamp) > window_s:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))
