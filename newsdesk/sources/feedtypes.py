"""What a parsed feed looks like, and the one place raw parser output becomes it.

Each parser adapter (fastfeedparser, feedparser, JSON Feed) only copies fields out of its library's
result into a :class:`RawEntry`; :func:`build_entry` then does everything that must be the same whatever
the parser: resolve the link against the base URL, keep only http(s) links, sanitise HTML, reduce
titles and summaries to plain text, pick the image. So the two XML parsers cannot drift apart on
safety, and the comparison in ``bench/feeds.py`` compares parsing, not post-processing. The text
fields are sanitised when first read (:class:`_DeferredEntry`), and an adapter may hand over only the
link and a way to make the rest, for the whole feed at once (:class:`RawBatch`): a poll that finds
every entry's URL already stored reads nothing else, so nothing else is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlparse

from newsdesk.model import is_http_url, utc
from newsdesk.sources.sanitize import clean_html, plain_text, spaced_text

SUMMARY_FROM_CONTENT_CHARS = 1000
"""An entry without a summary gets the start of its content as summary, cut here (on a word boundary):
long enough for the record excerpt (~200 chars) and a classifier snippet, short enough to store twice."""

SAME_START_CHARS = 80
"""Summary and content that open with the same 80 non-space characters are one text, not two."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")

KIND_RSS, KIND_ATOM, KIND_JSON, KIND_RDF = "rss", "atom", "json", "rdf"

_URL_CHARS = r"[A-Za-z0-9\-._~%!$&'()*+,=:@/"
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?"  # lower-case scheme, a plain host name or address, a port
    rf"(?:/{_URL_CHARS}]*)?"  # a path without ";" (urlparse would split parameters off it)
    rf"(?:\?{_URL_CHARS};?]+)?(?:#{_URL_CHARS};?#]+)?"  # a query and a fragment, neither empty
)
"""An absolute http(s) link that ``urljoin`` hands back unchanged whatever the base: the common case
of a feed item, recognised by one match instead of two URL parses. No whitespace, no control
character, no empty ``?`` or ``#`` (those are what the parse-and-rebuild in ``urljoin`` would alter)."""


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A file attached to an entry (RSS ``<enclosure>``, Atom ``rel=enclosure``, JSON attachment)."""

    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One feed item, normalised: absolute http(s) ``url``, plain-text ``title``/``summary``, sanitised
    ``content_html``, aware UTC datetimes."""

    url: str
    guid: str | None
    title: str
    summary: str
    content_html: str | None
    published_at: datetime | None
    updated_at: datetime | None
    author: str | None
    categories: tuple[str, ...]
    image_url: str | None
    enclosures: tuple[Enclosure, ...]

    @property
    def media_type(self) -> str | None:
        """``"podcast"`` or ``"video"`` when an enclosure says so (the record's ``type``), else None."""
        types = [(e.type or "").lower() for e in self.enclosures]
        if any(t.startswith("video/") for t in types):
            return "video"
        if any(t.startswith("audio/") for t in types):
            return "podcast"
        return None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A whole feed. ``kind`` is rss | atom | json | rdf (CDF counts as rss: same channel/item shape);
    ``parser`` names the library that produced it (fastfeedparser | feedparser | jsonfeed)."""

    kind: str
    title: str | None
    link: str | None
    language: str | None
    ttl_minutes: int | None
    entries: tuple[FeedEntry, ...]
    parser: str


class RawEntry(NamedTuple):
    """An entry as a parser adapter read it: strings unresolved and unsanitised. A named tuple, not a
    frozen dataclass: one is built per item of every parsed feed, and a frozen dataclass's ``__init__``
    (a guarded ``object.__setattr__`` per field) cost more than all the other work a known entry gets
    (``bench/feeds.py``, URLs read)."""

    link: str | None
    base: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None  # HTML or text
    content: str | None = None  # HTML
    published_at: datetime | None = None
    updated_at: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    image_urls: tuple[str, ...] = ()  # candidates, best first
    enclosures: tuple[Enclosure, ...] = ()


_set: Callable[[FeedEntry, str, Any], None] = object.__setattr__
"""Writes a field's slot past the frozen dataclass's refusal: one C call a field, as filling an entry
sets ten of them."""


class _DeferredEntry(FeedEntry):
    """A :class:`FeedEntry` (equal, hashed and printed as one) whose text fields are sanitised on first
    read, not when the feed is parsed. That is most of the per-item work, and a repeat poll reads only
    the URL of the entries the store already holds; a new entry whose page is fetched reads its title,
    author and categories but not its summary and content when the page has its own. So the fields
    come in two groups, each filled on the first read of one of its fields: the labels and the cheap
    fields (title, author, categories; guid, dates, image, enclosures) and the texts (summary,
    content). Pickling (the parse pool sends entries back) fills them first and sends a plain
    FeedEntry, so the work stays in the worker that parsed the feed.

    Only ``url`` is set when the entry is made. The adapter's :class:`RawEntry` itself comes from
    the feed's :class:`RawBatch` on the first read of any other field (copying a parser's dict field
    by field, dates and enclosures included, was most of what a known entry cost)."""

    __slots__ = ("_batch", "_index")
    _batch: RawBatch
    _index: int

    def __getattr__(self, name: str) -> Any:
        """A field's first read: its slot is empty, so Python asks here. The field's group is filled,
        and from then on the slot answers by itself (no Python call per read, as a property made)."""
        fill = _FILLS.get(name)
        if fill is None:
            raise AttributeError(name)
        fill(self)
        return FeedEntry.__dict__[name].__get__(self, FeedEntry)

    @classmethod
    def of(cls, url: str, batch: RawBatch, index: int) -> _DeferredEntry:
        """The entry whose link resolves to ``url``; its raw fields are ``batch``'s ``index``-th."""
        entry = cls.__new__(cls)
        object.__setattr__(entry, "url", url)
        object.__setattr__(entry, "_batch", batch)
        object.__setattr__(entry, "_index", index)
        return entry

    def _raw_entry(self) -> RawEntry:
        return self._batch.made()[self._index]

    def _fill_labels(self) -> None:
        """Title, author and categories as plain text, and the cheap fields: guid, dates, image and
        enclosures (a second caller recomputes the same)."""
        raw = self._raw_entry()
        _set(self, "guid", (raw.guid or "").strip() or None)
        _set(self, "published_at", _utc(raw.published_at or raw.updated_at))
        _set(self, "updated_at", _utc(raw.updated_at))
        _set(self, "image_url", _first_url(raw.image_urls, raw.base))
        _set(self, "enclosures", _enclosures(raw.enclosures, raw.base))
        _set(self, "title", plain_text(raw.title or ""))
        _set(self, "author", plain_text(raw.author) or None if raw.author else None)
        _set(self, "categories", _categories(raw.categories))

    def _fill_texts(self) -> None:
        """The content sanitised, and the summary as plain text (the content's text, read out of the
        sanitised content, stands in for a missing or copied summary)."""
        raw = self._raw_entry()
        content = clean_html(raw.content, raw.base) if raw.content and raw.content.strip() else None
        _set(self, "summary", _summary(raw, content))
        _set(self, "content_html", content)

    def plain(self) -> FeedEntry:
        """This entry as a plain :class:`FeedEntry`."""
        return FeedEntry(**{f: getattr(self, f) for f in FeedEntry.__dataclass_fields__})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeedEntry):
            return NotImplemented
        return self.plain() == (other.plain() if isinstance(other, _DeferredEntry) else other)

    def __hash__(self) -> int:
        return hash(self.plain())

    def __repr__(self) -> str:
        return repr(self.plain())

    def __reduce__(self) -> tuple[type[FeedEntry], tuple[Any, ...]]:
        plain = self.plain()
        return (FeedEntry, tuple(getattr(plain, f) for f in FeedEntry.__dataclass_fields__))


