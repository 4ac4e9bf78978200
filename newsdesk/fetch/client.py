"""The polite, defensive HTTP fetcher every stage uses to reach the outside world.

One :class:`Fetcher` owns one ``httpx.AsyncClient`` (connection reuse across the whole run; across runs
too when it borrows :class:`KeptConnections`, as the desk's cycles do) and applies,
for every call to :meth:`Fetcher.get`, hop by hop::

    for each hop (the URL, then each redirect target, at most max_redirects + 1):
        SSRF guard      resolve the host, refuse if any address is not public    -> BlockedURLError
        robots.txt      fetched once per origin, cached                          -> RobotsDisallowed
        gate            per-host + global concurrency, per-host start spacing,
                        Retry-After deferral
        request         GET, conditional headers; total time capped by asyncio.timeout
        3xx             next hop (manual: loop/limit checks)                     -> RedirectError
        4xx/5xx         429/503 Retry-After parsed, host deferred                -> FetchError(kind="http-503")
        body            streamed, capped; early refusal on Content-Length        -> TooLargeError
    content check       magic numbers against ``expect``                         -> ContentTypeError
    decode              BOM, header, <meta>/XML declaration, detection           (never raises)

The SSRF check runs twice: before the request (clear error, nothing sent) and inside the connection, on
the very addresses being dialled (``transport.GuardedBackend``), so a DNS answer that changes between the
two (DNS rebinding) cannot reach a private address. The same backend implements ``resolve`` overrides
(like ``curl --resolve``): the URL, Host header and TLS name stay the real ones; only the dialled address
changes, and it is that address the guard checks.

Failures are :class:`~newsdesk.errors.FetchError` with a stable ``kind``: ``http-<status>``, ``timeout``,
``connect`` (DNS or TCP), ``network`` (reset mid-transfer), ``protocol``, ``decode``, ``invalid-url``,
``deferred``, plus the subclasses' own kinds (``blocked``, ``robots``, ``too-large``, ``redirect``,
``content-type``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Self
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

from newsdesk.errors import (
    BlockedURLError,
    FetchError,
    RedirectError,
    RobotsDisallowed,
    TooLargeError,
)
from newsdesk.fetch import charset, robots, sniff, ssrf
from newsdesk.fetch.gate import HostGate
from newsdesk.fetch.policy import FetchPolicy, FetchResult, parse_max_age, parse_retry_after
from newsdesk.fetch.transport import (
    CONNECT_RULES,
    ConnectRules,
    GuardedBackend,
    KeptConnections,
    build_transport,
    parse_override,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Expect",
    "FetchPolicy",
    "FetchResult",
    "Fetcher",
    "KeptConnections",
    "keep_connections",
    "parse_max_age",
    "parse_retry_after",
]

Expect = sniff.Expect

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Statuses whose Retry-After we honour (RFC 9110 §10.2.3 names 503 and 3xx; RFC 6585 adds 429).
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A Retry-After longer than this is not waited out inside get(): the caller gets FetchError(kind="deferred")
# at once and reschedules. Equal to the default total timeout, so no call waits longer than a slow fetch.
MAX_DEFER_WAIT = 30.0
# Crawl-delay in a robots.txt is honoured up to this many seconds; beyond it a hostile or careless file
# would stall every poll of the site. A judgement call, not a measurement: 10 s still lets a poll of one
# site fetch its feed plus a few new articles within a minute.
MAX_CRAWL_DELAY = 10.0
_TEXT_TYPES = ("text/", "application/xml", "application/json", "application/javascript")
_TEXT_SUFFIXES = ("+xml", "+json")
_ACCEPT: dict[str, str] = {
    "html": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "feed": (
        "application/rss+xml,application/atom+xml,application/feed+json,application/xml;q=0.9,"
        "text/xml;q=0.9,application/json;q=0.8,*/*;q=0.5"
    ),
    "image": "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8",
    "any": "*/*",
}


def _with_retry_after(error: FetchError, retry_after: float | None) -> FetchError:
    error.retry_after = retry_after
    return error


# ---------------------------------------------------------------------------------------------------------
# One hop


@dataclass(frozen=True)
class _Hop:
    """What one request returned: a redirect target, or a final response with its body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    location: str | None = None


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_text_type(media_type: str) -> bool:
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)


