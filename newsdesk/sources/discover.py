"""Feed discovery: which feed URLs a web page advertises, and which to probe when it advertises none.

Contract: :func:`discover_feeds` is pure (HTML text in, candidates out) and never fetches; a caller
probes the candidates with the fetcher and confirms each with ``parse_feed``. It returns, each URL
once, absolute http(s) only: first the ``<link rel="alternate">`` feeds in document order (the
publisher's own declaration, most trustworthy), then ``<a>`` links whose URL looks like a feed. Within
each group, comment feeds go last: a site's article feed is what a user adding the site wants.
:func:`candidate_urls` lists the conventional feed locations (:data:`COMMON_FEED_PATHS`) for a site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from newsdesk.model import is_http_url

if TYPE_CHECKING:
    from lxml import etree

KIND_RSS, KIND_ATOM, KIND_JSON, KIND_RDF, KIND_SITEMAP = "rss", "atom", "json", "rdf", "sitemap"
KIND_UNKNOWN = "unknown"

FEED_TYPES = {
    "application/rss+xml": KIND_RSS,
    "application/atom+xml": KIND_ATOM,
    "application/feed+json": KIND_JSON,
    "application/json": KIND_JSON,
    "application/rdf+xml": KIND_RDF,
    "text/xml": KIND_UNKNOWN,
    "application/xml": KIND_UNKNOWN,
}
"""``type`` values of ``<link rel=alternate>`` that name a feed, and the feed kind each implies."""

COMMON_FEED_PATHS = (
    "/feed",
    "/feed/",
    "/rss",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.json",
    "/feeds/posts/default",
    "/?feed=rss2",
    "/sitemap.xml",
    "/news-sitemap.xml",
    "/sitemap_index.xml",
)
"""Where CMSes and static-site generators put feeds: WordPress (``/feed``, ``?feed=rss2``), Hugo
(``/index.xml``), Jekyll (``/feed.xml``), Ghost (``/rss``), Blogger (``/feeds/posts/default``), JSON
Feed (``/feed.json``), and the sitemaps Google News publishers keep."""

_FEEDLIKE_PATH = re.compile(
    r"(?:^|/)(?:feed|rss|atom)/?$"  # WordPress /feed/, Ghost /rss/
    r"|\.(?:rss|atom)$"
    r"|(?:^|/)(?:feed|rss|atom|index|sitemap|news-sitemap)[\w-]*\.(?:xml|json)$"
    r"|/feeds?/",  # Blogger /feeds/posts/default, /feed/podcast
    re.IGNORECASE,
)
_FEEDLIKE_QUERY = re.compile(r"(?:^|&)feed=", re.IGNORECASE)
_COMMENTS = re.compile(r"comment", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A candidate feed: its URL, the title the page gives it, and the kind guessed from the type/URL
    (rss | atom | json | rdf | sitemap | unknown)."""

    url: str
    title: str | None
    kind: str


def discover_feeds(html: str, page_url: str) -> list[DiscoveredFeed]:
    """Feeds advertised by the page ``html`` served at ``page_url`` (see the module contract)."""
    root = _document(html)
    if root is None:
        return []
    base = _base_url(root, page_url)
    declared = [f for f in (_from_link(node, base) for node in root.iter("link")) if f]
    anchors = [f for f in (_from_anchor(node, base) for node in root.iter("a")) if f]
    found: dict[str, DiscoveredFeed] = {}
    for feed in [*_comments_last(declared), *_comments_last(anchors)]:
        found.setdefault(feed.url, feed)
    return list(found.values())


def candidate_urls(site_url: str) -> list[str]:
    """The conventional feed locations of the site at ``site_url``: under its directory first (a blog
    at ``/blog/`` has ``/blog/feed``), then under the host root. Empty for a non-http(s) URL."""
    if not is_http_url(site_url):
        return []
    parts = urlsplit(site_url)
    root = f"{parts.scheme}://{parts.netloc}"
    directory = parts.path[: parts.path.rfind("/")] if "/" in parts.path else ""
    prefixes = [root + directory, root] if directory else [root]
    return list(dict.fromkeys(prefix + path for prefix in prefixes for path in COMMON_FEED_PATHS))


def _document(html: str) -> etree._Element | None:
    """The page's tree. lxml is imported here, on the first page read: every run that syncs a sources
    file imports this module (for :class:`DiscoveredFeed`), and most read no page (≈ 25 CPU-ms)."""
    if not html.strip():
        return None
    import lxml.html
    from lxml import etree

    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def _base_url(root: etree._Element, page_url: str) -> str:
    for base in root.iter("base"):
        href = (base.get("href") or "").strip()
        if href:
            joined = _join(page_url, href)
            return joined if joined else page_url
    return page_url


def _join(base: str, href: str | None) -> str | None:
    if not href or not href.strip():
        return None
    try:
        url = urljoin(base, href.strip())
    except ValueError:
        return None
    return url.split("#", 1)[0] if is_http_url(url) else None


def _from_link(node: etree._Element, base: str) -> DiscoveredFeed | None:
    rel = (node.get("rel") or "").lower().split()
    kind = FEED_TYPES.get((node.get("type") or "").split(";")[0].strip().lower())
    url = _join(base, node.get("href"))
    if "alternate" not in rel or kind is None or url is None:
        return None
    return DiscoveredFeed(url, (node.get("title") or "").strip() or None, kind)


def _from_anchor(node: etree._Element, base: str) -> DiscoveredFeed | None:
    url = _join(base, node.get("href"))
    if url is None or not _looks_like_feed(url):
        return None
    text = " ".join(node.text_content().split()) or None
    return DiscoveredFeed(url, text, _kind_from_url(url))


def _looks_like_feed(url: str) -> bool:
    parts = urlsplit(url)
    return bool(_FEEDLIKE_PATH.search(parts.path) or _FEEDLIKE_QUERY.search(parts.query))


def _kind_from_url(url: str) -> str:
    path = urlsplit(url).path.lower()
    if "sitemap" in path:
        return KIND_SITEMAP
    if path.endswith(".json"):
        return KIND_JSON
    if "atom" in path:
        return KIND_ATOM
    return KIND_RSS if ("rss" in path or "feed" in path or "=rss" in url.lower()) else KIND_UNKNOWN


def _comments_last(feeds: list[DiscoveredFeed]) -> list[DiscoveredFeed]:
    return sorted(feeds, key=lambda f: bool(_COMMENTS.search(f"{f.title or ''} {f.url}")))
