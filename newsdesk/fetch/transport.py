"""The connection layer under the fetcher: where the SSRF guard meets the socket.

:class:`GuardedBackend` is an httpcore network backend. httpcore hands it the host name from the URL; it
looks the name up itself (or takes the ``resolve`` override, like ``curl --resolve``), runs every address
through the SSRF guard and dials only an address that passed. Because the addresses checked are the
addresses dialled, a DNS answer that changes between the fetcher's early check and the connection (DNS
rebinding) cannot reach a private network. The URL, the Host header and the TLS server name stay the real
host name, so virtual hosting and certificate checks work as usual. It dials with
:func:`~newsdesk.fetch.streams.open_tcp`: sockets the event loop drives itself, lighter per read and
write than httpcore's anyio streams (:mod:`newsdesk.fetch.streams`).

The guard's rules (``allow_private``, allowed networks) vary per request, so the fetcher sets them in the
:data:`CONNECT_RULES` context variable around each request: httpcore opens connections inside the calling
task, where the variable is visible. With no rules set the backend refuses every non-public address.

:class:`KeptConnections` keeps idle connections per origin from one fetcher to the next (the desk's
cycles): a host polled again within :data:`KEEP_IDLE_S` is asked on the connection it answered last
time instead of a new TCP connection (its dial and teardown were half of a 304 poll's HTTP cost).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import itertools
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from newsdesk.errors import SettingsError
from newsdesk.fetch import robots, ssrf
from newsdesk.fetch.streams import open_tcp


@dataclass(frozen=True)
class ConnectRules:
    """The SSRF guard's settings for the request being sent."""

    allow_private: bool
    allowed: tuple[ssrf.IPNetwork, ...]


# The rules of the request being sent. httpcore opens connections inside the calling task, so a
# context variable set around the request is visible in the backend's connect_tcp.
CONNECT_RULES: contextvars.ContextVar[ConnectRules | None] = contextvars.ContextVar(
    "newsdesk_fetch_connect_rules", default=None
)


