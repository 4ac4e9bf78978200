"""Sitemaps in: ``<urlset>`` (with Google News and image extensions), ``<sitemapindex>``, gzipped
bodies and plain-text URL lists (https://www.sitemaps.org/protocol.html).

Contract: :func:`parse_sitemap` returns a :class:`ParsedSitemap` (``entries`` for a urlset or text list,
``children`` for an index) or raises :class:`ParseError`. The XML parser is lxml with entities,
network access and huge trees switched off, so a hostile sitemap cannot read files, call out or
exhaust memory through entity expansion; gzip is inflated with a cap on the output (zip bombs).
Elements are matched by local name, because many sitemaps in the wild get the namespaces wrong.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from newsdesk.errors import ParseError
from newsdesk.model import is_http_url
from newsdesk.sources.feedtypes import absolute_url
from newsdesk.sources.sanitize import without_markup

MAX_SITEMAP_BYTES = 50 * 1024 * 1024
"""Uncompressed size limit. The sitemap protocol caps a sitemap at 50 MB (52,428,800 bytes)
uncompressed, so anything larger is not a valid sitemap, whatever it inflates from."""

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib: expect a gzip header and trailer


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One ``<url>``: the page, when it last changed, and the Google News / image extras if present."""

    url: str
    lastmod: datetime | None = None
    news_title: str | None = None
    news_publication: str | None = None
    news_language: str | None = None
    news_publication_date: datetime | None = None
    image_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    """A sitemap: page ``entries`` (urlset) or child sitemap URLs (``children``, from an index).
    ``children_lastmod`` runs parallel to ``children``."""

    entries: tuple[SitemapEntry, ...] = ()
    children: tuple[str, ...] = ()
    children_lastmod: tuple[datetime | None, ...] = ()


def parse_sitemap(content: bytes, url: str, *, max_bytes: int = MAX_SITEMAP_BYTES) -> ParsedSitemap:
    """Parse the sitemap fetched from ``url`` (the base for any relative location)."""
    body = inflate(content, url, max_bytes) if content.startswith(GZIP_MAGIC) else content
    if len(body) > max_bytes:
        raise ParseError(f"sitemap larger than {max_bytes} bytes", source_url=url)
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError("empty sitemap", source_url=url)
    if not stripped.startswith(b"<"):
        return _text_sitemap(stripped, url)
    root = _xml_root(body, url)
    name = _local(root)
    if name == "urlset":
        entries = (_entry(node, url) for node in _children(root, "url"))
        return ParsedSitemap(entries=tuple(e for e in entries if e is not None))
    if name == "sitemapindex":
        return _index(root, url)
    raise ParseError(f"not a sitemap: root element <{name}>", source_url=url)


def inflate(content: bytes, url: str, max_bytes: int = MAX_SITEMAP_BYTES) -> bytes:
    """Gunzip ``content`` without ever holding more than ``max_bytes`` + 1 of output."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        body = inflater.decompress(content, max_bytes + 1)
    except zlib.error as e:
        raise ParseError(f"corrupt gzip body: {e}", source_url=url) from e
    if len(body) > max_bytes or inflater.unconsumed_tail:
        raise ParseError(f"gzipped sitemap inflates past {max_bytes} bytes", source_url=url)
    if not inflater.eof:
        raise ParseError("corrupt gzip body: truncated stream", source_url=url)
    return body


def _xml_root(body: bytes, url: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as e:
        raise ParseError(f"sitemap is not XML: {e}", source_url=url) from e
    if root is None:
        raise ParseError("sitemap is not XML: no root element", source_url=url)
    return root


def _local(node: etree._Element) -> str:
    """Local name of an element (``{ns}url`` → ``url``; in recover mode lxml may leave ``news:url``)."""
    tag = node.tag
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1] if isinstance(tag, str) else ""


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in node if _local(child) == name]


def _text(node: etree._Element, *path: str) -> str | None:
    """Stripped text of the first descendant along ``path`` (local names), or None when absent/empty."""
    for name in path:
        found = _children(node, name)
        if not found:
            return None
        node = found[0]
    return (node.text or "").strip() or None


def _name(value: str | None) -> str | None:
    """A news title or publication name without markup (a record field, maybe rendered as HTML)."""
    return (without_markup(value) or None) if value else None


def _entry(node: etree._Element, base: str) -> SitemapEntry | None:
    url = absolute_url(_text(node, "loc"), base)
    if url is None:
        return None
    news = _children(node, "news")
    return SitemapEntry(
        url=url,
        lastmod=w3c_datetime(_text(node, "lastmod")),
        news_title=_name(_text(news[0], "title")) if news else None,
        news_publication=_name(_text(news[0], "publication", "name")) if news else None,
        news_language=_text(news[0], "publication", "language") if news else None,
        news_publication_date=w3c_datetime(_text(news[0], "publication_date")) if news else None,
        image_urls=_images(node, url),
    )


def _images(node: etree._Element, base: str) -> tuple[str, ...]:
    urls = (absolute_url(_text(image, "loc"), base) for image in _children(node, "image"))
    return tuple(dict.fromkeys(u for u in urls if u is not None))


def children_to_fetch(parsed: ParsedSitemap, *, since: datetime | None, limit: int) -> list[str]:
    """The index's children worth fetching: newest ``lastmod`` first (undated ones after, in document
    order), without those last modified before ``since`` (the source's last successful poll: nothing in
    them is new), at most ``limit``. Indexes often list their children oldest first (one per month since
    the site began), so document order would fetch the archive and miss today's news."""
    dated = zip(parsed.children, parsed.children_lastmod, strict=True)
    fresh = [(url, when) for url, when in dated if since is None or when is None or when >= since]
    fresh.sort(key=lambda child: child[1] or _UNDATED, reverse=True)  # stable: ties keep their order
    return [url for url, _ in fresh[:limit]]


_UNDATED = datetime.min.replace(tzinfo=UTC)


def _index(root: etree._Element, url: str) -> ParsedSitemap:
    children: dict[str, datetime | None] = {}
    for node in _children(root, "sitemap"):
        child = absolute_url(_text(node, "loc"), url)
        if child is not None and child not in children:
            children[child] = w3c_datetime(_text(node, "lastmod"))
    return ParsedSitemap(children=tuple(children), children_lastmod=tuple(children.values()))


def _text_sitemap(body: bytes, url: str) -> ParsedSitemap:
    """The protocol's plain-text form: one absolute http(s) URL per line, nothing else."""
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not all(is_http_url(line) for line in lines):
        raise ParseError("neither an XML sitemap nor a list of URLs", source_url=url)
    return ParsedSitemap(entries=tuple(SitemapEntry(u) for u in dict.fromkeys(lines)))


def w3c_datetime(value: str | None) -> datetime | None:
    """A W3C Datetime (``2024-05-01``, ``2024-05-01T10:00+02:00``, ``…Z``) as aware UTC, else None.
    A date or a time without zone is taken as UTC (the protocol requires a zone with a time)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a year-1/9999 date shifted out of range
        return None
