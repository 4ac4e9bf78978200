"""What a fetch may do and what it returns: :class:`FetchPolicy` (one per run, passed in explicitly),
:class:`FetchResult`, and the two response headers that schedule the next request (Retry-After,
Cache-Control max-age). Plain values and pure parsers, so the scheduler and the tests use them without
a client."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchPolicy:
    """How the fetcher behaves; one per run, passed in explicitly.

    ``resolve`` maps a host name to ``"ip:port"`` (or just ``"ip"``) to dial instead of resolving it —
    the bundled demo site serves ``*.example`` names on loopback this way. ``allowed_networks`` lets
    chosen networks through the SSRF guard without lifting it (tests use ``("127.0.0.0/8", "::1/128")``).
    """

    user_agent: str = "newsdesk/0.1 (+https://github.com/newsdesk)"
    connect_timeout: float = 5
    read_timeout: float = 15
    total_timeout: float = 30
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    concurrency: int = 16
    per_host_concurrency: int = 2
    per_host_delay: float = 0.5
    allow_private: bool = False
    respect_robots: bool = True
    resolve: Mapping[str, str] = field(default_factory=dict)
    allowed_networks: tuple[str, ...] = ()
    http2: bool = False


@dataclass(frozen=True)
class FetchResult:
    """A successful fetch (2xx, or 304 when ``not_modified``).

    ``redirects`` lists the URLs that answered with a redirect, in order (``original_url`` first when
    there was any); ``url`` is where the body came from. ``headers`` has lower-case names. ``text`` is the
    decoded body for text types and for ``expect="html"``/``"feed"``, else ``None``. ``elapsed_ms`` is the
    wall time of the whole call, queueing for politeness included.
    """

    url: str
    original_url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    text: str | None
    encoding: str | None
    content_type: str
    etag: str | None
    last_modified: str | None
    not_modified: bool
    redirects: tuple[str, ...]
    elapsed_ms: float
    max_age: int | None
    retry_after: float | None

    def utf8_body(self) -> bytes:
        """The body as UTF-8: the bytes received when they decoded as UTF-8 with nothing replaced, else
        the decoded text re-encoded. What the pipeline ships to its extraction workers: bytes pickle as a
        copy, while a str is re-encoded on the way out and decoded again on the way in."""
        text = self.text or ""
        if self.encoding == "utf-8" and "\ufffd" not in text:
            return self.content
        return text.encode("utf-8", "replace")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_max_age(cache_control: str | None) -> int | None:
    """``max-age`` from a Cache-Control header, in seconds."""
    match = _MAX_AGE.search(cache_control or "")
    return int(match.group(1)) if match else None
