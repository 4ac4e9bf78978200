"""The API's JSON shapes: request bodies and documented responses, as pydantic models.

Field names are snake_case in Python and camelCase on the wire (``alias_generator``), matching the record
format's keys (``publishedDateTime``, ``webUrl``, ``isCached``). Response models are what ``/openapi.json``
promises; FastAPI validates every JSON response against them, and the schemathesis test holds the server
to that promise. Request models carry the limits that make a body invalid (422) before any handler runs.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from ..editorial import has_visible_text
from ..model import SourceKind
from ..store.tables import LABEL_CHARS

MAX_NAME = 300  # the store's name/domain columns are String(300)
MAX_LABEL = LABEL_CHARS  # the category/type columns' length
MAX_URL = 2048  # the store's URL columns are String(2048)
MAX_REASON = 2000  # an editor's reason is a sentence or two; caps what a client can make us store
MAX_TOPICS = 50  # the bundled taxonomy has 22 topics; an article never needs more than all of them
NO_NUL = r"^[^\x00]*$"  # PostgreSQL refuses NUL in text values
HTTP_URL = r"^https?://[^\s/?#\x00]+[^\s\x00]*$"  # the shape; model.is_http_url has the last word
SOME_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"  # at least one visible character, no NUL


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


class ImageOut(Wire):
    url: str
    width: int | None = None
    height: int | None = None
    is_cached: bool
    cached_url: str | None = Field(None, description="Where this API serves the cached copy, when cached.")


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


class ArticlePage(Wire):
    items: list[ArticleItem]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


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


class TopicScoreOut(Wire):
    name: str
    score: float
    signal: str


class ReasonOut(Wire):
    name: str
    value: float
    detail: str


class AlternateOut(Wire):
    url: str
    source_id: int | None
    seen_at: str
    reason: str
    provider: ProviderOut | None


class DecisionOut(Wire):
    id: int
    action: str
    actor: str
    reason: str
    at: str
    data: dict[str, Any]


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


class StoryList(Wire):
    items: list[StoryOut]


class StoryDetail(StoryOut):
    articles: list[ArticleItem]


class TopicNode(Wire):
    name: str
    description: str
    count: int = Field(description="Articles tagged with this topic (descendants' articles included).")
    feed: str = Field(description="Path of this topic's RSS feed.")
    children: list[TopicNode]


class TopicTree(Wire):
    items: list[TopicNode]


# ------------------------------------------------------------------------------------------- sources


class HealthOut(Wire):
    last_polled_at: str | None
    last_success_at: str | None
    error_count: int
    last_error: str | None
    last_error_kind: str | None
    next_poll_at: str | None
    interval_s: float | None


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


class SourceList(Wire):
    items: list[SourceOut]


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


class SearchResult(Wire):
    mode: SearchMode
    items: list[SearchItem]


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
