"""Browsing endpoints: stories (hot first), the topic tree, search, and the health check. What an
anonymous caller sees is decided by ``newsdesk.catalog`` (published articles only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from ..catalog import Audience
from .params import Ctx, StoryId, Viewer, as_utc
from .schemas import NO_NUL, SearchMode, SearchResult, StoryDetail, StoryList, TopicTree

MAX_STORIES = 200
DEFAULT_STORIES = 50
MAX_HITS = 100  # a results page; hybrid search fuses the top RRF_DEPTH of each list regardless
DEFAULT_HITS = 20


def list_stories(
    ctx: Ctx,
    viewer: Viewer,
    limit: Annotated[int, Query(ge=1, le=MAX_STORIES)] = DEFAULT_STORIES,
    since: Annotated[datetime | None, Query(description="Only stories active at or after this time.")] = None,
) -> StoryList:
    """Stories hottest first, each with the provider domains covering it."""
    stories = ctx.catalog.stories(viewer, limit=limit, since=as_utc(since, "since"))
    return StoryList.of(stories)


def get_story(ctx: Ctx, viewer: Viewer, story_id: StoryId) -> StoryDetail:
    """One story and its articles, oldest first (how the story unfolded)."""
    story, articles = ctx.catalog.story(story_id, viewer)
    return StoryDetail.of_story(story, articles)


def list_topics(ctx: Ctx, viewer: Viewer) -> TopicTree:
    """The taxonomy tree with article counts and each topic's feed."""
    tree = ctx.catalog.topic_tree(viewer)
    return TopicTree.of(tree)


def search(
    ctx: Ctx,
    viewer: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)],
    mode: SearchMode = SearchMode.TEXT,
    limit: Annotated[int, Query(ge=1, le=MAX_HITS)] = DEFAULT_HITS,
) -> SearchResult:
    """Full-text, semantic, or both fused by reciprocal rank (``mode=hybrid``)."""
    hits = ctx.catalog.search(q, mode.value, limit, viewer)
    return SearchResult.of(mode, hits)


def health(ctx: Ctx) -> dict[str, Any]:
    """Liveness and the store's reachability (a 503 problem when the database does not answer). The
    endpoint is open to everyone, so it counts published articles only: it says nothing about the rest."""
    published = ctx.catalog.count_articles(Audience.PUBLIC)
    return {"status": "ok", "articles": published, "sources": len(ctx.nd.sources.list())}
