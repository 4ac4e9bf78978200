"""The API's JSON shapes: request bodies and documented responses, as pydantic models — the one place
an output field is written.

Field names are snake_case in Python and camelCase on the wire (``alias_generator``), matching the record
format's keys (``publishedDateTime``, ``webUrl``, ``isCached``); the article shapes keep the record's key
order so an API client and a record file reader see the same names. Each response model builds itself from
the domain object with ``of(...)`` (pure, no I/O), so the fields ``/openapi.json`` promises and the fields a
handler fills are the same declaration. FastAPI validates every JSON response against the route's model,
and the schemathesis test holds the server to that promise. Dates are ISO-8601 UTC with a ``Z`` suffix, as
in records. Text is returned as data, never as markup: a title holding ``<script>`` comes back as that
string inside JSON, the only media type these models are served as. Request models carry the limits that
make a body invalid (422) before any handler runs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from .. import catalog
from ..editorial import has_visible_text
from ..model import (
    Alternate,
    Article,
    Image,
    Provider,
    Reason,
    RelatedRef,
    Source,
    SourceHealth,
    SourceKind,
    Story,
    TopicScore,
)
from ..outputs import format_datetime
from ..sourcing import LABEL_CHARS

API_PREFIX = "/api/v1"

MAX_NAME = 300  # the store's name/domain columns are String(300)
MAX_LABEL = LABEL_CHARS  # the category/type columns' length
MAX_URL = 2048  # the store's URL columns are String(2048)
MAX_REASON = 2000  # an editor's reason is a sentence or two; caps what a client can make us store
MAX_TOPICS = 50  # the bundled taxonomy has 22 topics; an article never needs more than all of them
NO_NUL = r"^[^\x00]*$"  # PostgreSQL refuses NUL in text values
HTTP_URL = r"^https?://[^\s/?#\x00]+[^\s\x00]*$"  # the shape; model.is_http_url has the last word
SOME_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"  # at least one visible character, no NUL


def when(value: datetime | None) -> str | None:
    """A record-style timestamp, or null."""
    return format_datetime(value) if value is not None else None


class Wire(BaseModel):
    """Base: camelCase on the wire, either spelling accepted on input, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid"
    )


class SearchMode(enum.StrEnum):
    TEXT = "text"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


# ------------------------------------------------------------------------------------------ articles


class ProviderOut(Wire):
    name: str
    domain: str

    @classmethod
    def of(cls, value: Provider) -> ProviderOut:
        return cls(name=value.name, domain=value.domain)


class ImageOut(Wire):
    url: str
    width: int | None = None
    height: int | None = None
    is_cached: bool
    cached_url: str | None = Field(None, description="Where this API serves the cached copy, when cached.")

    @classmethod
    def of(cls, value: Image) -> ImageOut:
        cached = f"{API_PREFIX}/images/{value.sha256}" if value.is_cached and value.sha256 else None
        return cls(
            url=value.url,
            width=value.width,
            height=value.height,
            is_cached=value.is_cached,
            cached_url=cached,
        )


class ArticleItem(Wire):
    """An article in record shape (the record's keys, in its order) plus its ``id`` and review state."""

    id: int
    category: str
    title: str
    excerpt: str
    published_date_time: str | None
    original_url: str
    web_url: str
    type: str
    quality: int
    heat: int
    published: bool
    provider: ProviderOut
    topics: list[str]
    images: list[ImageOut]
    secured: str | None
    review_state: str

    @classmethod
    def of(cls, a: Article) -> ArticleItem:
        return cls(**_item_fields(a))


def _item_fields(a: Article) -> dict[str, Any]:
    """The list shape's values (record keys plus ``id`` and ``review_state``), for the item subclasses."""
    return {
        "id": a.id,
        "category": a.category,
        "title": a.title,
        "excerpt": a.excerpt,
        "published_date_time": when(a.published_at),
        "original_url": a.original_url,
        "web_url": a.web_url,
        "type": a.type,
        "quality": a.quality,
        "heat": a.heat,
        "published": a.published,
        "provider": ProviderOut.of(a.provider),
        "topics": list(a.topics),
        "images": [ImageOut.of(i) for i in a.images],
        "secured": a.secured,
        "review_state": a.review_state.value,
    }


class ArticlePage(Wire):
    items: list[ArticleItem]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")

    @classmethod
    def of(cls, articles: Iterable[Article], next_cursor: str | None) -> ArticlePage:
        return cls(items=[ArticleItem.of(a) for a in articles], next_cursor=next_cursor)


class RelatedOut(Wire):
    id: int | None
    title: str
    excerpt: str
    published_date_time: str | None
    web_url: str
    type: str
    provider: ProviderOut
    quality: int
    images: list[ImageOut]
    similarity: float | None

    @classmethod
    def of(cls, ref: RelatedRef) -> RelatedOut:
        return cls(
            id=ref.article_id,
            title=ref.title,
            excerpt=ref.excerpt,
            published_date_time=when(ref.published_at),
            web_url=ref.web_url,
            type=ref.type,
            provider=ProviderOut.of(ref.provider),
            quality=ref.quality,
            images=[ImageOut.of(i) for i in ref.images],
            similarity=ref.similarity,
        )


