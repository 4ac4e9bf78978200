"""The ingestion decider: what was fetched in, the article to store out — pure, no I/O.

A feed entry says what the publisher announced; the page says what it actually published. Page values
win where the page has them (its canonical URL, JSON-LD date, site name, full text) and the feed fills the
gaps; an entry whose page could not be fetched is still stored from the feed, with the error noted.

Every plain-text field (title, excerpt, provider name, author, category) leaves here through one guard,
:func:`~newsdesk.sources.sanitize.without_markup`: whatever a feed, a page or a sitemap put in them,
the stored article carries text, never markup (records are rendered by site templates that may treat
a field as HTML). Image URLs that name an SVG file are dropped: SVG can carry script.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import NewsdeskError
from .fetch.urls import canonicalize, pick_canonical, registered_domain
from .model import Article, Image, Provider, Source, is_http_url
from .sources.feedtypes import FeedEntry
from .sources.sanitize import is_svg_url, without_markup

if TYPE_CHECKING:  # the extraction stack (trafilatura, lxml, py3langid, numpy): loaded by the first
    # decision, not by importing the ingest stage, so a run whose feeds all answer 304 never loads it
    from .extract.article import Extracted

EXCERPT_CHARS = 200  # the record's excerpt: "first ~200 characters … cut on a word boundary"
_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]+>")

AUDIO_TYPES = ("audio/",)
VIDEO_TYPES = ("video/",)


@dataclass(frozen=True, slots=True)
class PageView:
    """What the orchestrator learned from fetching an entry's page (``final_url`` after redirects)."""

    final_url: str
    extracted: Extracted | None
    fetched_at: datetime
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of ``text`` cut on a word boundary, without a dangling separator
    and without markup."""
    flat = _SPACE.sub(" ", without_markup(_TAG.sub(" ", text))).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else flat[:limit]
    return head.rstrip(" ,;:-–—(")


def web_url(entry_url: str, page: PageView | None) -> str:
    """The canonical URL: the page's rel=canonical/og:url when on the same site, else the final URL."""
    if page is None:
        return canonicalize(entry_url)
    found = page.extracted
    if found is None:
        return canonicalize(page.final_url)
    return found.web_url or pick_canonical(page.final_url, found.canonical_url, found.og_url)


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What a source says about all its entries: fallbacks for what a page (or a failed fetch) leaves
    out. ``title``: the feed's title or a news sitemap's publication name, a provider name of last
    resort; ``language``: the feed's ``<language>`` or the sitemap's ``<news:language>``."""

    title: str | None = None
    language: str | None = None


def decide_article(
    source: Source, entry: FeedEntry, page: PageView | None, *, feed: FeedContext = FeedContext()
) -> Article:
    """Merge a feed entry and (when fetched) its page into the article to store."""
    from .extract.metadata import language_code
    from .extract.text import content_hash

    found = page.extracted if page else None
    url = web_url(entry.url, page)
    text = (found.text if found else "") or _text_of(entry.content_html or "")
    return Article(
        title=_plain(found.title if found else None, entry.title) or url,
        web_url=url,
        original_url=entry.url,
        provider=_provider(source, found, url, feed.title),
        category=_plain(source.category, found.category_hint if found else None) or "news",
        excerpt=_plain(found.excerpt if found else None) or excerpt(entry.summary or text),
        published_at=(found.published_at if found else None) or entry.published_at or entry.updated_at,
        type=source.type or _type(entry, found),
        topics=source.topics,
        images=_images(entry, found),
        source_id=source.id,
        fetched_at=page.fetched_at if page else None,
        language=(found.language if found else None) or language_code(feed.language),
        author=_plain(found.author if found else None, entry.author),
        text=text,
        content_hash=found.text_hash if found and text is found.text else content_hash(text),
        fetch_error=page.error if page else None,
        extra=_extra(entry, found, page, url),
    )


def decide_page(source: Source, page: PageView) -> Article:
    """A single-page source (or a sitemap entry) has no feed entry: the page alone makes the article."""
    found = page.extracted
    entry = FeedEntry(
        url=page.final_url,
        guid=None,
        title=(found.title if found else None) or page.final_url,
        summary="",
        content_html=None,
        published_at=None,
        updated_at=None,
        author=None,
        categories=(),
        image_url=None,
        enclosures=(),
    )
    return decide_article(source, entry, page)


def _plain(*candidates: str | None) -> str | None:
    """The first candidate that still has text once any markup is removed (see the module docstring)."""
    for candidate in candidates:
        cleaned = without_markup(candidate).strip() if candidate else ""
        if cleaned:
            return cleaned
    return None


def _text_of(content_html: str) -> str:
    """The text of an entry's (sanitised) content: a space for each tag, so paragraphs stay apart,
    and entities decoded once."""
    return html.unescape(_TAG.sub(" ", content_html)).strip()


def _provider(source: Source, found: Extracted | None, url: str, feed_title: str | None) -> Provider:
    domain = registered_domain(url)
    name = _plain(found.provider_name if found else None, source.name, feed_title)
    return Provider(name or domain, domain)


def _type(entry: FeedEntry, found: Extracted | None) -> str:
    for enclosure in entry.enclosures:
        kind = (enclosure.type or "").lower()
        if kind.startswith(AUDIO_TYPES):
            return "podcast"
        if kind.startswith(VIDEO_TYPES):
            return "video"
    return found.type if found and found.type else "article"


def _images(entry: FeedEntry, found: Extracted | None) -> tuple[Image, ...]:
    urls = list(found.image_urls if found else ())
    if entry.image_url:
        urls.append(entry.image_url)
    seen: list[str] = []
    for url in urls:
        if is_http_url(url) and not is_svg_url(url) and url not in seen:
            seen.append(url)
    return tuple(Image(url) for url in seen[:4])


def _canonical_elsewhere(found: Extracted, url: str) -> str | None:
    """The page's ``rel=canonical`` (else ``og:url``) when it names a page on another site: never the
    article's URL (a page cannot claim another site's story), but its word that it copies that page,
    which folding.py reads to keep the original when the two fold."""
    for claim in (found.canonical_url, found.og_url):
        if not claim or not is_http_url(claim.strip()):
            continue
        try:
            target = canonicalize(claim.strip())
        except NewsdeskError:
            continue
        if registered_domain(target) != registered_domain(url):
            return target
    return None


def _extra(entry: FeedEntry, found: Extracted | None, page: PageView | None, url: str) -> dict[str, object]:
    extra: dict[str, object] = {}
    claim = _canonical_elsewhere(found, url) if found else None
    if claim:
        extra["canonical"] = claim
    if entry.guid:
        extra["guid"] = entry.guid
    if entry.categories:
        extra["feed_categories"] = list(entry.categories)
    if found:
        extra.update(words=found.word_count, paragraphs=found.paragraph_count)
        if found.description:
            extra["description"] = found.description
        if found.keywords:
            extra["keywords"] = list(found.keywords)
        if found.modified_at:
            extra["modified_at"] = found.modified_at.isoformat()
    if page and page.etag:
        extra["etag"] = page.etag
    return extra