TRANSIENT_KINDS = frozenset({"network", "protocol"})  # no usable response arrived
TRANSIENT_RETRIES = 1  # seen on the demo site under load: a reused keep-alive connection reset once
TRANSIENT_RETRY_DELAY_S = 0.2


def _error_for_exception(error: Exception, url: str) -> FetchError:
    """Map a transport exception to a FetchError with a stable kind."""
    kinds: tuple[tuple[type[Exception], str], ...] = (
        (TimeoutError, "timeout"),
        (httpx.TimeoutException, "timeout"),
        (httpx.ConnectError, "connect"),
        (httpx.RemoteProtocolError, "protocol"),
        (httpx.LocalProtocolError, "protocol"),
        (httpx.DecodingError, "decode"),
        (httpx.InvalidURL, "invalid-url"),
        (httpx.UnsupportedProtocol, "invalid-url"),
        (httpx.NetworkError, "network"),
    )
    kind = next((name for cls, name in kinds if isinstance(error, cls)), "network")
    detail = str(error) or type(error).__name__
    return FetchError(f"{kind} error fetching {url}: {detail}", url=url, kind=kind)


def _check_url(url: str) -> tuple[str, str]:
    """``(scheme, host)`` of an absolute http(s) URL, else ``FetchError(kind="invalid-url")``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as e:
        raise FetchError(f"malformed URL {url!r}: {e}", url=url, kind="invalid-url") from e
    if parts.scheme not in ("http", "https") or not host:
        raise FetchError(f"not an absolute http(s) URL: {url!r}", url=url, kind="invalid-url")
    return parts.scheme, host


class Fetcher:
    """Polite async HTTP GETs with SSRF, robots, size, time and redirect guards (module docstring).

    Use as ``async with Fetcher(policy) as fetcher: result = await fetcher.get(url)``. ``resolver``
    replaces the system DNS lookup (tests use it to simulate answers without DNS). ``connections``
    (see :func:`keep_connections`) lends pools that outlive this fetcher, so the next one finds the
    connections this one left idle; without it the connections close with the fetcher.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: ssrf.Resolver = ssrf.system_resolver,
        connections: KeptConnections | None = None,
    ) -> None:
        self.policy = policy
        self._allowed = ssrf.parse_networks(policy.allowed_networks)
        self._overrides = dict(parse_override(host, target) for host, target in policy.resolve.items())
        self._resolver = resolver
        self._gate = HostGate(
            concurrency=policy.concurrency,
            per_host_concurrency=policy.per_host_concurrency,
            delay=policy.per_host_delay,
            max_defer_wait=MAX_DEFER_WAIT,
        )
        # robots.txt rules outlive the fetcher with the connections it borrows (the desk's cycles)
        kept = connections.robots_for(policy.user_agent) if connections is not None else None
        self._robots = kept or robots.RobotsCache()
        timeout = httpx.Timeout(
            connect=policy.connect_timeout,
            read=policy.read_timeout,
            write=policy.read_timeout,
            pool=policy.connect_timeout,
        )
        backend = GuardedBackend(self._overrides, resolver)
        if connections is not None and not connections.matches(
            backend, per_host=policy.per_host_concurrency, http2=policy.http2
        ):
            raise ValueError("kept connections dial differently from this policy: keep_connections() anew")
        transport = connections or build_transport(
            concurrency=policy.concurrency, http2=policy.http2, backend=backend
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": policy.user_agent},
        )

    @property
    def robots_cache(self) -> robots.RobotsCache:
        """The robots.txt rules this fetcher obeys: its own, or the kept connections' (shared by the
        desk's cycles). The run's glue seeds them from the store and keeps what they loaded."""
        return self._robots

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client and its pooled connections."""
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        allow_private: bool = False,
        etag: str | None = None,
        last_modified: str | None = None,
        expect: Expect = "any",
    ) -> FetchResult:
        """GET ``url`` under the policy; returns the final response or raises a FetchError subclass.

        ``allow_private`` lifts the SSRF guard for this call (a source explicitly marked internal).
        ``etag``/``last_modified`` make the request conditional; a 304 comes back as ``not_modified``.
        """
        started = time.monotonic()
        conditional = {"If-None-Match": etag, "If-Modified-Since": last_modified}
        headers = {k: v for k, v in conditional.items() if v} | {"Accept": _ACCEPT[expect]}
        rules = ConnectRules(self.policy.allow_private or allow_private, self._allowed)
        hop, redirects = await self._follow_retrying(url, headers, rules)
        result = self._result(url, hop, redirects, expect, started)
        if result.not_modified:
            result = _keep_validators(result, etag, last_modified)
        logger.debug(
            "fetched",
            extra={
                "url": result.url,
                "status": result.status,
                "bytes": len(result.content),
                "duration_ms": round(result.elapsed_ms, 1),
                "redirects": len(redirects),
            },
        )
        return result

    async def _follow_retrying(
        self, url: str, headers: dict[str, str], rules: ConnectRules
    ) -> tuple[_Hop, tuple[str, ...]]:
        """A GET that died in transit (a keep-alive connection the server had just closed, a reset) is
        sent once more: it is idempotent, and the failure says nothing about the URL."""
        for attempt in range(TRANSIENT_RETRIES + 1):
            try:
                return await self._follow(url, headers, rules)
            except FetchError as error:
                if error.kind not in TRANSIENT_KINDS or attempt == TRANSIENT_RETRIES:
                    raise
                await asyncio.sleep(TRANSIENT_RETRY_DELAY_S)
        raise AssertionError("unreachable")

    # -- redirects ----------------------------------------------------------------------------------------

    async def _follow(
        self, url: str, headers: dict[str, str], rules: ConnectRules
    ) -> tuple[_Hop, tuple[str, ...]]:
        """Request ``url`` and follow redirects by hand, so every hop passes the guards."""
        current, redirects = url, list[str]()
        seen: set[tuple[str, int]] = set()
        for _ in range(self.policy.max_redirects + 1):
            # A revisit is a loop unless a cookie was set on the way (cookie-check redirects).
            seen.add((current, len(self._client.cookies.jar)))
            hop = await self._hop(current, headers, rules, max_bytes=self.policy.max_bytes)
            if hop.location is None:
                return hop, tuple(redirects)
            redirects.append(current)
            current = self._redirect_target(hop, seen)
        raise RedirectError(
            f"more than {self.policy.max_redirects} redirects from {url}", url=url, kind="redirect"
        )

    def _redirect_target(self, hop: _Hop, seen: set[tuple[str, int]]) -> str:
        target = urldefrag(urljoin(hop.url, (hop.location or "").strip()))[0]
        if urlsplit(target).scheme not in ("http", "https"):
            raise RedirectError(f"{hop.url} redirects to a non-http(s) URL: {target!r}", url=hop.url)
        if (target, len(self._client.cookies.jar)) in seen:
            raise RedirectError(f"redirect loop: {hop.url} -> {target}", url=hop.url, kind="redirect")
        return target

    # -- one request --------------------------------------------------------------------------------------

    async def _hop(
        self,
        url: str,
        headers: dict[str, str],
        rules: ConnectRules,
        *,
        max_bytes: int,
        check_robots: bool = True,
        truncate: bool = False,
    ) -> _Hop:
        """One GET of ``url``: guard, robots, gate, request, status handling, capped body."""
        _, host = _check_url(url)
        await self._guard(url, host, rules)
        if check_robots and self.policy.respect_robots:
            await self._check_robots(url, host, rules)
        try:
            async with self._gate.slot(host.lower()):
                return await self._send(url, headers, rules, max_bytes=max_bytes, truncate=truncate)
        except FetchError as e:
            e.url = e.url or url  # raised by the gate or inside the connection, which don't know the URL
            raise

    async def _send(
        self, url: str, headers: dict[str, str], rules: ConnectRules, *, max_bytes: int, truncate: bool
    ) -> _Hop:
        """The request itself, under the total timeout, with the connection guard's rules in context."""
        token = CONNECT_RULES.set(rules)
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                return await self._request(url, headers, max_bytes=max_bytes, truncate=truncate)
        except (TimeoutError, httpx.HTTPError) as e:
            raise _error_for_exception(e, url) from e
        finally:
            CONNECT_RULES.reset(token)

    async def _guard(self, url: str, host: str, rules: ConnectRules) -> None:
        """The SSRF check before anything is sent: the override address or every resolved address."""
        override = self._overrides.get(host.lower().rstrip("."))
        try:
            if override is not None:
                ssrf.check_address(override[0], allow_private=rules.allow_private, allowed=rules.allowed)
                return
            async with asyncio.timeout(self.policy.connect_timeout):
                await ssrf.resolve_checked(
                    host, 0, allow_private=rules.allow_private, allowed=rules.allowed, resolver=self._resolver
                )
        except BlockedURLError as e:
            logger.info("blocked", extra={"url": url, "reason": e.message})
            raise BlockedURLError(f"{url}: {e.message}", url=url, kind="blocked") from e
        except TimeoutError as e:
            raise FetchError(f"DNS lookup for {host} timed out", url=url, kind="timeout") from e
        except FetchError as e:
            raise FetchError(e.message, url=url, kind=e.kind) from e

    async def _request(self, url: str, headers: dict[str, str], *, max_bytes: int, truncate: bool) -> _Hop:
        async with self._client.stream("GET", url, headers=headers) as response:
            final_headers = types.MappingProxyType({k.lower(): v for k, v in response.headers.items()})
            status = response.status_code
            if status in REDIRECT_STATUSES and "location" in final_headers:
                return _Hop(url, status, final_headers, location=final_headers["location"])
            if status >= 300 and status != 304:
                raise self._status_error(url, status, final_headers)
            _refuse_declared_size(url, final_headers, max_bytes, truncate)
            body = await _read_capped(response, url, max_bytes, truncate)
            return _Hop(url, status, final_headers, body)

    def _status_error(self, url: str, status: int, headers: Mapping[str, str]) -> FetchError:
        retry_after = parse_retry_after(headers.get("retry-after"))
        if status in RETRY_AFTER_STATUSES and retry_after is not None:
            self._gate.defer(_check_url(url)[1].lower(), retry_after)
        error = FetchError(f"HTTP {status} for {url}", url=url, status=status, kind=f"http-{status}")
        return _with_retry_after(error, retry_after)

    # -- robots.txt ---------------------------------------------------------------------------------------

    async def _check_robots(self, url: str, host: str, rules: ConnectRules) -> None:
        async def load(robots_url: str) -> tuple[robots.RobotsRules, bool]:
            return await self._load_robots(robots_url, rules)

        found = await self._robots.rules_for(url, load)
        if found.crawl_delay is not None:
            self._gate.set_host_delay(host.lower(), min(found.crawl_delay, MAX_CRAWL_DELAY))
        if not found.can_fetch(url):
            raise RobotsDisallowed(f"robots.txt disallows {url} ({found.reason})", url=url, kind="robots")

    async def _load_robots(self, robots_url: str, rules: ConnectRules) -> tuple[robots.RobotsRules, bool]:
        """Fetch robots.txt (following up to max_redirects, RFC 9309 §2.3.1.2) and interpret it."""
        agent = self.policy.user_agent
        try:
            hop = await self._robots_hop(robots_url, rules)
        except RedirectError:
            return robots.rules_from_response(404, None, agent)  # too many redirects: "unavailable"
        except FetchError as e:
            logger.info("robots.txt unreachable", extra={"url": robots_url, "kind": e.kind})
            return robots.rules_from_response(e.status, None, agent)
        text = charset.decode(hop.body, hop.headers.get("content-type")).text
        return robots.rules_from_response(hop.status, text, agent)

    async def _robots_hop(self, robots_url: str, rules: ConnectRules) -> _Hop:
        current, seen = robots_url, set[tuple[str, int]]()
        for _ in range(self.policy.max_redirects + 1):
            seen.add((current, len(self._client.cookies.jar)))
            hop = await self._hop(
                current, {}, rules, max_bytes=robots.ROBOTS_MAX_BYTES, check_robots=False, truncate=True
            )
            if hop.location is None:
                return hop
            current = self._redirect_target(hop, seen)
        raise RedirectError(f"too many redirects for {robots_url}", url=robots_url)

    # -- result -------------------------------------------------------------------------------------------

    def _result(
        self, original: str, hop: _Hop, redirects: tuple[str, ...], expect: Expect, started: float
    ) -> FetchResult:
        headers = hop.headers
        media_type = _media_type(headers)
        declared = charset.header_charset(headers.get("content-type"))
        not_modified = hop.status == 304
        if not not_modified:
            sniff.check_expected(hop.body, media_type, expect, url=hop.url, charset=declared)
        text, encoding = None, None
        if not not_modified and (expect in ("html", "feed") or _is_text_type(media_type)):
            decoded = charset.decode(hop.body, headers.get("content-type"))
            text, encoding = decoded.text, decoded.encoding
        return FetchResult(
            url=hop.url,
            original_url=original,
            status=hop.status,
            headers=headers,
            content=hop.body,
            text=text,
            encoding=encoding,
            content_type=media_type,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            not_modified=not_modified,
            redirects=redirects,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            max_age=parse_max_age(headers.get("cache-control")),
            retry_after=parse_retry_after(headers.get("retry-after")),
        )


