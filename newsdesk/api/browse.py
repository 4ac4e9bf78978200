"""Browsing endpoints: stories (hot first), the topic tree, search, and the health check. What an
anonymous caller sees is decided by ``newsdesk.catalog`` (published articles only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from ..catalog import Audience
from . import shapes
from .params import Ctx, StoryId, Viewer, as_utc
from .schemas import NO_NUL, SearchMode
from .shapes import API_PREFIX

MAX_STORIES = 200
DEFAULT_STORIES = 50
MAX_HITS = 100  # a results page; hybrid search fuses the top RRF_DEPTH of each list regardless
DEFAULT_HITS = 20


def list_stories(
    ctx: Ctx,
    viewer: Viewer,
    limit: Annotated[int, Query(ge=1, le=MAX_STORIES)] = DEFAULT_STORIES,
    since: Annotated[datetime | None, Query(description="Only stories active at or after this time.")] = None,
) -> dict[str, Any]:
    """Stories hottest first, each with the provider domains covering it."""
    stories = ctx.catalog.stories(viewer, limit=limit, since=as_utc(since, "since"))
    return {"items": [shapes.story(s) for s in stories]}


def get_story(ctx: Ctx, viewer: Viewer, story_id: StoryId) -> dict[str, Any]:
    """One story and its articles, oldest first (how the story unfolded)."""
    story, articles = ctx.catalog.story(story_id, viewer)
    return shapes.story(story) | {"articles": [shapes.article_item(a) for a in articles]}


def list_topics(ctx: Ctx, viewer: Viewer) -> dict[str, Any]:
    """The taxonomy tree with article counts and each topic's feed."""
    tree = ctx.catalog.topic_tree(viewer)
    return {"items": [shapes.topic_node(node, f"{API_PREFIX}/feeds") for node in tree]}


def search(
    ctx: Ctx,
    viewer: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)],
    mode: SearchMode = SearchMode.TEXT,
    limit: Annotated[int, Query(ge=1, le=MAX_HITS)] = DEFAULT_HITS,
) -> dict[str, Any]:
    """Full-text, semantic, or both fused by reciprocal rank (``mode=hybrid``)."""
    hits = ctx.catalog.search(q, mode.value, limit, viewer)
    items = [
        shapes.article_item(h.article) | {"score": h.score, "matchedBy": list(h.matched_by)} for h in hits
    ]
    return {"mode": mode.value, "items": items}


def health(ctx: Ctx) -> dict[str, Any]:
    """Liveness and the store's reachability (a 503 problem when the database does not answer). The
    endpoint is open to everyone, so it counts published articles only: it says nothing about the rest."""
    store = ctx.nd.store
    published = ctx.catalog.count_articles(Audience.PUBLIC)
    return {"status": "ok", "articles": published, "sources": len(store.list_sources())}
