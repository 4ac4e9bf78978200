"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), read with the standard library.

feedparser 6.0 does not read JSON Feed at all, and the format is a plain JSON object, so a direct
mapping is shorter than adapting a library and behaves exactly as the spec says: 1.1 ``authors``
before 1.0 ``author``, ``url`` before ``external_url``, ``image`` before ``banner_image``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from typing import Any

from newsdesk.errors import ParseError
from newsdesk.model import utc
from newsdesk.sources.feedtypes import (
    KIND_JSON,
    Enclosure,
    FeedEntry,
    ParsedFeed,
    RawEntry,
    absolute_url,
    build_entry,
)

PARSER_NAME = "jsonfeed"
_BARE_VERSION = re.compile(r"v?1(?:\.[01](?:\.0)?)?", re.IGNORECASE)


def parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    """The feed in ``content``; ParseError when it is not JSON or not a JSON Feed object."""
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ParseError(f"not valid JSON: {e}", source_url=url) from e
    if not isinstance(document, dict) or not _is_json_feed(document):
        raise ParseError("JSON document is not a JSON Feed (no JSON Feed version and items)", source_url=url)
    home = absolute_url(_text(document.get("home_page_url")), url)
    items = document.get("items")
    entries = (
        [_entry(item, url) for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    )
    return ParsedFeed(
        kind=KIND_JSON,
        title=_text(document.get("title")) or None,
        link=home,
        language=_text(document.get("language")) or None,
        ttl_minutes=None,
        entries=tuple(e for e in entries if e is not None),
        parser=PARSER_NAME,
    )


def _is_json_feed(document: dict[str, Any]) -> bool:
    """The spec's ``version`` is a jsonfeed.org URL, but real feeds also write ``"1.0"``, ``"1.1"``,
    ``"v1"`` or a bare number. The URL is enough on its own; a bare 1.x counts when the document also
    has the ``items`` list every JSON Feed must carry (so an API reply with a version field does not)."""
    version = document.get("version")
    if isinstance(version, str) and "jsonfeed.org/version/" in version:
        return True
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    return (
        isinstance(version, str)
        and bool(_BARE_VERSION.fullmatch(version.strip()))
        and isinstance(document.get("items"), list)
    )


def _entry(item: dict[str, Any], feed_url: str) -> FeedEntry | None:
    raw = RawEntry(
        link=_text(item.get("url")) or _text(item.get("external_url")),
        base=feed_url,
        guid=_text(item.get("id")) or None,
        title=_text(item.get("title")),
        summary=_text(item.get("summary")) or None,
        content=_text(item.get("content_html")) or _escaped(_text(item.get("content_text"))),
        published_at=_date(item.get("date_published")),
        updated_at=_date(item.get("date_modified")),
        author=_author(item),
        categories=tuple(t for t in item.get("tags") or () if isinstance(t, str)),
        image_urls=tuple(u for u in (_text(item.get("image")), _text(item.get("banner_image"))) if u),
        enclosures=_attachments(item.get("attachments")),
    )
    return build_entry(raw)


def _text(value: Any) -> str:
    """Strings pass; numbers (some feeds write numeric ids) become strings; anything else is empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _escaped(text: str) -> str | None:
    return f"<p>{html.escape(text)}</p>" if text.strip() else None


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):  # OverflowError: a year-1/9999 date shifted out of range
        return None


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    candidates = authors if isinstance(authors, list) else [item.get("author")]
    names = [_text(a.get("name")) for a in candidates if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or None


def _attachments(value: Any) -> tuple[Enclosure, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if isinstance(item, dict) and _text(item.get("url")):
            size = item.get("size_in_bytes")
            length = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
            out.append(Enclosure(_text(item["url"]), _text(item.get("mime_type")) or None, length))
    return tuple(out)