def keep_connections(
    policy: FetchPolicy, *, resolver: ssrf.Resolver = ssrf.system_resolver
) -> KeptConnections:
    """Pools for the fetchers of ``policy`` to share one after another (the desk's cycles, on one loop)."""
    backend = GuardedBackend(dict(parse_override(h, t) for h, t in policy.resolve.items()), resolver)
    return KeptConnections(backend, per_host=policy.per_host_concurrency, http2=policy.http2)


def _keep_validators(result: FetchResult, etag: str | None, last_modified: str | None) -> FetchResult:
    """A 304 may omit ETag/Last-Modified; the caller's validators are still the current ones."""
    return replace(result, etag=result.etag or etag, last_modified=result.last_modified or last_modified)


def _refuse_declared_size(url: str, headers: Mapping[str, str], max_bytes: int, truncate: bool) -> None:
    """Refuse before reading when Content-Length already exceeds the cap (its lie is caught later)."""
    declared = headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise TooLargeError(
            f"{url}: Content-Length {declared} exceeds the {max_bytes}-byte cap", url=url, kind="too-large"
        )


async def _read_capped(response: httpx.Response, url: str, max_bytes: int, truncate: bool) -> bytes:
    """Stream the (decompressed) body, stopping past ``max_bytes``: raise, or keep the prefix."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        room = max_bytes - total
        total += len(chunk)
        if total > max_bytes:
            if truncate:
                chunks.append(chunk[:room])
                break
            raise TooLargeError(f"{url}: body exceeds the {max_bytes}-byte cap", url=url, kind="too-large")
        chunks.append(chunk)
    return b"".join(chunks)
