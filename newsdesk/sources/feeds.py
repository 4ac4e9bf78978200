"""Feeds in: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, CDF and JSON Feed 1.0/1.1, bytes to :class:`ParsedFeed`.

Which parser, and why (``bench/feeds.py``; the timings are in docs/benchmarks.md, "Feeds"):

* **fastfeedparser first.** Its library call is two orders of magnitude faster than feedparser's; with
  our normalisation, which is the same for both (nh3 sanitising dominates it), a parse still takes a
  fraction of feedparser's time, on a generated feed and over the feedparser corpus alike. On the
  generated feed all 100 normalised entries are identical. On the
  62 corpus files where both return entries, 91.0% of the 78 entry pairs agree on url, title, dates and
  summary together (title and dates 100%, url 96.2%, summary 94.9%); the rest are a charset given only
  in an HTTP header (2), an unescaped ``&`` in a link (1), an Atom enclosure link without href (2, where
  fastfeedparser is right) and a namespaced element shadowing ``<description>`` (2).
* **feedparser as the fallback**, used when fastfeedparser raises, returns no entries, loses entries
  (some lack a link it could read), or when the document uses a feature fastfeedparser ignores:
  ``xml:base`` (it leaves links relative to the wrong base), a non-UTF-8 charset given only in the
  Content-Type header, or a non-UTF-8 body without an encoding declaration (feedparser guesses). feedparser's loose parser also recovers more from ill-formed XML.
* **JSON Feed** is read by :mod:`newsdesk.sources.jsonfeed` (feedparser 6.0 cannot read it).

Both XML adapters only copy fields into a :class:`RawEntry`; :func:`feedtypes.build_entry` does the
resolution, sanitising and plain-texting, so safety never depends on which parser ran.

Contract: :func:`parse_feed` returns a :class:`ParsedFeed` or raises :class:`ParseError` (empty body,
an HTML page, garbage, a JSON document that is not a JSON Feed). No other exception escapes: both
libraries are third-party code fed hostile bytes, so their failures are caught and turned into a
fallback or a ParseError.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import fastfeedparser

from newsdesk.errors import ParseError
from newsdesk.model import is_http_url, utc
from newsdesk.sources.feedtypes import (
    KIND_ATOM,
    KIND_RDF,
    KIND_RSS,
    Enclosure,
    FeedEntry,
    ParsedFeed,
    RawBatch,
    RawEntry,
    absolute_url,
    build_entry_lazily,
    looks_like_image,
)
from newsdesk.sources.jsonfeed import parse_json_feed
from newsdesk.sources.sanitize import plain_text

__all__ = ["Enclosure", "FeedEntry", "ParsedFeed", "parse_feed", "parse_feed_with", "sniff_root"]

log = logging.getLogger(__name__)

FAST, SLOW = "fastfeedparser", "feedparser"
SNIFF_BYTES = 4096
"""How far into the body we look for the root element; XML declarations, comments and a DOCTYPE
before the root fit in far less in every corpus file."""

_MAPPINGS = (dict, Mapping)
"""For isinstance: the parsers hand back plain dicts, which an exact type check settles before the
slower abstract-class check runs."""
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_ROOT_KINDS = {"rss": KIND_RSS, "channel": KIND_RSS, "feed": KIND_ATOM, "rdf": KIND_RDF}
_HEAD_TTL = re.compile(rb"<ttl\s*>\s*(\d{1,7})\s*</ttl", re.IGNORECASE)
_HEAD_LANGUAGE = re.compile(rb"<(?:dc:)?language\s*>\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)\s*<")
_FIRST_ITEM = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>]", re.IGNORECASE)
_ELEMENT_NAME = re.compile(rb"(?:[\w.-]+:)?([\w.-]+)")
_XML_ENCODING = re.compile(rb"<\?xml[^>]*encoding\s*=", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_PERMALINK_GUID = re.compile(
    rb"<guid\b[^>]*\bisPermaLink\s*=\s*[\"']?true\b[^>]*>\s*(?:<!\[CDATA\[)?([^<\]]*)", re.IGNORECASE
)


def parse_feed(content: bytes, url: str, *, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed body fetched from ``url`` (the base for relative links). ``content_type`` is the
    HTTP header, used to recognise JSON Feed and a header-only charset."""
    body = content.lstrip(b" \t\r\n")
    if not body or body in _UNICODE_BOMS:
        raise ParseError("empty body", source_url=url)
    if _looks_like_json(body, content_type):
        return parse_json_feed(body, url)
    root = sniff_root(body)
    if root == "html":
        raise ParseError("an HTML page, not a feed", source_url=url)
    if root == "" and not _maybe_wide_encoding(body):
        raise ParseError("neither XML nor JSON: no root element found", source_url=url)
    try:
        return _parse_xml(content, url, content_type, root)
    except ParseError:
        raise
    except Exception as e:  # the contract: hostile bytes end as ParseError, never as a crash of the run
        log.exception("feed parser failure", extra={"url": url})
        raise ParseError(f"feed could not be parsed: {type(e).__name__}: {e}"[:300], source_url=url) from e


