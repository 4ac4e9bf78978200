"""A small real HTTP server on 127.0.0.1 for tests: routes to canned or computed replies.

Used as a context manager; each route maps a path (query string ignored) to a :class:`Reply` or to a
function of the :class:`Seen` request returning one. Replies can lie about Content-Length, drip-feed the
body, stream a huge generated body, redirect, or wait before answering. The server records every request
(path, headers) and the largest number of requests it was handling at once::

    with LoopbackServer({"/": Reply(body=b"<html>hi</html>")}) as server:
        ... fetch server.url("/") ...
        assert server.hits("/") == 1
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import brotli


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it (header names lower-cased)."""

    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""  # a POST's body (webhook receivers)
    method: str = "GET"
    client_port: int = 0  # the client's end of the connection: one port, one connection


@dataclass(frozen=True)
class Reply:
    """What to answer. ``body`` may be bytes or a zero-argument function yielding chunks (streamed with
    no Content-Length, connection closed at the end). ``content_length`` overrides the header (a lie when
    it differs from the body). ``delay`` waits before the status line; ``chunk_delay`` between chunks.
    """

    status: int = 200
    body: bytes | Callable[[], Iterable[bytes]] = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    content_length: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0


Route = Reply | Callable[[Seen], Reply]


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type=None)


def rss_with_content(base: str, items: Iterable[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed of ``(slug, text)`` items: "Story slug" at ``base/a/slug``, the text as the
    item's ``content:encoded``."""
    content = "http://purl.org/rss/1.0/modules/content/"
    body = "".join(
        f"<item><title>Story {slug}</title><link>{base}/a/{slug}</link>"
        f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
        for slug, text in items
    )
    head = f'<?xml version="1.0"?><rss version="2.0" xmlns:content="{content}"><channel><title>F</title>'
    return (head + body + "</channel></rss>").encode()


def drip(chunk: bytes, every: float, count: int) -> Reply:
    """Send ``chunk`` ``count`` times, ``every`` seconds apart."""
    return Reply(body=lambda: (chunk for _ in range(count)), chunk_delay=every)


def huge(total_bytes: int, chunk_size: int = 65536, content_type: str = "text/html") -> Reply:
    """A generated body of ``total_bytes`` (never held in memory), streamed without Content-Length."""

    def chunks() -> Iterable[bytes]:
        block = b"a" * chunk_size
        for start in range(0, total_bytes, chunk_size):
            yield block[: min(chunk_size, total_bytes - start)]

    return Reply(body=chunks, content_type=content_type)


def compressed(body: bytes, encoding: str, content_type: str = "text/html; charset=utf-8") -> Reply:
    """``body`` compressed with ``gzip`` or ``br`` and labelled with Content-Encoding."""
    data = gzip.compress(body) if encoding == "gzip" else brotli.compress(body)
    return Reply(body=data, content_type=content_type, headers={"Content-Encoding": encoding})


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port."""

    def __init__(self, routes: Mapping[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[Seen] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # don't wait for drip-feeding handler threads
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, reply: Route) -> None:
        self.routes[path] = reply

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen.path == path)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # called from handler threads
    def _begin(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        route = self.routes.get(seen.path)
        if route is None:
            return Reply(status=404, body=b"not found", content_type="text/plain")
        return route if isinstance(route, Reply) else route(seen)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _handler_class(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(parts.path, parts.query, headers, client_port=self.client_address[1])
            reply = server._begin(seen)
            try:
                _send(self, reply)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True  # the client gave up, as tests intend
            finally:
                server._end()

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._begin(Seen(parts.path, parts.query, headers, body, "POST"))
            try:
                _send(self, reply)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True
            finally:
                server._end()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.delay:
        time.sleep(reply.delay)
    handler.send_response(reply.status)
    if reply.content_type:
        handler.send_header("Content-Type", reply.content_type)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    streamed = not isinstance(reply.body, bytes)
    length = reply.content_length
    if length is None and isinstance(reply.body, bytes):
        length = len(reply.body)
    if length is not None:
        handler.send_header("Content-Length", str(length))
    if streamed or length is None or length != len(reply.body if isinstance(reply.body, bytes) else b""):
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body()
    for chunk in chunks:
        handler.wfile.write(chunk)
        handler.wfile.flush()
        if reply.chunk_delay:
            time.sleep(reply.chunk_delay)
