"""Anonymous answers kept until the next change, with ETags and 304s (issue 14, goal 4).

What a reader sees on a list, an article, a search or a page changes only when the store's change
stamp moves (``Store.change_stamp``: one row every write to articles, topics, stories or decisions
bumps as it commits, in whatever process). So :class:`ResponseCache` keeps the answer to an
anonymous ``GET`` under (host, path, query) for as long as the stamp it was made under stays current,
and answers again from memory: no query, no template, no JSON encoding. Requests for an answer that is
being made wait for it instead of making it again (after a change, every client asks for the front
page at once). Every answer it keeps carries
an ``ETag`` (a hash of the body) and an ``Age`` (seconds since it was made, RFC 9111 §5.1: how long a
change has left it as it was); a request whose ``If-None-Match`` names it gets a bodiless ``304``.

Who is never served from here: any request that carries credentials — an ``Authorization`` header or
a session cookie — is passed through untouched, every time. Anonymous callers all see the same thing
(published records), so nothing one user may see is ever kept where another could read it, and a
revoked token is checked on each request as before.

Web pages hold a CSRF token per visitor. A page made for the cache is rendered with
:data:`CSRF_MARKER` in its place (the page asks :func:`for_cache`), and each answer gets the visitor's
own token put back — from their cookie, or a new one with its ``Set-Cookie`` — through the
``page_token`` function the web UI leaves on ``app.state`` (:data:`TOKEN_KEY`).

The stamp is read at most every :data:`STAMP_TTL_S` per process, at once after this process changed
something (a request here, the desk's thread), and whenever a request says ``Cache-Control: no-cache``
(the live UI's refetch does).

When the stamp has moved, the answers kept are not dropped but marked stale: the first request for a
stale answer starts making it anew and, like every request for it until the new one is ready, gets
the stale one at once (stale-while-revalidate, RFC 5861's idea inside the server). A desk that is
ingesting moves the stamp every second; without this, every reader who asked for the front page just
after each move waited for it to be made again. The bounds, from a change committed by any process:

- it shows within :data:`STAMP_TTL_S` + :data:`STALE_S` of its commit (a stale answer is served only
  that long after the old stamp was last seen current; past it, readers wait for the new answer);
- at once to a client that sends ``no-cache``, and after this process's own change (a stale answer
  is never served for either).

Targeted: a move does not touch every answer. While an answer is made, the catalog notes what it shows
(``reading``: its articles, stories, search words, or "a published list"); when the stamp moves, the
change log says what the committed transactions touched (``touched``), and every answer of the last
generation that none of it touches is carried over to the new generation, current as before. The
others turn stale as above. A desk saving unpublished articles then leaves the front page, the lists
and every search current; a published one makes stale the lists (of its topics only, where a list is
of one topic) and the searches whose words it matches, and an article page turns stale only when the
article itself, its story or a related record changed. When the log cannot say (pruned past, a transaction that noted nothing), nothing is carried.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (host, path, query string)

CACHE_FLAG = "newsdesk.cacheable"  # scope key: this request's answer may be kept for everyone
CSRF_MARKER = "\x00csrf\x00"  # no template or record can hold a NUL: it cannot clash with content
TOKEN_KEY = "page_token"  # app.state: (csrf cookie, https) -> (token, Set-Cookie header or None)
STAMP_TTL_S = 1.0
"""How long one process trusts the stamp it read: with :data:`STALE_S`, the staleness another process's
change may see, and how often at most a desk that is ingesting (its every save moves the stamp) makes
this process answer everything anew. The live UI polls every 3 s (static/app.js)."""
STALE_S = 1.0
"""How much longer than :data:`STAMP_TTL_S` an answer made before a change may still be served, while
its new one is being made: counted from the last time its stamp was seen current, so a change shows
within both (2 s) of its commit. A second: enough for one process to make its popular answers again at
100k articles (0.4 CPU-s, docs/benchmarks.md "Stale while remade"), under the live UI's 3 s poll."""
REMAKERS = 1
"""Background makings run at once, per process. After a move every popular answer turns stale at once
(at 100k articles: the front page, lists and searches, 2–25 ms of CPU each); made all together they
held the GIL for a few hundred milliseconds and every request that missed waited behind them. One at a
time, they interleave with the requests."""
MAX_QUEUED = 256
"""Background makings waiting for their turn, per process: after a move every article page asked for
is stale too (articles drawn from 33k make a long tail), and a queue longer than a few seconds of
making would only hold answers whose window closes before their turn."""
MAX_BODY_BYTES = 512 * 1024  # larger answers are served but not kept: a few of them would crowd out the rest
SESSION_COOKIE = b"nd_session"
"""A signed-in editor (web/session.py): never cached. Looked for in the raw header, so that no cookie
syntax the app's parser reads and ours would not can slip an editor's page into the cache."""
CACHEABLE_API = ("/api/v1/articles", "/api/v1/stories", "/api/v1/topics", "/api/v1/search")
CACHEABLE_PAGES = ("/", "/topics", "/search")  # and what lies below CACHEABLE_PAGE_TREES
CACHEABLE_PAGE_TREES = ("/topics/", "/articles/")
"""The readers' routes. Not kept: sources (their health moves on every poll, outside the stamp), the
review queue and everything per user, stats (its window follows the clock), feeds and images (their own
validators), operations endpoints."""
NOT_CACHEABLE_API = ("/secured",)  # below /api/v1/articles but admin-only: never kept, even by accident