def sniff_root(body: bytes) -> str:
    """Lower-cased local name of the first element in the head of ``body``, or "" when there is none
    (steps over the XML declaration, comments, processing instructions and a DOCTYPE)."""
    head = body[:SNIFF_BYTES]
    pos = 0
    while (start := head.find(b"<", pos)) != -1:
        if head.startswith(b"<!--", start):
            end, width = head.find(b"-->", start + 4), 3
        elif head.startswith(b"<?", start):
            end, width = head.find(b"?>", start + 2), 2
        elif head.startswith(b"<!", start):
            end, width = head.find(b">", start + 2), 1
        else:
            name = _ELEMENT_NAME.match(head, start + 1)
            return name.group(1).decode("ascii", "replace").lower() if name else ""
        if end == -1:
            return ""
        pos = end + width
    return ""


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    start = body.removeprefix(b"\xef\xbb\xbf").lstrip()
    return start.startswith(b"{") or (bool(content_type) and "json" in (content_type or "").lower())


def _maybe_wide_encoding(body: bytes) -> bool:
    """UTF-16/32 bodies hide their markup from a byte-level sniff; let the parsers decode them."""
    return body.startswith(_UNICODE_BOMS[1:]) or b"\x00" in body[:4]


def _parse_xml(content: bytes, url: str, content_type: str | None, root: str) -> ParsedFeed:
    reason = _fast_unsuitable(content, content_type)
    if reason is None:
        fast, reason = _try_fast(content, url, root)
        if fast is not None:
            return fast
    log.debug("feed parse fallback", extra={"url": url, "reason": reason})
    return _parse_slow(content, url, content_type, root)


def _fast_unsuitable(content: bytes, content_type: str | None) -> str | None:
    """Why fastfeedparser would get this document wrong, or None when it can be trusted."""
    if b"xml:base" in content:
        return "uses xml:base"
    if not _XML_ENCODING.search(content[:SNIFF_BYTES]) and not _is_utf8(content):
        return "not UTF-8 and no declared encoding"
    charset = _CHARSET.search(content_type or "")
    if charset and charset.group(1).lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
        return f"header charset {charset.group(1)}"
    return None


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _try_fast(content: bytes, url: str, root: str) -> tuple[ParsedFeed | None, str]:
    """fastfeedparser's result when it passes the sanity check, else None and the reason."""
    try:
        feed, raw_count = _parse_fast(content, url, root)
    except Exception as e:  # third-party parser on hostile input: any failure means "use the fallback"
        return None, f"fastfeedparser raised {type(e).__name__}: {e}"[:200]
    if not raw_count:
        return None, "fastfeedparser found no entries"
    if len(feed.entries) < raw_count:
        return None, f"fastfeedparser lost {raw_count - len(feed.entries)} entries without a usable link"
    return feed, ""


def _parse_fast(content: bytes, url: str, root: str) -> tuple[ParsedFeed, int]:
    """fastfeedparser's feed and how many raw entries it saw. Raises whatever the library raises."""
    result = fastfeedparser.parse(content)  # bytes, never a URL string: it would fetch that
    items = list(result.get("entries") or ())
    batch = RawBatch(partial(_fast_raw, base=url), items, [_str(e.get("link")) for e in items])
    return _fast_feed(result, content, url, root, batch), len(items)