class TopicScoreOut(Wire):
    name: str
    score: float
    signal: str

    @classmethod
    def of(cls, t: TopicScore) -> TopicScoreOut:
        return cls(name=t.name, score=t.score, signal=t.signal)


class ReasonOut(Wire):
    name: str
    value: float
    detail: str

    @classmethod
    def of(cls, r: Reason) -> ReasonOut:
        return cls(name=r.name, value=r.value, detail=r.detail)


class AlternateOut(Wire):
    url: str
    source_id: int | None
    seen_at: str
    reason: str
    provider: ProviderOut | None

    @classmethod
    def of(cls, alt: Alternate) -> AlternateOut:
        return cls(
            url=alt.url,
            source_id=alt.source_id,
            seen_at=format_datetime(alt.seen_at),
            reason=alt.reason,
            provider=ProviderOut.of(alt.provider) if alt.provider else None,
        )


class DecisionOut(Wire):
    id: int
    action: str
    actor: str
    reason: str
    at: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> DecisionOut:
        """A stored decision row (``Store.decisions``) on the wire."""
        return cls(
            id=row["id"],
            action=row["action"],
            actor=row["actor"],
            reason=row["reason"] or "",
            at=format_datetime(row["at"]),
            data=dict(row["data"] or {}),
        )


class ArticleDetail(ArticleItem):
    """The full record plus every reason behind it: why these topics, this quality, this heat."""

    related: list[RelatedOut]
    topic_scores: list[TopicScoreOut]
    quality_reasons: list[ReasonOut]
    heat_reasons: list[ReasonOut]
    alternates: list[AlternateOut]
    decisions: list[DecisionOut]
    story_id: int | None
    source_id: int | None
    language: str | None
    author: str | None
    first_seen_at: str | None
    fetched_at: str | None
    fetch_error: str | None

    @classmethod
    def of_article(
        cls, a: Article, alternates: Iterable[Alternate], decisions: Iterable[Mapping[str, Any]]
    ) -> ArticleDetail:
        """The full record (with ``related``) and every reason behind its scores and state."""
        return cls(
            **_item_fields(a),
            related=[RelatedOut.of(r) for r in a.related],
            topic_scores=[TopicScoreOut.of(t) for t in a.topic_scores],
            quality_reasons=[ReasonOut.of(r) for r in a.quality_reasons],
            heat_reasons=[ReasonOut.of(r) for r in a.heat_reasons],
            alternates=[AlternateOut.of(x) for x in alternates],
            decisions=[DecisionOut.of(d) for d in decisions],
            story_id=a.story_id,
            source_id=a.source_id,
            language=a.language,
            author=a.author,
            first_seen_at=when(a.first_seen_at),
            fetched_at=when(a.fetched_at),
            fetch_error=a.fetch_error,
        )


class SecuredText(Wire):
    id: int
    key_id: str | None
    text: str


# ---------------------------------------------------------------------------------------- editorial


class PublishBody(Wire):
    reason: str = Field("", max_length=MAX_REASON, pattern=NO_NUL)


class RejectBody(Wire):
    reason: str = Field(..., min_length=1, max_length=MAX_REASON, pattern=SOME_TEXT)

    @field_validator("reason")
    @classmethod
    def _visible(cls, reason: str) -> str:
        # The same rule as the facade's (the pattern's \s is Unicode White_Space, which lets control
        # characters such as U+001C through — schemathesis found that).
        if not has_visible_text(reason):
            raise ValueError("the reason needs at least one visible character")
        return reason


class TopicsBody(Wire):
    topics: list[str] = Field(..., max_length=MAX_TOPICS)
    reason: str = Field("", max_length=MAX_REASON, pattern=NO_NUL)


class DecisionResult(Wire):
    id: int
    changed: bool = Field(description="False when the article was already in this state (nothing recorded).")
    state: str


# ------------------------------------------------------------------------------------ stories, topics


class StoryOut(Wire):
    id: int
    title: str
    first_seen_at: str
    last_seen_at: str
    size: int
    providers: list[str]
    heat: int

    @classmethod
    def of(cls, s: Story) -> StoryOut:
        return cls(**_story_fields(s))


def _story_fields(s: Story) -> dict[str, Any]:
    return {
        "id": s.id,
        "title": s.title,
        "first_seen_at": format_datetime(s.first_seen_at),
        "last_seen_at": format_datetime(s.last_seen_at),
        "size": s.size,
        "providers": list(s.providers),
        "heat": s.heat,
    }


class StoryList(Wire):
    items: list[StoryOut]

    @classmethod
    def of(cls, stories: Iterable[Story]) -> StoryList:
        return cls(items=[StoryOut.of(s) for s in stories])


class StoryDetail(StoryOut):
    articles: list[ArticleItem]

    @classmethod
    def of_story(cls, s: Story, articles: Iterable[Article]) -> StoryDetail:
        return cls(**_story_fields(s), articles=[ArticleItem.of(a) for a in articles])


