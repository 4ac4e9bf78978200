"""The connection layer under the fetcher: where the SSRF guard meets the socket.

:class:`GuardedBackend` is an httpcore network backend. httpcore hands it the host name from the URL; it
looks the name up itself (or takes the ``resolve`` override, like ``curl --resolve``), runs every address
through the SSRF guard and dials only an address that passed. Because the addresses checked are the
addresses dialled, a DNS answer that changes between the fetcher's early check and the connection (DNS
rebinding) cannot reach a private network. The URL, the Host header and the TLS server name stay the real
host name, so virtual hosting and certificate checks work as usual.

The guard's rules (``allow_private``, allowed networks) vary per request, so the fetcher sets them in the
:data:`CONNECT_RULES` context variable around each request: httpcore opens connections inside the calling
task, where the variable is visible. With no rules set the backend refuses every non-public address.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import select
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from newsdesk.errors import SettingsError
from newsdesk.fetch import ssrf


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
        self._inner = httpcore.AnyIOBackend()
        self._overrides = dict(overrides)
        self._resolver = resolver

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
                stream = await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
                return ProbedStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None  # resolve_checked never returns an empty list
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the fetcher")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class ProbedStream(httpcore.AsyncNetworkStream):
    """A dialled stream that answers httpcore's "is this idle connection readable?" probe from the socket
    it kept at connect time.

    httpcore asks that of every pooled connection each time it assigns or releases a request; anyio's
    stream answers by rebuilding its whole attribute table (``getpeername`` included) on every call, a
    visible share of the parent process's CPU in an ingest run (docs/benchmarks.md).
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return ProbedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """True when the socket has data or an end of stream waiting: for an idle keep-alive connection,
    the server closed it (or broke protocol), so it must not be reused. A closed socket counts too."""
    if sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process: loading the CA bundle is slow (docs/benchmarks.md), and each
    run (each ``Fetcher``) would pay it again. Contexts are safe to share between connections and threads."""
    return httpx.create_ssl_context(trust_env=False)


def build_transport(*, concurrency: int, http2: bool, backend: GuardedBackend) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connection pool dials through ``backend``.

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
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=http2,
        network_backend=backend,
    )
    return transport