def parse_feed_with(parser: str, content: bytes, url: str, *, content_type: str | None = None) -> ParsedFeed:
    """XML ``content`` through one named parser (``fastfeedparser`` | ``feedparser``), no fallback and
    no sanity check: for ``bench/feeds.py`` and tests that compare the two. Raises ParseError."""
    root = sniff_root(content.lstrip())
    if parser == SLOW:
        return _parse_slow(content, url, content_type, root)
    try:
        return _parse_fast(content, url, root)[0]
    except Exception as e:  # see _try_fast
        raise ParseError(f"fastfeedparser: {type(e).__name__}: {e}"[:300], source_url=url) from e


def _fast_feed(result: Mapping[str, Any], content: bytes, url: str, root: str, raw: RawBatch) -> ParsedFeed:
    info = result.get("feed") or {}
    head = content[: _head_end(content)]
    return ParsedFeed(
        kind=_ROOT_KINDS.get(root, KIND_RSS),
        title=_title(info.get("title")),
        link=absolute_url(_str(info.get("link")), url),
        language=_str(info.get("language")) or _head_match(_HEAD_LANGUAGE, head),
        ttl_minutes=_int(_head_match(_HEAD_TTL, head)),
        entries=_built(raw, url),
        parser=FAST,
    )


def _head_end(content: bytes) -> int:
    found = _FIRST_ITEM.search(content)
    return found.start() if found else len(content)


def _head_match(pattern: re.Pattern[bytes], head: bytes) -> str | None:
    found = pattern.search(head)
    return found.group(1).decode("ascii") if found else None


def _fast_raw(entry: Mapping[str, Any], link: str | None, base: str) -> RawEntry:
    get = entry.get  # ten fields an item
    media = _mappings(get("media_content"))
    enclosures = _enclosures(get("enclosures"), "url") + _link_enclosures(get("links"))
    summary, content = _str(get("description")), _content(get("content"))
    return RawEntry(
        link=link,
        base=base,
        guid=_str(get("id")),
        title=_str(get("title")),
        summary=summary,
        content=None if content == summary else content,  # it copies an RSS description into content
        published_at=_iso_date(get("published")),
        updated_at=_iso_date(get("updated")),
        author=_str(get("author")),
        categories=_tags(get("tags")),
        image_urls=_image_urls(media, [_str(m.get("thumbnail_url")) or "" for m in media], enclosures),
        enclosures=enclosures,
    )


def _image_urls(
    media: list[Mapping[str, Any]], thumbnails: list[str], enclosures: tuple[Enclosure, ...]
) -> tuple[str, ...]:
    """An entry's image candidates, best first: its media:content images, the media thumbnails (an
    empty string for a medium without one), its image enclosures. Loops, not generators: an item
    usually has one medium, and each generator cost more than its single step."""
    images = [
        m["url"]
        for m in media
        if isinstance(m.get("url"), str)
        and looks_like_image(m["url"], _str(m.get("type")), _str(m.get("medium")))
    ]
    images += thumbnails
    images += [e.url for e in enclosures if looks_like_image(e.url, e.type, None)]
    return tuple(images)


def _parse_slow(content: bytes, url: str, content_type: str | None, root: str) -> ParsedFeed:
    """feedparser's reading of ``content``.

    No ``Content-Location`` is passed: feedparser would resolve every ``<guid>`` against it, and an
    opaque id (``abc123``) would pass for a page under the feed's folder. Links stay as written (or as
    ``xml:base`` resolves them) and :func:`build_entry` resolves them against ``url``. The Content-Type
    goes in only when the server sent one: without it feedparser flags an unlabelled body as malformed."""
    import feedparser  # the fallback: a feed the fast parser reads never loads it (≈ 40 ms of import)

    headers = {"content-type": content_type} if content_type else {}
    try:
        result = feedparser.parse(content, response_headers=headers)
    except Exception as e:  # feedparser promises never to raise; a bug on hostile input still must not escape
        raise ParseError(f"feedparser failed: {type(e).__name__}: {e}"[:300], source_url=url) from e
    version, info = str(result.get("version") or ""), result.get("feed") or {}
    problem = result.get("bozo_exception")
    if not version and not result.entries:
        raise ParseError(f"not a feed: {problem or 'no feed elements found'}"[:300], source_url=url)
    if result.get("bozo") and not result.entries and _truncated(content, root):
        raise ParseError(f"malformed feed: {problem}"[:300], source_url=url)  # say so rather than "no news"
    permalinks = _explicit_permalinks(content)
    entries = list(result.entries)
    batch = RawBatch(partial(_slow_raw, base=url), entries, [_entry_link(e, permalinks) for e in entries])
    return ParsedFeed(
        kind=_kind_from_version(version, root),
        title=_title(info.get("title")),
        link=absolute_url(_str(info.get("link")), url),
        language=_str(info.get("language")),
        ttl_minutes=_int(_str(info.get("ttl"))),
        entries=_built(batch, url),
        parser=SLOW,
    )


