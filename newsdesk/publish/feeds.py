"""Feed outputs: published articles as RSS 2.0, Atom 1.0 (RFC 4287) and JSON Feed 1.1.

Each writer is a pure function ``(articles, FeedInfo) -> bytes`` (UTF-8), so the API can serve it and the CLI
can write it to a file. XML is built as a tree with lxml and serialised by it, never by pasting strings, so
every value is escaped exactly once, by the serialiser (JSON by ``json.dumps``). Every value goes through
:func:`clean_text` first, in all three formats alike, so the same article reads the same everywhere:

- text that cannot appear in XML 1.0 at all (C0 control characters other than tab/newline/carriage
  return, lone surrogates, U+FFFE/U+FFFF — XML 1.0 §2.2 "Char") is removed;
- plain-text fields (titles, excerpt, names, tags) also lose any markup
  (:func:`~newsdesk.sources.sanitize.without_markup`), even on rows stored before ingestion cleaned them:
  feed readers render RSS ``<description>`` and JSON Feed ``summary`` as HTML.

SVG images are never published (:func:`~newsdesk.sources.sanitize.publishable_images`): they can carry
script.

How record fields map (a field without a value is left out, never written empty):

=================  ======================  ============================  =================================
article            RSS 2.0 item            Atom entry                    JSON Feed item
=================  ======================  ============================  =================================
web_url            link, guid (permalink)  id, link rel=alternate        id, url
title              title                   title (type=text)             title
excerpt            description             summary (type=text)           summary, content_text
published_at       pubDate (RFC 822)       published, updated (3339)     date_published (RFC 3339)
author / provider  dc:creator              author/name                   authors[].name
topics             category (each)         category term= (each)         tags
images (not SVG)   enclosure (first) +     link rel=enclosure (each)     image (first)
                   media:content (each)
=================  ======================  ============================  =================================

An article without ``publishedDateTime`` is dated by when it was first seen. Atom requires an ``updated``
on every entry; when neither date is known the feed's own ``updated`` is used.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime as rfc822
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from ..model import Article, Image, utc
from ..sources.sanitize import publishable_images, without_markup

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "newsdesk"
DEFAULT_IMAGE_TYPE = (
    "image/jpeg"  # og:image is a JPEG far more often than not; used when the URL has no extension
)
UNKNOWN_LENGTH = "0"  # RSS <enclosure> requires a length; RSS Best Practices Profile: use 0 when unknown

# Characters XML 1.0 allows (§2.2): #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What a feed says about itself. ``feed_url`` is where the feed is served (its self link and, for
    Atom, its id); ``author`` names the feed-level author Atom requires (defaults to ``title``)."""

    title: str
    site_url: str
    feed_url: str
    description: str
    language: str
    updated: datetime
    author: str = ""
    hub: str = ""  # a WebSub hub to declare (rel="hub"; JSON Feed ``hubs``); empty = none


def clean_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (control characters, lone surrogates)."""
    return _NOT_XML_CHAR.sub("", text)


def plain(text: str) -> str:
    """A plain-text field as published: no forbidden characters and no markup."""
    return without_markup(clean_text(text))


def _images(article: Article) -> tuple[Image, ...]:
    return publishable_images(article.images)


def _date(article: Article) -> datetime | None:
    return article.published_at or article.first_seen_at


def _author(article: Article) -> str:
    return plain(article.author or "") or plain(article.provider.name)


def _image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else DEFAULT_IMAGE_TYPE


def _rfc3339(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child element with cleaned ``text`` and attributes (lxml escapes both, once). Callers
    pass plain-text fields through :func:`plain` first."""
    child = etree.SubElement(parent, tag, {k: clean_text(v) for k, v in attrs.items()})
    if text is not None:
        child.text = clean_text(text)
    return child


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True))


# ------------------------------------------------------------------------------------------------ RSS 2.0


def render_rss(articles: Sequence[Article], feed: FeedInfo) -> bytes:
    """RSS 2.0 (with the atom:link rel=self the RSS Advisory Board recommends)."""
    nsmap = {"atom": ATOM_NS, "media": MEDIA_NS, "dc": DC_NS}
    root = etree.Element("rss", {"version": "2.0"}, nsmap=nsmap)
    channel = _sub(root, "channel")
    _sub(channel, "title", plain(feed.title))
    _sub(channel, "link", feed.site_url)
    _sub(channel, "description", plain(feed.description))
    if feed.language:
        _sub(channel, "language", feed.language)
    _sub(channel, "lastBuildDate", rfc822(utc(feed.updated), usegmt=True))
    _sub(channel, "generator", GENERATOR)
    _sub(channel, f"{{{ATOM_NS}}}link", href=feed.feed_url, rel="self", type="application/rss+xml")
    if feed.hub:
        _sub(channel, f"{{{ATOM_NS}}}link", href=feed.hub, rel="hub")  # W3C WebSub §4: beside rel=self
    for article in articles:
        _rss_item(channel, article)
    log.debug("rendered feed", extra={"format": "rss", "item_count": len(articles)})
    return _serialise(root)