def cacheable_path(path: str) -> bool:
    """Whether an anonymous GET of ``path`` is one of the readers' routes the stamp covers."""
    if path.startswith("/api/"):
        if any(path.endswith(suffix) for suffix in NOT_CACHEABLE_API):
            return False
        return any(path == p or path.startswith(p + "/") for p in CACHEABLE_API)
    return path in CACHEABLE_PAGES or path.startswith(CACHEABLE_PAGE_TREES)


def for_cache(scope: Scope) -> bool:
    """Whether the page being rendered may be kept for every anonymous visitor (then it must hold
    :data:`CSRF_MARKER` where the visitor's CSRF token goes, and set no cookie itself)."""
    return bool(scope.get(CACHE_FLAG))


@dataclass(frozen=True, slots=True)
class Entry:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    etag: bytes
    has_marker: bool
    made_at: float  # ResponseCache.clock() when made: the Age header (RFC 9111 §5.1) of each answer from here


@dataclass(frozen=True, slots=True)
class Kept:
    """An answer, the generation of the stamp it was made under (:attr:`ResponseCache.generation`), and
    what it read (``reading``'s record; None: unknown, any change touches it)."""

    entry: Entry
    generation: int
    reads: Any = None


Touched = Callable[[Any], bool]  # is this answer's record of its reads touched by the change?


