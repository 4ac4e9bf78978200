"""The domain model: what an article, a source, a story and a topic are.

Everything here is a frozen dataclass. Stages take these and return new ones (``dataclasses.replace``);
only the store turns them into rows. Validation happens in ``__post_init__`` so an invalid object cannot
exist — a record file, an API body or a feed entry that would make one is rejected where it enters.

The public record (``docs/examples/record.md``) is a projection of :class:`Article`; the fields that
have a record key say so in their comment. Internal fields (ids, text, reasons, timings) never reach a
record file except through ``secured``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError

UNSCORED = -1
"""``quality`` and ``heat`` before they are computed (the record shows ``heat: -1``)."""


class SourceKind(enum.StrEnum):
    FEED = "feed"
    SITEMAP = "sitemap"
    PAGE = "page"


class ReviewState(enum.StrEnum):
    """Where an article stands editorially; only rules (``finishing``) and editors move it. The record's
    ``published`` flag is this state seen from outside (:attr:`Article.published`)."""

    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(message)


def _is_score(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (value == UNSCORED or 0 <= value <= 100)


# Characters RFC 3986 §3.2.2 allows nowhere in a host (a reg-name is unreserved, pct-encoded and sub-delims;
# non-ASCII is left to IDNA): whitespace, controls and the "unwise" set. ``urlsplit`` accepts all of them.
_NOT_IN_HOST = frozenset(' "<>\\^`{|}') | {chr(c) for c in range(0x21)} | {"\x7f"}


def host_problem(host: str) -> str | None:
    """Why ``host`` (a URL's host name, as ``urlsplit`` gives it) cannot name a server, or ``None``."""
    bad = sorted({ch for ch in host if ch in _NOT_IN_HOST or ch.isspace()})
    if bad:
        return f"the host name {host!r} contains {', '.join(repr(ch) for ch in bad)}"
    return None


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL newsdesk can fetch, or ``None`` when it is one: the
    scheme, a missing or malformed host, a port outside 0-65535. The reason is short and names the part."""
    controls = sorted({ch for ch in url if ord(ch) < 0x20 or ord(ch) == 0x7F})
    if controls:  # urlsplit silently drops tabs and newlines, so check the text as given
        return f"the URL contains control characters {', '.join(repr(ch) for ch in controls)}"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port out of 0-65535 or not a number
    except ValueError as e:
        return f"malformed URL ({str(e).lower()})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    return host_problem(parts.hostname)


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host — the only URLs newsdesk fetches or stores. A shape
    check: the host's characters and the port are checked where a URL becomes a source
    (:func:`check_http_url`) and where it is made canonical (``fetch.urls``), which report the reason
    instead of dropping the URL unseen."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_http_url(url: str, what: str) -> None:
    """Raise :class:`ValidationError` naming ``what`` and the URL, with the reason, unless ``url`` is fine."""
    problem = http_url_problem(url)
    if problem is not None:
        raise ValidationError(f"{what} {url!r} is not usable: {problem}")


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime, truncated to whole seconds (records carry seconds)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(value: datetime) -> int:
    """``value`` (naive: UTC) in whole microseconds since the epoch, exactly: an int64 a time can be
    kept in by the hundred thousand (a numpy array), as a datetime each cannot."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(microseconds=1)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_clock: Callable[[], datetime] = _wall_clock


def now() -> datetime:
    """The current time as the pipeline sees it: dates first seen, heat, rule ages and timestamps."""
    return utc(_clock())


@contextlib.contextmanager
def held_clock(at: datetime) -> Iterator[None]:
    """Make :func:`now` answer ``at`` until the block ends, in every thread of this process.

    The seam for runs that must be reproducible byte for byte (tests/test_demo_export_golden.py): heat
    decays with the clock, so a record made today differs from one made tomorrow. Worker processes keep
    the wall clock; nothing they run asks for the time.
    """
    global _clock
    held = utc(at)
    previous, _clock = _clock, lambda: held
    try:
        yield
    finally:
        _clock = previous


@dataclass(frozen=True, slots=True)
class Provider:
    """The publisher: ``{name, domain}`` in a record. ``domain`` is the registered domain."""

    name: str
    domain: str

    def __post_init__(self) -> None:
        _check(bool(self.name.strip()), "provider.name is empty")
        _check(
            bool(self.domain.strip()) and " " not in self.domain,
            f"provider.domain is invalid: {self.domain!r}",
        )


@dataclass(frozen=True, slots=True)
class Image:
    """An article image. ``width``/``height`` come from the cached file itself, so they are ``None``
    until the image is cached; ``error`` says why caching failed (``is_cached`` is then false)."""

    url: str
    width: int | None = None
    height: int | None = None
    is_cached: bool = False
    sha256: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        _check(is_http_url(self.url), f"image url is not an http(s) URL: {self.url!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, int) and value > 0), f"image {name} must be > 0")


@dataclass(frozen=True, slots=True)
class RelatedRef:
    """Another record shown under ``related``: a summary of it, not the whole record."""

    title: str
    web_url: str
    provider: Provider
    excerpt: str = ""
    published_at: datetime | None = None
    type: str = "article"
    quality: int = UNSCORED
    images: tuple[Image, ...] = ()
    similarity: float | None = None  # internal: cosine similarity to the article
    article_id: int | None = None  # internal: the related article's id

    def __post_init__(self) -> None:
        _check(bool(self.title.strip()), "related.title is empty")
        _check(is_http_url(self.web_url), f"related.webUrl is not an http(s) URL: {self.web_url!r}")
        _check(_is_score(self.quality), f"quality must be an integer 0-100 or -1, got {self.quality!r}")
        if self.published_at is not None:
            object.__setattr__(self, "published_at", utc(self.published_at))


@dataclass(frozen=True, slots=True)
class Reason:
    """One contribution to a score: ``name`` (e.g. ``depth``), its ``value`` in score points, and a
    human ``detail`` (``"1,240 words"``). A score is the clamped sum of its reasons."""

    name: str
    value: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TopicScore:
    """A topic assigned to an article, with the score and the signal that decided it
    (``zero-shot``, ``keywords``, ``supervised``, ``editor``, ``ancestor``, ``source``)."""

    name: str
    score: float
    signal: str


@dataclass(frozen=True, slots=True)
class Alternate:
    """Another sighting of an article: a syndicated copy, a tracking-parameter URL, another feed."""

    url: str
    source_id: int | None
    seen_at: datetime
    reason: str = "same-url"  # same-url | same-content | near-duplicate
    provider: Provider | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """An article: every record field plus what newsdesk needs internally."""

    # --- record fields, in record order -------------------------------------------------------
    title: str
    web_url: str  # webUrl: the canonical URL
    original_url: str  # originalUrl: as first seen
    provider: Provider
    category: str = "news"
    excerpt: str = ""
    published_at: datetime | None = None  # publishedDateTime
    type: str = "article"
    quality: int = UNSCORED
    heat: int = UNSCORED
    published: bool = False  # derived from review_state (see __post_init__)
    topics: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[RelatedRef, ...] = ()
    secured: str | None = None  # "base64(ciphertext);base64(nonce)"
    # --- internal -------------------------------------------------------------------------------
    id: int | None = None
    source_id: int | None = None
    first_seen_at: datetime | None = None
    fetched_at: datetime | None = None
    language: str | None = None
    author: str | None = None
    text: str = ""  # full extracted text; kept only encrypted when encryption is on
    content_hash: str | None = None
    story_id: int | None = None
    key_id: str | None = None  # which key encrypted ``secured``
    quality_reasons: tuple[Reason, ...] = ()
    heat_reasons: tuple[Reason, ...] = ()
    topic_scores: tuple[TopicScore, ...] = ()
    fetch_error: str | None = None  # why the page could not be fetched (stored from the feed alone)
    review_state: ReviewState = ReviewState.PENDING  # the one truth; changed only by rules and editors
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check(bool(self.title.strip()), "title is empty")
        _check(is_http_url(self.web_url), f"webUrl is not an http(s) URL: {self.web_url!r}")
        _check(is_http_url(self.original_url), f"originalUrl is not an http(s) URL: {self.original_url!r}")
        _check(bool(self.category.strip()), "category is empty")
        _check(bool(self.type.strip()), "type is empty")
        for name in ("quality", "heat"):
            value = getattr(self, name)
            _check(_is_score(value), f"{name} must be an integer 0-100 or -1, got {value!r}")
        for name in ("published_at", "first_seen_at", "fetched_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value))
        _check(len(set(self.topics)) == len(self.topics), "topics repeat")
        self._settle_review_state()

    def _settle_review_state(self) -> None:
        """Make ``review_state`` the one truth and ``published`` its projection. A record file carries only
        ``published``, so ``published=True`` on a still-pending article means PUBLISHED; otherwise the
        state wins (``replace(review_state=...)`` copies the old flag along)."""
        state = self.review_state
        if not isinstance(state, ReviewState):
            allowed = ", ".join(s.value for s in ReviewState)
            _check(state in tuple(ReviewState), f"review_state must be one of {allowed}, got {state!r}")
            state = ReviewState(state)
        if self.published and state is ReviewState.PENDING:
            state = ReviewState.PUBLISHED
        object.__setattr__(self, "review_state", state)
        object.__setattr__(self, "published", state is ReviewState.PUBLISHED)

    def replace(self, **changes: Any) -> Article:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the poller learned about a source: shown by ``newsdesk source list``."""

    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    error_count: int = 0  # consecutive failures; drives the back-off
    last_error: str | None = None
    last_error_kind: str | None = None
    next_poll_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    interval_s: float | None = None  # the current adaptive poll interval
    body_hash: str | None = None  # sha256 of the feed body last parsed: the same bytes again parse nothing


@dataclass(frozen=True, slots=True)
class Source:
    """A place newsdesk polls: a feed, a sitemap or a single page."""

    url: str
    kind: SourceKind = SourceKind.FEED
    name: str | None = None
    category: str | None = None  # default category for its articles
    type: str | None = None  # default type for its articles
    topics: tuple[str, ...] = ()  # topics every article of this source gets
    poll_min_s: float | None = None  # bounds of the adaptive interval; None = the settings' bounds
    poll_max_s: float | None = None
    allow_loopback: bool = False  # lets the SSRF guard through private/loopback addresses (demo, tests)
    reputation: float | None = None  # 0-1 prior for quality, from ratings or by hand
    site_url: str | None = None  # the publisher's home page (OPML htmlUrl, the page a feed was found on)
    # A person chose ``name`` (a form, the API, the CLI, sources.yaml, an OPML outline). False for a
    # stand-in (a link's text, the title a feed had when it was found): the feed's own title replaces
    # it on the next successful poll. Always False without a name.
    name_given: bool = True
    paused: bool = False  # an editor paused it: never due until resumed (its health is kept)
    id: int | None = None
    health: SourceHealth = field(default_factory=SourceHealth)

    def __post_init__(self) -> None:
        check_http_url(self.url, "source url")
        object.__setattr__(self, "kind", SourceKind(self.kind))
        if self.name is None:
            object.__setattr__(self, "name_given", False)
        if self.poll_min_s is not None and self.poll_max_s is not None:
            _check(self.poll_min_s <= self.poll_max_s, "poll_min_s is above poll_max_s")
        if self.reputation is not None:
            _check(0.0 <= self.reputation <= 1.0, "reputation must lie in 0-1")
        if self.site_url is not None:
            check_http_url(self.site_url, "site_url")


@dataclass(frozen=True, slots=True)
class Topic:
    """A node of the taxonomy. ``parent`` is the parent's name; the tree is checked for cycles and
    unknown parents where the taxonomy is loaded (``config.load_taxonomy``)."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    parent: str | None = None

    def __post_init__(self) -> None:
        _check(bool(self.name.strip()), "topic name is empty")
        _check(self.parent != self.name, f"topic {self.name!r} is its own parent")


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The topic tree, validated: every parent exists and there is no cycle."""

    topics: tuple[Topic, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.topics]
        _check(len(set(names)) == len(names), "taxonomy repeats a topic name")
        known = set(names)
        for topic in self.topics:
            _check(
                topic.parent is None or topic.parent in known,
                f"topic {topic.name!r}: unknown parent {topic.parent!r}",
            )
        for topic in self.topics:
            self.ancestors(topic.name)  # raises on a cycle

    def get(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Parents of ``name``, nearest first (``AI in Finance`` → ``("AI",)``)."""
        chain: list[str] = []
        parent = self.get(name).parent
        while parent is not None:
            _check(parent not in chain and parent != name, f"taxonomy has a cycle through {name!r}")
            chain.append(parent)
            parent = self.get(parent).parent
        return tuple(chain)

    def depth(self, name: str) -> int:
        return len(self.ancestors(name))

    def children(self, name: str | None) -> tuple[Topic, ...]:
        return tuple(t for t in self.topics if t.parent == name)

    def with_ancestors(self, names: Sequence[str]) -> tuple[str, ...]:
        """``names`` plus their ancestors, most specific first, each once."""
        out: list[str] = []
        for name in sorted(names, key=lambda n: -self.depth(n)):
            for item in (name, *self.ancestors(name)):
                if item not in out:
                    out.append(item)
        return tuple(sorted(out, key=lambda n: (-self.depth(n), out.index(n))))


@dataclass(frozen=True, slots=True)
class Story:
    """A cluster of articles about the same event."""

    id: int | None
    title: str
    first_seen_at: datetime
    last_seen_at: datetime
    size: int = 1
    providers: tuple[str, ...] = ()  # distinct provider domains
    heat: int = UNSCORED