# The field -> the method that fills its group (see _DeferredEntry).
_FILLS: dict[str, Callable[[_DeferredEntry], None]] = {
    **dict.fromkeys(
        ("guid", "published_at", "updated_at", "image_url", "enclosures", "title", "author", "categories"),
        _DeferredEntry._fill_labels,
    ),
    **dict.fromkeys(("summary", "content_html"), _DeferredEntry._fill_texts),
}


def absolute_url(link: str | None, base: str) -> str | None:
    """``link`` resolved against ``base``; None unless the result is an http(s) URL."""
    if not link or not link.strip():
        return None
    link = link.strip()
    if _PLAIN_ABSOLUTE.fullmatch(link) and _base_parses(base):
        return link
    try:
        url = urljoin(base, link)
    except ValueError:
        return None
    return url if is_http_url(url) else None


@lru_cache(maxsize=256)
def _base_parses(base: str) -> bool:
    """Whether ``urljoin`` can read ``base`` (it raises on a malformed one, even for an absolute link).
    Cached: every item of a feed has the same base."""
    try:
        urlparse(base)
    except ValueError:
        return False
    return True


def build_entry(raw: RawEntry) -> FeedEntry | None:
    """The normalised entry for ``raw``, or None when it has no usable http(s) link (the contract:
    every entry we emit can be fetched). An entry that states only an update time (Atom ``<updated>``,
    RSS 1.0 ``dc:date``) gets it as ``published_at`` too, as feed readers show it."""
    return build_entry_lazily(raw.link, raw.base, RawBatch.of_made([raw]), 0)


