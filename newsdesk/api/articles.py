"""Article endpoints: list and read records, the Markdown record, the secured text, editorial actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, HTTPException, Query, Request
from fastapi.responses import Response

from ..catalog import ArticleQuery, Audience
from ..model import ReviewState
from .auth import actor
from .params import MAX_CURSOR, ArticleId, Ctx, OptionalText, Viewer, as_utc
from .problems import FieldInvalid
from .schemas import (
    MAX_NAME,
    NO_NUL,
    ArticleDetail,
    ArticleItem,
    ArticlePage,
    PublishBody,
    RejectBody,
    TopicsBody,
)

MAX_PAGE = 200  # largest page a client may ask for: one store query, a bounded response (docs/benchmarks.md)
DEFAULT_PAGE = 50


def list_articles(
    ctx: Ctx,
    viewer: Viewer,
    topic: Annotated[
        str | None, Query(max_length=MAX_NAME, pattern=NO_NUL, description="Topic name.")
    ] = None,
    provider: Annotated[
        str | None, Query(max_length=MAX_NAME, pattern=NO_NUL, description="Provider domain.")
    ] = None,
    published: Annotated[
        bool | None, Query(description="Only published (true) or unpublished (false).")
    ] = None,
    min_quality: Annotated[int | None, Query(ge=0, le=100)] = None,
    since: Annotated[datetime | None, Query(description="Published (or first seen) at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Published (or first seen) at or before.")] = None,
    q: OptionalText = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR, pattern=NO_NUL)] = None,
) -> ArticlePage:
    """Articles newest first, filtered; follow ``next_cursor`` for the next page. Anonymous callers get
    published articles only."""
    if topic and topic not in {t.name for t in ctx.nd.taxonomy.topics}:
        raise FieldInvalid("topic", f"unknown topic {topic!r} (GET /api/v1/topics lists them)")
    start, end = as_utc(since, "since"), as_utc(until, "until")
    if start and end and end < start:
        raise FieldInvalid("until", "until is before since")
    query = ArticleQuery(
        topic=topic or None,
        provider=provider or None,
        published=published,
        min_quality=min_quality,
        since=start,
        until=end,
        q=q or None,
        limit=limit,
        cursor=cursor or None,
    )
    page = ctx.catalog.articles(query, viewer)
    return ArticlePage.of(page.items, page.next_cursor)


def get_article(ctx: Ctx, viewer: Viewer, article_id: ArticleId) -> ArticleDetail:
    """The full record with ``related``, and the reasons behind topics, quality, heat and decisions.
    An unpublished article is a 404 for anonymous callers."""
    article = ctx.catalog.article(article_id, viewer)
    alternates, decisions = ctx.catalog.alternates(article_id), ctx.nd.editorial.decisions(article_id)
    return ArticleDetail.of_article(article, alternates, decisions)


def get_record(ctx: Ctx, viewer: Viewer, article_id: ArticleId) -> Response:
    """The record file, byte for byte what ``newsdesk export`` writes (a 404 as for the article)."""
    return Response(ctx.catalog.record(article_id, viewer), media_type="text/markdown; charset=utf-8")


def get_secured(ctx: Ctx, article_id: ArticleId) -> dict[str, Any]:
    """The decrypted full text (admin only): the one place the clear text leaves the server."""
    article = ctx.catalog.article(article_id, Audience.TRUSTED)
    if article.secured is None and not article.text:
        raise HTTPException(404, f"article {article_id} has no full text")
    text = ctx.nd.keys.open_text(article)
    return {"id": article_id, "keyId": article.key_id, "text": text}


def publish(
    request: Request, ctx: Ctx, article_id: ArticleId, body: Annotated[PublishBody | None, Body()] = None
) -> dict[str, Any]:
    """Publish; a second (or concurrent) publish answers ``changed: false`` and records nothing."""
    reason = body.reason if body else ""
    changed = ctx.nd.editorial.publish(article_id, actor=actor(request), reason=reason)
    return {"id": article_id, "changed": changed, "state": ReviewState.PUBLISHED.value}


def reject(request: Request, ctx: Ctx, article_id: ArticleId, body: RejectBody) -> dict[str, Any]:
    """Reject with a reason (required: it trains the quality model)."""
    changed = ctx.nd.editorial.reject(article_id, actor=actor(request), reason=body.reason)
    return {"id": article_id, "changed": changed, "state": ReviewState.REJECTED.value}


def set_topics(request: Request, ctx: Ctx, article_id: ArticleId, body: TopicsBody) -> ArticleItem:
    """Replace the topics (ancestors are added); stored as an editor decision for training."""
    known = {t.name for t in ctx.nd.taxonomy.topics}
    for index, name in enumerate(body.topics):
        if name not in known:
            raise FieldInvalid(f"topics.{index}", f"unknown topic {name!r}", "body")
    article = ctx.nd.editorial.set_topics(article_id, body.topics, actor=actor(request), reason=body.reason)
    return ArticleItem.of(article)