def _truncated(content: bytes, root: str) -> bool:
    """True when the document stops before its root element closes (a cut download). Other ill-formed
    documents (an unbound namespace prefix, a bare ``&``) are read by feedparser's lenient parser, and a
    feed it reads without items is a quiet feed, not a broken one."""
    if not root:
        return True
    closing = re.compile(rb"</(?:[\w.-]+:)?" + re.escape(root.encode()) + rb"\s*>", re.IGNORECASE)
    return closing.search(content, max(0, len(content) - SNIFF_BYTES)) is None


def _explicit_permalinks(content: bytes) -> frozenset[str]:
    """The ``<guid>`` values the document marks ``isPermaLink="true"`` in so many words (feedparser
    assumes it for every guid without the attribute)."""
    if b"ispermalink" not in content.lower():
        return frozenset()
    return frozenset(m.group(1).decode("utf-8", "replace").strip() for m in _PERMALINK_GUID.finditer(content))


def _entry_link(entry: Mapping[str, Any], permalinks: frozenset[str]) -> str | None:
    """The entry's own link (feedparser's reading); else its guid when that is an absolute http(s) URL,
    or when the feed says explicitly that it is a permalink (then resolved against the feed like any
    link)."""
    if not entry.get("guidislink") and (link := _str(entry.get("link"))):
        return link
    guid = _str(entry.get("id"))
    if guid and (is_http_url(guid.strip()) or guid.strip() in permalinks):
        return guid
    return None


def _kind_from_version(version: str, root: str) -> str:
    if version.startswith("atom"):
        return KIND_ATOM
    if version in ("rss090", "rss10"):
        return KIND_RDF
    return KIND_RSS if version else _ROOT_KINDS.get(root, KIND_RSS)


def _slow_raw(entry: dict[str, Any], link: str | None, base: str) -> RawEntry:
    media = _mappings(entry.get("media_content"))
    thumbs = [_str(m.get("url")) or "" for m in _mappings(entry.get("media_thumbnail"))]
    enclosures = _enclosures(entry.get("enclosures"), "href")
    itunes = entry.get("image")
    return RawEntry(
        link=link,  # _entry_link's, read when the feed was parsed
        base=base,
        guid=_str(entry.get("id")),
        title=_str(entry.get("title")),
        summary=_str(entry.get("summary")),
        content=_content(entry.get("content")),
        # dict.get: FeedParserDict.get would hand back published_parsed for a missing updated_parsed
        published_at=_struct_date(dict.get(entry, "published_parsed")),
        updated_at=_struct_date(dict.get(entry, "updated_parsed")),
        author=_str(entry.get("author")),
        categories=_tags(entry.get("tags")),
        image_urls=(
            *_image_urls(media, thumbs, enclosures),
            (_str(itunes.get("href")) or "") if isinstance(itunes, _MAPPINGS) else "",
        ),
        enclosures=enclosures,
    )


