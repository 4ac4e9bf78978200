"""The byte streams under httpcore: a TCP socket driven by the event loop directly, and TLS over it.

httpcore reads and writes through a network backend's streams. Its anyio backend wraps every read and
write in an anyio cancel scope (``fail_after``) over anyio's own socket stream, which cost more CPU
than the HTTP/1.1 work around it: 500 GETs on 500 host names took 0.57-0.70 CPU-s through it and
0.45-0.53 through :class:`SocketStream` (docs/benchmarks.md, "One writer call for many polls"). Here a
read is ``loop.sock_recv`` under ``asyncio.timeout``, a write ``loop.sock_sendall``; nothing is read
before httpcore asks, so a pooled idle connection's socket answers "is anything waiting?" itself
(:func:`readable`: the server closed it, or broke protocol, and it must not be reused).

TLS (``https``) upgrades the connected socket to an asyncio stream pair (``open_connection(sock=…,
ssl=…)``), the standard library's TLS, as anyio's backend also used. Errors are httpcore's
(``ConnectError``, ``ReadTimeout``…), which httpx maps to its own and the fetcher to a ``kind``.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Awaitable
from typing import Any

import httpcore


def readable(sock: socket.socket) -> bool:
    """True when the socket has data or an end of stream waiting: for an idle keep-alive connection,
    the server closed it (or broke protocol), so it must not be reused. A closed socket counts too."""
    if sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


async def open_tcp(
    address: str, port: int, *, timeout: float | None, local_address: str | None = None, options: Any = None
) -> SocketStream:
    """A connected, non-blocking TCP socket to the IP address ``address`` (no name is looked up here:
    the caller checked the address against the SSRF guard)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request goes out in one write
        for option in options or ():
            sock.setsockopt(*option)
        if local_address is not None:
            sock.bind((local_address, 0))
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except TimeoutError as e:
        sock.close()
        raise httpcore.ConnectTimeout(f"connecting to {address}:{port} timed out") from e
    except OSError as e:
        sock.close()
        raise httpcore.ConnectError(str(e) or type(e).__name__) from e
    return SocketStream(sock)


class SocketStream(httpcore.AsyncNetworkStream):
    """A plain TCP connection, read and written by the event loop's socket calls."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await _reading(asyncio.get_running_loop().sock_recv(self._sock, max_bytes), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            await _writing(asyncio.get_running_loop().sock_sendall(self._sock, buffer), timeout)

    async def aclose(self) -> None:
        self._sock.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """The same connection with TLS on top; this stream must not be used any more."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    sock=self._sock, ssl=ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as e:
            self._sock.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from e
        except (OSError, ssl.SSLError) as e:
            self._sock.close()
            raise httpcore.ConnectError(str(e) or type(e).__name__) from e
        return TLSStream(reader, writer, self._sock)

    def get_extra_info(self, info: str) -> Any:
        return _extra_info(info, self._sock, None)


class TLSStream(httpcore.AsyncNetworkStream):
    """A TLS connection (asyncio streams over the socket :class:`SocketStream` connected)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock: socket.socket
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await _reading(self._reader.read(max_bytes), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            await _writing(self._send(buffer), timeout)

    async def _send(self, buffer: bytes) -> None:
        self._writer.write(buffer)
        await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("TLS inside TLS (an https proxy) is not used by the fetcher")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # the stream reads ahead: what it holds counts, as what the socket does
            return self._reader.at_eof() or self._writer.is_closing() or readable(self._sock)
        return _extra_info(info, self._sock, self._writer.get_extra_info("ssl_object"))


def _extra_info(info: str, sock: socket.socket, ssl_object: ssl.SSLObject | None) -> Any:
    """What httpcore asks a stream: the socket, its addresses, the TLS object, idle readability."""
    if info == "is_readable":
        return readable(sock)
    if info == "socket":
        return sock
    if info == "ssl_object":
        return ssl_object
    if info in ("server_addr", "client_addr"):
        try:
            return sock.getpeername() if info == "server_addr" else sock.getsockname()
        except OSError:
            return None
    return None


async def _reading(operation: Awaitable[bytes], timeout: float | None) -> bytes:
    """``operation`` under ``timeout``, its failures as httpcore's read errors."""
    try:
        async with asyncio.timeout(timeout):
            return await operation
    except TimeoutError as e:
        raise httpcore.ReadTimeout("read timed out") from e
    except OSError as e:  # ssl.SSLError is one too
        raise httpcore.ReadError(str(e) or type(e).__name__) from e


async def _writing(operation: Awaitable[None], timeout: float | None) -> None:
    """``operation`` under ``timeout``, its failures as httpcore's write errors."""
    try:
        async with asyncio.timeout(timeout):
            await operation
    except TimeoutError as e:
        raise httpcore.WriteTimeout("write timed out") from e
    except OSError as e:
        raise httpcore.WriteError(str(e) or type(e).__name__) from e
