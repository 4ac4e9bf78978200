"""The demo site server: one stdlib ``ThreadingHTTPServer`` on loopback serving every provider as a
virtual host chosen by the ``Host`` header.

Feeds and pages link to clean ``http://<provider>.example/...`` URLs without a port; newsdesk's fetcher
maps those names onto the loopback address with :meth:`DemoSite.resolve_map` (like ``curl
--connect-to``). The route table is built once at start from the :class:`~newsdesk.demo.world.World`;
images are generated on first request and kept in memory.

HTTP behaviour the pipeline is tested against:

* conditional GET: every 200 carries ``ETag`` and ``Last-Modified``; a matching ``If-None-Match`` (or,
  without one, an ``If-Modified-Since`` not older than the resource) gets ``304`` (RFC 9110 §13.2.2);
* ``Content-Encoding: gzip`` for text when ``Accept-Encoding`` allows it (``Vary: Accept-Encoding``);
* ``/r/<token>`` short links answer 301 or 302; unknown paths and the one broken feed link answer 404;
* query strings never change which page is served, so tracking-parameter links reach the article.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from newsdesk.demo import feeds, media, pages
from newsdesk.demo.world import DemoArticle, DemoImage, DemoProvider, World, load_world, short_id
from newsdesk.model import now as utc_now

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
GZIP_LEVEL = 6  # the default of nginx/Apache deployments; size, not speed, matters here
COMPRESSIBLE_PREFIXES = (
    "text/",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
)
HTML = "text/html; charset=utf-8"
URLSET_PATH = "/sitemaps/articles-latest.xml.gz"
INDEX_PATH = "/sitemap_index.xml"


@dataclass(frozen=True, slots=True)
class Resource:
    """One routable response: a body (or a function that renders it once), or a redirect."""

    content_type: str
    body: bytes = b""
    render: Callable[[], bytes] | None = None
    last_modified: datetime | None = None
    status: int = 200
    location: str | None = None

    @property
    def compressible(self) -> bool:
        return self.content_type.startswith(COMPRESSIBLE_PREFIXES)


Routes = dict[tuple[str, str], Resource]


def _text(content_type: str, text: str, last_modified: datetime | None = None) -> Resource:
    return Resource(content_type, text.encode("utf-8"), last_modified=last_modified)


def build_routes(world: World) -> Routes:
    """Every (host, path) the site answers, for all providers of ``world``."""
    routes: Routes = {}
    for provider in world.providers:
        routes |= _provider_routes(world, provider)
    return routes


def _provider_routes(world: World, provider: DemoProvider) -> Routes:
    articles = world.of(provider)
    live = [a for a in articles if a.page_status == 200]
    host = provider.host
    updated = feeds.newest(articles, world.now)
    feed_type = feeds.FEED_CONTENT_TYPES[provider.feed_kind]
    routes: Routes = {
        (host, "/"): _text(HTML, pages.render_home_page(provider, live), updated),
        (host, provider.feed_path): _text(
            feed_type, feeds.render_feed(provider, articles, world.now), updated
        ),
        (host, "/robots.txt"): _text(
            "text/plain; charset=utf-8", pages.render_robots(provider, _sitemaps(provider))
        ),
        (provider.media_host, "/assets/logo.png"): Resource(
            "image/png", render=lambda: media.render_logo(provider.name, provider.colours)
        ),
    }
    if provider.sitemap_index:
        routes |= _sitemap_routes(provider, live, updated)
    for article in articles:
        routes |= _article_routes(provider, article, [a for a in live if a is not article])
    return routes


def _sitemaps(provider: DemoProvider) -> list[str]:
    listed = [provider.feed_url] if provider.feed_kind == "news-sitemap" else []
    return listed + ([provider.base_url + INDEX_PATH] if provider.sitemap_index else [])


def _sitemap_routes(provider: DemoProvider, articles: list[DemoArticle], updated: datetime) -> Routes:
    index = feeds.render_sitemap_index([(provider.base_url + URLSET_PATH, updated)])
    urlset = gzip.compress(feeds.render_urlset(articles).encode("utf-8"), mtime=0)
    return {
        (provider.host, INDEX_PATH): _text("application/xml; charset=utf-8", index, updated),
        (provider.host, URLSET_PATH): Resource("application/gzip", urlset, last_modified=updated),
    }


def _article_routes(provider: DemoProvider, article: DemoArticle, others: list[DemoArticle]) -> Routes:
    routes: Routes = {}
    path = urlsplit(article.url).path
    if article.page_status == 200:
        page = pages.render_article_page(provider, article, others)
        routes[(provider.host, path)] = _text(HTML, page, article.modified_at)
    if article.redirect_status is not None:
        redirect = Resource(HTML, status=article.redirect_status, location=article.url)
        routes[(provider.host, f"/r/{short_id(article.id)}")] = redirect
    for image in article.images:
        routes[_host_path(image.url)] = _image_resource(image, article.published_at)
    routes |= _media_routes(article)
    return routes


def _host_path(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.path)


def _image_resource(image: DemoImage, published: datetime) -> Resource:
    def render() -> bytes:
        path = urlsplit(image.url).path
        data = media.render_image(path, image.width, image.height, image.format, image.word)
        return media.truncate(data) if image.broken else data

    return Resource(image.content_type, render=render, last_modified=published)


def _media_routes(article: DemoArticle) -> Routes:
    clip = article.media
    if clip is None:
        return {}
    if clip.kind == "audio":
        seconds = clip.seconds
        return {_host_path(clip.url): Resource("audio/mpeg", render=lambda: media.silent_mp3(seconds))}
    return {_host_path(clip.url): _text(HTML, pages.render_embed_page(article), article.published_at)}


# --- HTTP semantics -------------------------------------------------------------------------------------


def entity_tag(body: bytes, suffix: str = "") -> str:
    """A strong validator for one representation; gzip gets its own tag (RFC 9110 §8.8.3)."""
    return f'"{hashlib.sha256(body).hexdigest()[:20]}{suffix}"'


def not_modified(headers: dict[str, str], etags: tuple[str, ...], last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: ``If-None-Match`` decides when present; otherwise ``If-Modified-Since``."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or any(tag in tags for tag in etags)
    since = headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        return last_modified <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # an unparseable date is ignored, as the RFC asks


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header: port dropped, IPv6 brackets removed, lower-cased."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.partition(":")[0]


def accepts_gzip(accept_encoding: str) -> bool:
    """True when ``gzip`` is listed without ``q=0`` (``*`` counts too)."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@dataclass(frozen=True, slots=True)