class TopicNode(Wire):
    name: str
    description: str
    count: int = Field(description="Articles tagged with this topic (descendants' articles included).")
    feed: str = Field(description="Path of this topic's RSS feed.")
    children: list[TopicNode]

    @classmethod
    def of(cls, node: catalog.TopicNode, feed_prefix: str) -> TopicNode:
        """A topic with its count, its RSS feed under ``feed_prefix`` and its children, recursively."""
        return cls(
            name=node.topic.name,
            description=node.topic.description,
            count=node.count,
            feed=f"{feed_prefix}/{catalog.slug(node.topic.name)}.rss",
            children=[cls.of(child, feed_prefix) for child in node.children],
        )


class TopicTree(Wire):
    items: list[TopicNode]

    @classmethod
    def of(cls, tree: Iterable[catalog.TopicNode]) -> TopicTree:
        return cls(items=[TopicNode.of(node, f"{API_PREFIX}/feeds") for node in tree])


# ------------------------------------------------------------------------------------------- sources


class HealthOut(Wire):
    last_polled_at: str | None
    last_success_at: str | None
    error_count: int
    last_error: str | None
    last_error_kind: str | None
    next_poll_at: str | None
    interval_s: float | None

    @classmethod
    def of(cls, h: SourceHealth) -> HealthOut:
        return cls(
            last_polled_at=when(h.last_polled_at),
            last_success_at=when(h.last_success_at),
            error_count=h.error_count,
            last_error=h.last_error,
            last_error_kind=h.last_error_kind,
            next_poll_at=when(h.next_poll_at),
            interval_s=h.interval_s,
        )


class SourceOut(Wire):
    id: int
    url: str
    kind: str
    name: str | None
    category: str | None
    type: str | None
    topics: list[str]
    poll_min_s: float | None
    poll_max_s: float | None
    allow_loopback: bool
    reputation: float | None
    site_url: str | None
    paused: bool = Field(description="Paused sources are never polled until resumed.")
    health: HealthOut

    @classmethod
    def of(cls, s: Source) -> SourceOut:
        assert s.id is not None, "only a stored source goes on the wire"
        return cls(
            id=s.id,
            url=s.url,
            kind=s.kind.value,
            name=s.name,
            category=s.category,
            type=s.type,
            topics=list(s.topics),
            poll_min_s=s.poll_min_s,
            poll_max_s=s.poll_max_s,
            allow_loopback=s.allow_loopback,
            reputation=s.reputation,
            site_url=s.site_url,
            paused=s.paused,
            health=HealthOut.of(s.health),
        )


class SourceList(Wire):
    items: list[SourceOut]

    @classmethod
    def of(cls, sources: Iterable[Source]) -> SourceList:
        return cls(items=[SourceOut.of(s) for s in sources])


class SourceFields(Wire):
    """What a client may set on a source (POST needs ``url``; PATCH changes only the keys it sends)."""

    kind: SourceKind = SourceKind.FEED
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME, pattern=SOME_TEXT)
    category: str | None = Field(None, min_length=1, max_length=MAX_LABEL, pattern=SOME_TEXT)
    type: str | None = Field(None, min_length=1, max_length=MAX_LABEL, pattern=SOME_TEXT)
    topics: list[str] = Field(default_factory=list, max_length=MAX_TOPICS)
    poll_min_s: float | None = Field(None, gt=0, le=31_536_000)
    poll_max_s: float | None = Field(None, gt=0, le=31_536_000)
    reputation: float | None = Field(None, ge=0, le=1)
    site_url: str | None = Field(
        None, min_length=1, max_length=MAX_URL, pattern=HTTP_URL, description="The publisher's home page."
    )
    allow_loopback: bool = Field(
        False, description="Let this source reach loopback/private addresses (admin)."
    )
    paused: bool = Field(False, description="Pause polling (true) or resume it (false).")


class SourceCreate(SourceFields):
    url: str = Field(
        ..., min_length=1, max_length=MAX_URL, pattern=HTTP_URL, description="Absolute http(s) URL."
    )


class SourcePatch(SourceFields):
    url: str | None = Field(None, min_length=1, max_length=MAX_URL, pattern=HTTP_URL)


# -------------------------------------------------------------------------------------- search, misc


class SearchItem(ArticleItem):
    score: float = Field(description="Higher is better; the scale depends on the mode (bm25, cosine, RRF).")
    matched_by: list[SearchMode]

    @classmethod
    def of_hit(cls, hit: catalog.Hit) -> SearchItem:
        modes = [SearchMode(m) for m in hit.matched_by]
        return cls(**_item_fields(hit.article), score=hit.score, matched_by=modes)


class SearchResult(Wire):
    mode: SearchMode
    items: list[SearchItem]

    @classmethod
    def of(cls, mode: SearchMode, hits: Iterable[catalog.Hit]) -> SearchResult:
        return cls(mode=mode, items=[SearchItem.of_hit(h) for h in hits])


class Health(Wire):
    status: str
    articles: int
    sources: int


class FieldProblem(Wire):
    field: str
    message: str
    location: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None
