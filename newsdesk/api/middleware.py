"""ASGI middleware: the request-body cap and the headers every response carries.

:class:`BodyLimit` refuses a body over ``max_bytes`` with a 413 problem before any handler or parser sees
it: at once when ``Content-Length`` says so, otherwise (chunked uploads) after reading at most
``max_bytes + 1`` bytes — it never buffers more than that. A body within the limit is replayed to the app
unchanged.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem

MAX_BODY_BYTES = 1_000_000  # the largest JSON body we accept (a source or an editorial action is < 10 kB)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),  # JSON stays JSON: no browser sniffs a title into HTML
    (b"referrer-policy", b"no-referrer"),
)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is not None or not _chunked(scope):
            await self.app(scope, receive, send)
            return
        body, more = await _read_up_to(receive, self.max_bytes + 1)
        if len(body) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        response = problem(Request(scope), 413, detail, slug="too-large", headers={"Connection": "close"})
        await response(scope, receive, send)


class SecurityHeaders:
    """Adds ``headers`` (default :data:`SECURITY_HEADERS`) to every response that does not set them."""

    def __init__(self, app: ASGIApp, headers: tuple[tuple[bytes, bytes], ...] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _chunked(scope: Scope) -> bool:
    return b"chunked" in (_header(scope, b"transfer-encoding") or b"").lower()


async def _read_up_to(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Read body messages until the body ends or passes ``limit`` bytes; (bytes, more_body)."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more and size < limit:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
    return b"".join(chunks), more


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