class Reply:
    """What the handler writes: status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


# --- the site -------------------------------------------------------------------------------------------


class DemoSite:
    """The bundled fictional news world, served on loopback.

    ``now`` fixes article dates (and with them URLs, feeds and validators); tests pass a fixed time.
    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self.world = load_world(now or utc_now())
        self._routes = build_routes(self.world)
        self._rendered: dict[tuple[str, str], bytes] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_host = LOOPBACK

    # --- lifecycle

    def start(self, host: str = LOOPBACK, port: int = 0) -> DemoSite:
        """Bind ``host:port`` (default: a free loopback port) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server((host, port), _Handler, self)
        self._bound_host = host
        self._thread = threading.Thread(target=self._server.serve_forever, name="newsdesk-demo", daemon=True)
        self._thread.start()
        logger.info("demo site started", extra={"port": self.port, "hosts": len(self.hosts())})
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Block the calling thread until Ctrl-C (for ``python -m newsdesk.demo``)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def replace_world(self, world: World) -> None:
        """Serve ``world`` from now on (the timeline's follow-ups, :mod:`newsdesk.demo.timeline`).
        Generated images stay cached: their bytes depend only on their URL."""
        routes = build_routes(world)
        with self._lock:
            self.world, self._routes = world, routes

    # --- what others build on

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the demo site is not started")
        return int(self._server.server_address[1])

    def hosts(self) -> list[str]:
        """Every virtual host served, in provider order (provider hosts, then media hosts)."""
        seen = dict.fromkeys(host for host, _ in self._routes)
        return list(seen)

    def resolve_map(self) -> dict[str, str]:
        """``{"fintechdaily.example": "127.0.0.1:54321", ...}`` for every host the site serves."""
        address = f"{self._bound_host}:{self.port}"
        return dict.fromkeys(self.hosts(), address)

    def sources(self) -> list[dict[str, object]]:
        """One source per provider, shaped like an entry of ``sources.yaml``."""
        return [
            {
                "url": p.feed_url,
                "kind": "sitemap" if p.feed_kind == "news-sitemap" else "feed",
                "name": p.name,
                "category": p.category,
                "allow_loopback": True,
            }
            for p in self.world.providers
        ]

    def articles(self) -> list[DemoArticle]:
        """The ground truth: every article the feeds and sitemaps list (broken and forbidden ones too)."""
        return list(self.world.articles)

    def request_count(self, path_prefix: str = "", *, host: str | None = None) -> int:
        """How many requests arrived for paths starting with ``path_prefix`` (on ``host``, if given)."""
        with self._lock:
            return sum(
                n
                for (h, path), n in self._counts.items()
                if path.startswith(path_prefix) and host in (None, h)
            )

    # --- serving

    def respond(self, host_header: str, target: str, headers: dict[str, str]) -> Reply:
        """The reply to one GET/HEAD; ``headers`` have lower-case names. Pure but for counting and caching."""
        host = host_name(host_header)
        path = urlsplit(target).path or "/"
        with self._lock:
            self._counts[(host, path)] += 1
        resource = self._routes.get((host, path))
        if resource is None:
            return self._missing(host)
        if resource.location is not None:
            return Reply(resource.status, (("Location", resource.location), ("Content-Length", "0")))
        return self._serve(resource, self._body(host, path, resource), headers)

    def _body(self, host: str, path: str, resource: Resource) -> bytes:
        if resource.render is None:
            return resource.body
        with self._lock:
            cached = self._rendered.get((host, path))
        if cached is None:
            cached = resource.render()
            with self._lock:
                self._rendered[(host, path)] = cached
        return cached

    def _serve(self, resource: Resource, body: bytes, headers: dict[str, str]) -> Reply:
        compress = resource.compressible and accepts_gzip(headers.get("accept-encoding", ""))
        etags = (entity_tag(body), entity_tag(body, "-gzip"))
        validators = [("ETag", etags[1] if compress else etags[0])]
        if resource.last_modified is not None:
            validators.append(("Last-Modified", format_datetime(resource.last_modified, usegmt=True)))
        if resource.compressible:
            validators.append(("Vary", "Accept-Encoding"))
        if not_modified(headers, etags, resource.last_modified):
            return Reply(HTTPStatus.NOT_MODIFIED, tuple(validators))
        if compress:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            validators.append(("Content-Encoding", "gzip"))
        head = (("Content-Type", resource.content_type), ("Content-Length", str(len(body))), *validators)
        return Reply(HTTPStatus.OK, head, body)

    def _missing(self, host: str) -> Reply:
        if host in (LOOPBACK, "localhost"):
            body = pages.render_loopback_index(self.resolve_map()).encode("utf-8")
            return Reply(HTTPStatus.OK, (("Content-Type", HTML), ("Content-Length", str(len(body)))), body)
        names = {p.host: p.name for p in self.world.providers}
        body = pages.render_not_found(names.get(host, host)).encode("utf-8")
        return Reply(HTTPStatus.NOT_FOUND, (("Content-Type", HTML), ("Content-Length", str(len(body)))), body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], site: DemoSite
    ) -> None:
        self.site = site
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a cancelled run) is not worth a traceback; anything else is."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so polite clients can reuse one connection
    server_version = "DemoPress/4.2"
    # Headers and body leave in one segment: with unbuffered writes and Nagle on, each keep-alive
    # response waited for the client's delayed ACK (loopback throughput: docs/benchmarks.md).
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def do_GET(self) -> None:
        self._reply(send_body=True)

    def do_HEAD(self) -> None:
        self._reply(send_body=False)

    def _reply(self, *, send_body: bool) -> None:
        assert isinstance(self.server, _Server)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.site.respond(headers.get("host", ""), self.path, headers)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if send_body and reply.body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("demo request", extra={"request": format % args, "client": self.client_address[0]})


def serve_forever(host: str = LOOPBACK, port: int = 0) -> None:
    """Run the demo site in the foreground until Ctrl-C, printing where each host lives."""
    site = DemoSite().start(host, port)
    print(f"newsdesk demo site on http://{host}:{site.port}/ — virtual hosts:")
    for name, target in site.resolve_map().items():
        print(f"  {name:32} -> {target}")
    print("Feeds and sitemaps:")
    for source in site.sources():
        print(f"  {source['url']}")
    site.serve_until_interrupted()