def _split_target(target: str) -> tuple[str, int | None]:
    address, port = target.strip(), None
    if address.startswith("["):
        address, _, rest = address[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif address.count(":") == 1:
        address, _, port_text = address.partition(":")
        port = int(port_text)
    ipaddress.ip_address(address)  # ValueError unless an IP literal
    return address, port


def parse_override(host: str, target: str) -> tuple[str, tuple[str, int | None]]:
    """``("Host", "ip:port")`` -> ``("host", ("ip", port))``; ``[v6]:port`` and a bare ip also work."""
    try:
        return host.lower().rstrip("."), _split_target(target)
    except ValueError as e:
        raise SettingsError(f"resolve override for {host}: {target!r} is not ip:port") from e


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Dials only addresses that pass the SSRF guard, honouring ``resolve`` overrides."""

    def __init__(self, overrides: Mapping[str, tuple[str, int | None]], resolver: ssrf.Resolver) -> None:
        self._overrides = dict(overrides)
        self._resolver = resolver

    def same_dialling(self, other: GuardedBackend) -> bool:
        return self._overrides == other._overrides and self._resolver is other._resolver

    async def _addresses(self, host: str, port: int) -> tuple[list[str], int]:
        rules = CONNECT_RULES.get() or ConnectRules(allow_private=False, allowed=())
        override = self._overrides.get(host.lower().rstrip("."))
        if override is not None:
            ssrf.check_address(override[0], allow_private=rules.allow_private, allowed=rules.allowed)
            return [override[0]], override[1] or port
        found = await ssrf.resolve_checked(
            host, port, allow_private=rules.allow_private, allowed=rules.allowed, resolver=self._resolver
        )
        return found, port

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses, port = await self._addresses(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await open_tcp(
                    address, port, timeout=timeout, local_address=local_address, options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None  # resolve_checked never returns an empty list
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the fetcher")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TrustOnFirstUse(ssl.SSLContext):
    """A verifying client context (certifi's CAs, as ``httpx.create_ssl_context`` makes) that reads the CA
    bundle at its first TLS handshake instead of when it is made: reading it costs ≈ 33 CPU-ms, a third
    of what a cold 304 poll of 500 plain-http feeds spends above reader's (docs/benchmarks.md), and a run
    that fetches no https URL never needs it. Verification is as strict as before: no handshake starts
    before the bundle is in."""

    def __new__(cls) -> TrustOnFirstUse:
        # A client context checks the host name and requires a certificate, as create_default_context's
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        super().__init__()
        self._trust_lock = threading.Lock()
        self._trusted = False

    def trust(self) -> None:
        """Read the CA bundle now, once (handshakes may run on several threads' loops)."""
        with self._trust_lock:
            if not self._trusted:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
                self._trusted = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:  # asyncio's TLS
        self.trust()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # blocking TLS, should any use it
        self.trust()
        return super().wrap_socket(*args, **kwargs)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process: each run (each ``Fetcher``) would otherwise read the CA bundle
    again. Contexts are safe to share between connections and threads."""
    return TrustOnFirstUse()


def build_transport(
    *, concurrency: int, http2: bool, backend: GuardedBackend, keep_s: float | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connection pool dials through ``backend``; ``keep_s`` overrides how
    long an idle connection stays open (httpx's default: 5 s).

    httpx 0.28 has no public hook for the network backend, so the pool it builds is replaced by an
    identical one that has it (httpx has had no release since 0.28.1, and pyproject pins <0.29).
    """
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    ssl_context = _ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, http2=http2, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry if keep_s is None else keep_s,
        http1=True,
        http2=http2,
        network_backend=backend,
    )
    return transport


# How long an idle connection is kept for the next cycle. A little over nginx's default keepalive_timeout
# (75 s): past it most servers have closed their end, and a connection the server closed is never reused
# (the streams' readability probe, newsdesk/fetch/streams.py; a reset on send is retried once by the fetcher).
KEEP_IDLE_S = 90.0
# Origins whose connections are kept at most: each holds up to per-host-concurrency sockets, so this
# bounds the file descriptors an idle desk holds (least recently used origins are closed first).
KEEP_MAX_ORIGINS = 2048

_Origin = tuple[bytes, bytes, int | None, ConnectRules | None]


class KeptConnections(httpx.AsyncBaseTransport):
    """Connection pools per origin that outlive a fetcher (:class:`Fetcher` ``connections=``).

    One small pool per (scheme, host, port, guard rules): httpcore's pool walks all of its connections
    on every request, so one pool holding an idle connection to each of hundreds of hosts would cost
    more than it saves. The guard rules are part of the key, so a connection dialled for a source
    allowed onto a private network never serves a request that is not. Every pool dials through the
    same :class:`GuardedBackend`; connections stay bound to the event loop that opened them, so the
    owner runs its fetchers on one loop (the desk's) and calls :meth:`sweep` between them and
    :meth:`close` at the end.
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        per_host: int,
        http2: bool,
        idle_s: float = KEEP_IDLE_S,
        max_origins: int = KEEP_MAX_ORIGINS,
    ) -> None:
        self._backend = backend
        self._per_host = per_host
        self._http2 = http2
        self._idle_s = idle_s
        self._max_origins = max_origins
        self._pools: dict[_Origin, httpx.AsyncHTTPTransport] = {}  # least recently used first
        self._used: dict[_Origin, float] = {}
        self._robots: dict[str, robots.RobotsCache] = {}

    def robots_for(self, user_agent: str) -> robots.RobotsCache:
        """The robots.txt rules the borrowing fetchers share, per user agent: kept for their RFC 9309
        lifetime (24 h; 10 minutes after an error) rather than asked for again at every cycle, which
        doubled a 304 cycle's requests with robots.txt honoured (the default). The run's glue seeds
        them from the store at the first cycle, so a restarted desk does not ask again either."""
        return self._robots.setdefault(user_agent, robots.RobotsCache())

    @property
    def origins(self) -> int:
        return len(self._pools)

    def matches(self, backend: GuardedBackend, *, per_host: int, http2: bool) -> bool:
        """Whether these pools dial as a fetcher of this policy would (same overrides and limits)."""
        return backend.same_dialling(self._backend) and (per_host, http2) == (self._per_host, self._http2)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port, CONNECT_RULES.get())
        pool = self._pools.pop(key, None)
        if pool is None:
            pool = build_transport(
                concurrency=self._per_host, http2=self._http2, backend=self._backend, keep_s=self._idle_s
            )
        self._pools[key] = pool
        self._used[key] = time.monotonic()
        if len(self._pools) > self._max_origins:
            await self._close_idle(len(self._pools) - self._max_origins)
        return await pool.handle_async_request(request)

    async def sweep(self) -> None:
        """Close the pools not used within the idle window (between cycles: nothing is in flight)."""
        cutoff = time.monotonic() - self._idle_s
        stale = [key for key, used in self._used.items() if used < cutoff]
        for key in stale:
            await self._drop(key)

    async def close(self) -> None:
        for key in list(self._pools):
            await self._drop(key)

    async def aclose(self) -> None:
        """A borrowing client closing does not close the pools; :meth:`close` does."""

    async def _close_idle(self, count: int) -> None:
        """Close up to ``count`` of the least recently used pools that have no request in flight."""
        idle = list(itertools.islice((k for k, pool in self._pools.items() if _is_idle(pool)), count))
        for key in idle:
            await self._drop(key)

    async def _drop(self, key: _Origin) -> None:
        pool = self._pools.pop(key, None)
        self._used.pop(key, None)
        if pool is not None:
            await pool.aclose()


def _is_idle(transport: httpx.AsyncHTTPTransport) -> bool:
    pool: httpcore.AsyncConnectionPool = transport._pool
    return all(connection.is_idle() or connection.is_closed() for connection in pool.connections)