class ResponseCache:
    """ASGI middleware. ``stamp`` reads the store's change stamp (in a worker thread), None when the
    store cannot say: then nothing is kept or served from memory. ``local`` counts this process's own
    changes: when it moves the stamp is read again at once, whatever its age. ``ttl`` and ``stale``
    are :data:`STAMP_TTL_S` and :data:`STALE_S` unless a test needs them shorter. ``reading`` (a
    context manager around each making, yielding the record of what it read) and ``touched`` (given
    the old and the new stamp, in a worker thread: which records the change touches) make a move
    touch only some answers; without them every answer turns stale. ``clock``: the time the windows
    are counted in (a test's own, so that a loaded machine's pauses cannot close a window early)."""

    def __init__(
        self,
        app: ASGIApp,
        stamp: Callable[[], Hashable | None],
        local: Callable[[], int],
        entries: int = 2000,
        *,
        ttl: float = STAMP_TTL_S,
        stale: float = STALE_S,
        reading: Callable[[], AbstractContextManager[Any]] | None = None,
        touched: Callable[[Hashable, Hashable], Touched] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.clock = clock
        self.reading = reading or nullcontext
        self.touched = touched
        self._reader = asyncio.Lock()  # one stamp read (and carry-over) at a time
        self.ttl, self.stale = ttl, stale
        self.stamp = stamp
        self.local = local
        self._local = local()
        self.entries = entries
        self._kept: OrderedDict[Key, Kept] = OrderedDict()
        self._making: dict[Key, asyncio.Future[Entry]] = {}
        self._remaking: set[asyncio.Task[None]] = set()  # background makings, held (else collectable)
        self._remakers = asyncio.Semaphore(REMAKERS)
        self._queued: set[Key] = set()  # keys with a background making started or waiting for its turn
        self._stale_asked: dict[Key, int] = {}  # stale answers served once, by the generation then
        self._stamp: Hashable = None
        self._read_at = float("-inf")
        self.generation = 0  # moves with each change of the stamp this process sees
        self._stale_until: dict[int, float] = {}  # g: answers made before g may be served until then
        self._own = False  # this process changed something since the stamp was last read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.entries <= 0:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "GET":
            try:
                await self.app(scope, receive, send)
            finally:
                if scope["method"] != "HEAD":
                    self._read_at = float("-inf")  # it may have written: read the stamp again next time
            return
        if not cacheable_path(scope["path"]) or _has_credentials(scope):
            await self.app(scope, receive, send)
            return
        force = _revalidate(scope)
        await self._fresh(force=force)
        if self._stamp is None:  # the store did not answer: the app says so in its own words
            await self.app(scope, receive, send)
            return
        await self._cached(scope, receive, send, stale_ok=not force)

    async def _cached(self, scope: Scope, receive: Receive, send: Send, *, stale_ok: bool) -> None:
        host = _header(scope, b"host").decode("latin-1")
        key = (host, scope["path"], scope["query_string"].decode("latin-1"))
        kept = self._kept.get(key)
        if kept is not None and (kept.generation == self.generation or (stale_ok and self._servable(kept))):
            self._kept.move_to_end(key)
            if kept.generation != self.generation and self._asked_again(key):
                self._remake(key, scope)
            await _answer(scope, send, kept.entry, kept=True, now=self.clock())
            return
        making = self._making.get(key)
        if making is not None:  # the same answer is being made: wait for it rather than make it again
            entry = await asyncio.shield(making)
            await _answer(scope, send, entry, kept=_keepable(entry), now=self.clock())
            return
        entry = await self._made(key, scope, receive)
        await _answer(scope, send, entry, kept=_keepable(entry), now=self.clock())

    def _servable(self, kept: Kept) -> bool:
        """Whether a stale answer may still be served (see :meth:`_fresh`): the window that the first
        move after it was made opened is still open."""
        return self.clock() < self._stale_until.get(kept.generation + 1, float("-inf"))

    def _asked_again(self, key: Key) -> bool:
        """Whether a stale answer is asked for the second time since the stamp moved (and is not being
        made yet): only those are made in the background. The popular ones are asked again within
        milliseconds; an article page from the long tail is served stale once and, if asked again
        after its window, made then, instead of queueing before the front page."""
        if key in self._queued or key in self._making:
            return False
        if self._stale_asked.get(key) == self.generation:
            return True
        self._stale_asked[key] = self.generation
        if len(self._stale_asked) > self.entries:
            self._stale_asked.clear()
        return False

    def _remake(self, key: Key, scope: Scope) -> None:
        """Make ``key``'s answer anew in the background, for the requests to come (this one is served
        the stale answer). At most :data:`MAX_QUEUED` wait their turn: past that, a stale answer is
        served without one, and made by a request once its window has closed."""
        if len(self._queued) >= MAX_QUEUED:
            return
        wanted = self.generation

        async def remake() -> None:
            try:
                async with self._remakers:
                    kept = self._kept.get(key)
                    current = kept is not None and kept.generation >= wanted
                    if not current and key not in self._making:  # not made meanwhile by a request
                        await self._made(key, scope, _no_body)
            except Exception:  # a failing page fails again in the request that waits for it
                log.warning("response remake failed", extra={"path": key[1]}, exc_info=True)
            finally:
                self._queued.discard(key)

        self._queued.add(key)
        task = asyncio.get_running_loop().create_task(remake())
        self._remaking.add(task)
        task.add_done_callback(self._remaking.discard)

    async def _made(self, key: Key, scope: Scope, receive: Receive) -> Entry:
        """Make ``key``'s answer (those who ask meanwhile wait for this one) and keep it when it may be
        kept, under the generation it was started in."""
        generation = self.generation
        made: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._making[key] = made
        try:
            entry, reads = await self._make(scope, receive)
        except BaseException as e:
            made.set_exception(e)
            made.exception()  # retrieved: a waiter-less failure is not "never retrieved"
            raise
        else:
            made.set_result(entry)
        finally:
            del self._making[key]
        if _keepable(entry):
            self._keep(key, Kept(entry, generation, reads))
        return entry

    async def _fresh(self, *, force: bool = False) -> None:
        """Read the stamp when asked to, when this process changed something, or when the last reading
        is older than STAMP_TTL_S (one request reads it; the others that find it due wait for that).
        When it moved, the answers the change may touch turn stale: servable until STAMP_TTL_S +
        STALE_S after the old stamp was last seen current (the change came after that), and not at
        all when this process or the client asked for the change to show at once."""
        if not self._due(force):
            return
        if self._reader.locked() and not force and not self._own and self._stamp is not None:
            return  # being read by another request: meanwhile, what is held stays served
        async with self._reader:
            if not self._due(force):  # read by the request this one waited for
                return
            self._local = self.local()
            own = self._own
            asked, last_seen = self.clock(), self._read_at
            stamp = await run_in_threadpool(self.stamp)
            if stamp != self._stamp:
                carried = await self._untouched(self._stamp, stamp)
                self._moved(stamp, asked, last_seen, now=force or own, carried=carried)
            self._read_at = asked  # what the store said then, at the latest
            self._own = False

    def _due(self, force: bool) -> bool:
        """Whether the stamp must be read now (see :meth:`_fresh`); notes this process's own change."""
        if self.local() != self._local:
            self._own = True
        return force or self._own or self.clock() - self._read_at >= self.ttl

    def _moved(
        self, stamp: Hashable, asked: float, last_seen: float, *, now: bool, carried: list[tuple[Key, Kept]]
    ) -> None:
        """The stamp moved: a new generation, to which the ``carried`` answers move (still current)."""
        before = self.generation
        self._stamp = stamp
        self.generation += 1
        if now:  # the change must show at once: nothing made before it may be served
            self._stale_until = {}
        else:
            self._stale_until = {g: t for g, t in self._stale_until.items() if t > asked}  # the rest: too old
            self._stale_until[self.generation] = last_seen + self.ttl + self.stale
        for key, kept in carried:
            if self._kept.get(key) is kept and kept.generation == before:  # not made again meanwhile
                self._kept[key] = Kept(kept.entry, self.generation, kept.reads)

    async def _untouched(self, old: Hashable, new: Hashable) -> list[tuple[Key, Kept]]:
        """The answers of the current generation that the changes from ``old`` to ``new`` do not touch
        (read in a worker thread: the change log, and the search matches it needs); none when the log
        cannot be read."""
        current = [(k, kept) for k, kept in self._kept.items() if kept.generation == self.generation]
        touched = self.touched
        if touched is None or old is None or new is None or not current:
            return []

        def untouched() -> list[tuple[Key, Kept]]:
            test = touched(old, new)
            return [(k, kept) for k, kept in current if kept.reads is not None and not test(kept.reads)]

        try:
            return await run_in_threadpool(untouched)
        except Exception:  # the log unreadable: every answer turns stale, as without it
            log.warning("change log not read", exc_info=True)
            return []

    def _keep(self, key: Key, kept: Kept) -> None:
        old = self._kept.get(key)
        if old is not None and old.generation > kept.generation:
            return  # a newer answer came first (a slow making of an older generation ends later)
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > self.entries:
            self._kept.popitem(last=False)

    async def _make(self, scope: Scope, receive: Receive) -> tuple[Entry, Any]:
        """Run the app (told that its answer may be kept for everyone) and collect its answer and the
        record of what it read."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        with self.reading() as reads:
            await self.app({**scope, CACHE_FLAG: True}, receive, capture)
        body = b"".join(chunks)
        headers = tuple((bytes(k).lower(), bytes(v)) for k, v in start.get("headers", []))
        kept = tuple((k, v) for k, v in headers if k not in (b"content-length", b"etag"))
        etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        marked = CSRF_MARKER.encode() in body
        return Entry(int(start.get("status", 500)), kept, body, etag, marked, self.clock()), reads


async def _no_body() -> Message:
    """The request body of a GET made in the background: none (the readers' routes read no body)."""
    return {"type": "http.request", "body": b"", "more_body": False}


def _keepable(entry: Entry) -> bool:
    """A 200 of modest size that sets no cookie and allows storing."""
    names = {k for k, _ in entry.headers}
    control = b",".join(v for k, v in entry.headers if k == b"cache-control").lower()
    small = len(entry.body) <= MAX_BODY_BYTES
    return entry.status == 200 and small and b"set-cookie" not in names and b"no-store" not in control


async def _answer(scope: Scope, send: Send, entry: Entry, *, kept: bool, now: float) -> None:
    """The answer, with the visitor's CSRF token put back. A keepable one carries its ETag, and is a
    304 when the visitor holds it already."""
    headers = list(entry.headers)
    if kept:
        age = str(int(now - entry.made_at)).encode()
        headers += [(b"etag", entry.etag), (b"cache-control", b"no-cache"), (b"age", age)]
    if kept and _matches(_header(scope, b"if-none-match"), entry.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = entry.body
    if entry.has_marker:
        token, cookie = _page_token(scope)
        body = body.replace(CSRF_MARKER.encode(), token.encode())
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode("latin-1")))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _page_token(scope: Scope) -> tuple[str, str | None]:
    page_token: Callable[[str | None, bool], tuple[str, str | None]] = getattr(scope["app"].state, TOKEN_KEY)
    return page_token(_cookie(scope, "nd_csrf"), scope.get("scheme") == "https")


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: weak comparison over a comma-separated list, or ``*``."""
    wanted = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return etag in wanted or b"*" in wanted


def _revalidate(scope: Scope) -> bool:
    """The client asks for an answer checked against the store (RFC 9111 §5.2.1.4; a browser's
    ``fetch(url, {cache: "no-store"})`` sends it — the live UI's refetch after the stamp moved)."""
    control = _header(scope, b"cache-control").lower() + b"," + _header(scope, b"pragma").lower()
    return b"no-cache" in control


def _has_credentials(scope: Scope) -> bool:
    return bool(_header(scope, b"authorization")) or any(
        SESSION_COOKIE in value.lower() for key, value in scope.get("headers", []) if key.lower() == b"cookie"
    )


def _cookie(scope: Scope, name: str) -> str | None:
    """The cookie as the app reads it (Starlette's parser)."""
    return cookie_parser(_header(scope, b"cookie").decode("latin-1")).get(name)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return b""