def _built(batch: RawBatch, base: str) -> tuple[FeedEntry, ...]:
    """The entries with a usable link (``batch.links``: each raw entry's); their :class:`RawEntry` are
    made on the first read of a field other than a URL (a repeat poll reads only the URLs of the
    entries it holds)."""
    built = (build_entry_lazily(link, base, batch, i) for i, link in enumerate(batch.links))
    return tuple(entry for entry in built if entry is not None)


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a list field (media, thumbnails); nothing for a missing or malformed one."""
    return [m for m in value if isinstance(m, _MAPPINGS)] if value and isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _title(value: Any) -> str | None:
    return plain_text(value) or None if isinstance(value, str) else None


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value else None
    except ValueError:
        return None


def _content(value: Any) -> str | None:
    """The first content block, as HTML (a text/plain block is escaped into a paragraph)."""
    if not isinstance(value, list) or not value or not isinstance(value[0], _MAPPINGS):
        return None
    text, kind = _str(value[0].get("value")), (_str(value[0].get("type")) or "html").lower()
    if text is None or "html" in kind:
        return text
    return "<p>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</p>"


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(t["term"] for t in value if isinstance(t, _MAPPINGS) and isinstance(t.get("term"), str))


def _enclosures(value: Any, url_key: str) -> tuple[Enclosure, ...]:
    if not value or not isinstance(value, list):
        return ()
    return tuple(
        Enclosure(item[url_key], _str(item.get("type")), _int(str(item.get("length") or "")))
        for item in value
        if isinstance(item, _MAPPINGS) and isinstance(item.get(url_key), str)
    )


def _link_enclosures(value: Any) -> tuple[Enclosure, ...]:
    """Atom ``<link rel="enclosure">``: fastfeedparser lists them only among the links."""
    if not value or not isinstance(value, list):
        return ()
    links = [v for v in value if isinstance(v, _MAPPINGS) and v.get("rel") == "enclosure"]
    return _enclosures(links, "href")


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed if parsed.tzinfo is UTC and not parsed.microsecond else utc(parsed)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by its offset
        return None


def _struct_date(value: Any) -> datetime | None:
    """feedparser's UTC ``time.struct_time`` as an aware datetime (leap seconds clamped to :59)."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value[5], 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


# ----------------------------------------------------------------------------------- WebSub discovery

_LINK_HEADER_PART = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_REL_PARAM = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^\s;"]+))""", re.IGNORECASE)


def discover_hubs(content: bytes, url: str, *, link_header: str = "") -> tuple[tuple[str, ...], str]:
    """The WebSub hubs a feed declares and its topic (self) URL, as W3C WebSub §4 finds them: HTTP
    ``Link`` headers first (they win over the body), then ``<link rel="hub">``/``rel="self"`` in RSS or
    Atom, or ``hubs`` in a JSON Feed. The topic defaults to ``url`` (where the feed was fetched).
    Never raises: a body that declares nothing, or cannot be read, yields no hubs."""
    hubs, topic = _link_header_rels(link_header, url)
    if not hubs:
        import feedparser  # loaded by the first feed that needs it (see _parse_slow)

        try:
            parsed = feedparser.parse(content) if not _looks_like_json(content, None) else None
        except Exception:  # third-party code on hostile bytes: discovery is best effort
            parsed = None
        body_hubs, body_self = _parsed_rels(parsed) if parsed is not None else _json_hubs(content)
        hubs, topic = body_hubs, topic or body_self
    resolved = (absolute_url(h, url) for h in hubs)
    return tuple(dict.fromkeys(h for h in resolved if h)), absolute_url(topic, url) or url


def _link_header_rels(header: str, base: str) -> tuple[list[str], str]:
    hubs, topic = [], ""
    for match in _LINK_HEADER_PART.finditer(header or ""):
        rel = _REL_PARAM.search(match.group(2) or "")
        rels = (rel.group(1) or rel.group(2) or "").lower().split() if rel else []
        if "hub" in rels:
            hubs.append(match.group(1).strip())
        if "self" in rels and not topic:
            topic = match.group(1).strip()
    return hubs, topic


def _parsed_rels(parsed: Any) -> tuple[list[str], str]:
    links = parsed.get("feed", {}).get("links", []) or []
    hubs = [str(link.get("href", "")) for link in links if link.get("rel") == "hub"]
    selves = [str(link.get("href", "")) for link in links if link.get("rel") == "self"]
    return hubs, selves[0] if selves else ""


def _json_hubs(content: bytes) -> tuple[list[str], str]:
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return [], ""
    if not isinstance(document, dict):
        return [], ""
    hubs = document.get("hubs")
    urls = [str(h.get("url", "")) for h in hubs if isinstance(h, dict)] if isinstance(hubs, list) else []
    feed_url = document.get("feed_url")
    return urls, feed_url if isinstance(feed_url, str) else ""