def build_entry_lazily(link: str | None, base: str, batch: RawBatch, index: int) -> FeedEntry | None:
    """:func:`build_entry` for the entry whose :class:`RawEntry` is ``batch``'s ``index``-th, made
    only when a field other than the URL is first read. ``link`` and ``base`` must be that entry's."""
    url = absolute_url(link, base)
    if url is None:
        return None
    return _DeferredEntry.of(url, batch, index)


class RawBatch:
    """The :class:`RawEntry` of each entry of one feed, made together when any of them is first
    needed. All at once, not one at a time: made in one pass over the parser's output the copying
    cost 0.6-0.8 CPU-ms a 100-item feed, made one by one between the entries' sanitising 1.1-1.2
    (``bench/feeds.py``'s feed; the parser's output is no longer in the processor's caches by then).
    A poll that reads only URLs (every entry known) makes none.

    ``links`` holds each entry's link as the adapter read it (unresolved), read once when the feed is
    parsed: the entries' URLs come from it, and ``make(item, link)`` puts the same link in the entry's
    :class:`RawEntry` rather than reading it out of the parser's output a second time."""

    __slots__ = ("_items", "_made", "_make", "links")

    def __init__(
        self, make: Callable[[Any, str | None], RawEntry], items: list[Any], links: list[str | None]
    ) -> None:
        self._make = make
        self._items = items
        self.links = links
        self._made: list[RawEntry] | None = None

    @classmethod
    def of_made(cls, raw: list[RawEntry]) -> RawBatch:
        batch = cls(lambda item, link: item, [], [entry.link for entry in raw])
        batch._made = raw
        return batch

    def made(self) -> list[RawEntry]:
        """Every entry's raw fields, made on the first call. A second thread may make the same list
        (so the parser's output stays: it holds the same strings as the raw entries)."""
        made = self._made
        if made is None:
            make, pairs = self._make, zip(self._items, self.links, strict=True)
            made = self._made = [make(item, link) for item, link in pairs]
        return made


def _utc(value: datetime | None) -> datetime | None:
    """``value`` as :func:`utc` gives it; a value already in UTC to the second (what the adapters
    produce) is returned as is."""
    if value is None or (value.tzinfo is UTC and not value.microsecond):
        return value
    return utc(value)


def _summary(raw: RawEntry, content: str | None) -> str:
    """The entry's own summary; the start of its content when it has none or when the summary is only
    a copy of the content's start (feedparser copies content into ``summary``, fastfeedparser
    synthesises a 512-char ``description``: both would otherwise differ from a real summary).
    ``content``: the sanitised content, whose text is the content's (see ``plain_text``)."""
    summary = plain_text(raw.summary or "")
    if not raw.content:
        return summary
    spaced = spaced_text(raw.content, cleaned=content)  # collapsed only if it stands in for the summary
    if summary and not _same_start(summary, spaced):
        return summary
    text = " ".join(spaced.split())
    if len(text) <= SUMMARY_FROM_CONTENT_CHARS:
        return text
    cut = text[:SUMMARY_FROM_CONTENT_CHARS]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def _same_start(a: str, b: str) -> bool:
    """True when the shorter text opens the longer one, ignoring whitespace (first SAME_START_CHARS)."""
    a, b = _opening(a), _opening(b)
    k = min(len(a), len(b))
    return a[:k] == b[:k]


def _opening(text: str) -> str:
    """The first SAME_START_CHARS non-space characters of ``text``, reading only as far as needed (a
    content's plain text runs to thousands of characters)."""
    size = 2 * SAME_START_CHARS
    while True:
        head = "".join(text[:size].split())
        if len(head) >= SAME_START_CHARS or size >= len(text):
            return head[:SAME_START_CHARS]
        size *= 4


def _categories(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        text = plain_text(value)
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


def _first_url(candidates: tuple[str, ...], base: str) -> str | None:
    for candidate in candidates:
        url = absolute_url(candidate, base)
        if url is not None:
            return url
    return None


def _enclosures(values: tuple[Enclosure, ...], base: str) -> tuple[Enclosure, ...]:
    out: list[Enclosure] = []
    for enclosure in values:
        url = absolute_url(enclosure.url, base)
        if url is not None and all(e.url != url for e in out):
            out.append(Enclosure(url, (enclosure.type or "").strip() or None, enclosure.length))
    return tuple(out)


def looks_like_image(url: str | None, mime: str | None, medium: str | None) -> bool:
    """True for a media reference that is an image by its medium, MIME type or file suffix."""
    if medium:
        return medium.lower() == "image"
    if mime:
        return mime.lower().startswith("image/")
    return url is not None and url.lower().split("?", 1)[0].endswith(IMAGE_SUFFIXES)