def _rss_item(channel: etree._Element, article: Article) -> None:
    item = _sub(channel, "item")
    _sub(item, "title", plain(article.title))
    _sub(item, "link", article.web_url)
    excerpt = plain(article.excerpt)
    if excerpt:
        # <description> is read as HTML (RSS 2.0: "entity-encoded HTML is allowed"): the excerpt has no
        # markup (plain), and the serialiser's one escaping keeps a "<" or "&" in it a character.
        _sub(item, "description", excerpt)
    _sub(item, f"{{{DC_NS}}}creator", _author(article))
    for topic in article.topics:
        _sub(item, "category", plain(topic))
    images = _images(article)
    if images:
        first = images[0].url
        _sub(item, "enclosure", url=first, length=UNKNOWN_LENGTH, type=_image_type(first))
    for image in images:
        _sub(item, f"{{{MEDIA_NS}}}content", **_media_attrs(image.url, image.width, image.height))
    _sub(item, "guid", article.web_url, isPermaLink="true")
    when = _date(article)
    if when is not None:
        _sub(item, "pubDate", rfc822(when, usegmt=True))


def _media_attrs(url: str, width: int | None, height: int | None) -> dict[str, str]:
    attrs = {"url": url, "medium": "image", "type": _image_type(url)}
    if width is not None and height is not None:
        attrs.update(width=str(width), height=str(height))
    return attrs


# ----------------------------------------------------------------------------------------------- Atom 1.0


def render_atom(articles: Sequence[Article], feed: FeedInfo) -> bytes:
    """Atom 1.0 (RFC 4287): feed id = ``feed_url``, entry id = the article's canonical URL."""
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    if feed.language:
        root.set("{http://www.w3.org/XML/1998/namespace}lang", clean_text(feed.language))
    _atom(root, "id", feed.feed_url)
    _atom(root, "title", plain(feed.title), type="text")
    if feed.description:
        _atom(root, "subtitle", plain(feed.description), type="text")
    _atom(root, "updated", _rfc3339(feed.updated))
    _atom(root, "link", rel="self", href=feed.feed_url, type="application/atom+xml")
    if feed.hub:
        _atom(root, "link", rel="hub", href=feed.hub)
    _atom(root, "link", rel="alternate", href=feed.site_url, type="text/html")
    author = _atom(root, "author")
    _atom(author, "name", plain(feed.author or feed.title))
    _atom(root, "generator", GENERATOR)
    for article in articles:
        _atom_entry(root, article, feed.updated)
    log.debug("rendered feed", extra={"format": "atom", "item_count": len(articles)})
    return _serialise(root)


def _atom(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    return _sub(parent, f"{{{ATOM_NS}}}{tag}", text, **attrs)


def _atom_entry(root: etree._Element, article: Article, fallback: datetime) -> None:
    entry = _atom(root, "entry")
    _atom(entry, "id", article.web_url)
    _atom(entry, "title", plain(article.title), type="text")
    when = _date(article)
    _atom(entry, "updated", _rfc3339(when or fallback))
    if when is not None:
        _atom(entry, "published", _rfc3339(when))
    _atom(entry, "link", rel="alternate", href=article.web_url, type="text/html")
    author = _atom(entry, "author")
    _atom(author, "name", _author(article))
    excerpt = plain(article.excerpt)
    if excerpt:
        _atom(entry, "summary", excerpt, type="text")
    for topic in article.topics:
        _atom(entry, "category", term=plain(topic))
    for image in _images(article):
        _atom(entry, "link", rel="enclosure", href=image.url, type=_image_type(image.url))


# ------------------------------------------------------------------------------------------ JSON Feed 1.1


def render_json_feed(articles: Sequence[Article], feed: FeedInfo) -> bytes:
    """JSON Feed 1.1. newsdesk's own fields ride in the ``_newsdesk`` extension object the spec allows."""
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": plain(feed.title),
        "home_page_url": clean_text(feed.site_url),
        "feed_url": clean_text(feed.feed_url),
        "description": plain(feed.description),
        "authors": [{"name": plain(feed.author or feed.title)}],
        "items": [_json_item(article) for article in articles],
    }
    if feed.language:
        document["language"] = clean_text(feed.language)
    if feed.hub:
        document["hubs"] = [{"type": "WebSub", "url": clean_text(feed.hub)}]  # JSON Feed 1.1 "hubs"
    log.debug("rendered feed", extra={"format": "json", "item_count": len(articles)})
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _json_item(article: Article) -> dict[str, Any]:
    excerpt = plain(article.excerpt)
    item: dict[str, Any] = {
        "id": clean_text(article.web_url),
        "url": clean_text(article.web_url),
        "title": plain(article.title),
        # JSON Feed requires content_html or content_text on every item; the excerpt is what we publish.
        "content_text": excerpt or plain(article.title),
        "authors": [{"name": _author(article)}],
        "_newsdesk": _extension(article),
    }
    if excerpt:
        item["summary"] = excerpt
    when = _date(article)
    if when is not None:
        item["date_published"] = _rfc3339(when)
    images = _images(article)
    if images:
        item["image"] = clean_text(images[0].url)
    if article.topics:
        item["tags"] = [plain(t) for t in article.topics]
    if article.language:
        item["language"] = clean_text(article.language)
    return item


def _extension(article: Article) -> dict[str, Any]:
    return {
        "category": plain(article.category),
        "type": plain(article.type),
        "quality": article.quality,
        "heat": article.heat,
        "provider": {
            "name": plain(article.provider.name),
            "domain": clean_text(article.provider.domain),
        },
    }
