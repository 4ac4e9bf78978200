"""The article list's filters and page cursor (``ArticlesMixin.list_articles``): a list query's
conditions, and the opaque cursor that carries the last row's sort key to the next page."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select

from ..errors import StorageError
from ..model import ReviewState, utc
from . import tables as t

if TYPE_CHECKING:
    from .articles import ArticleQuery


def filtered(statement: Select[Any], q: ArticleQuery) -> Select[Any]:
    """``statement`` narrowed by the query's filters (its cursor and limit are the caller's)."""
    a = t.articles
    conditions: list[Any] = []
    if q.topic:
        # EXISTS, not IN: the planner then walks the sort_at index and stops at the page size, instead of
        # collecting and sorting every article of the topic (docs/benchmarks.md).
        at = t.article_topics
        conditions.append(
            select(at.c.article_id).where(at.c.article_id == a.c.id, at.c.topic == q.topic).exists()
        )
    if q.provider:
        conditions.append(a.c.provider_domain == q.provider)
    if q.published is not None:
        conditions.append(a.c.published == q.published)
    if q.review_state:
        conditions.append(a.c.review_state == ReviewState(q.review_state).value)
    if q.min_quality is not None:
        conditions.append(a.c.quality >= q.min_quality)
    if q.since is not None:
        conditions.append(a.c.sort_at >= q.since)
    if q.until is not None:
        conditions.append(a.c.sort_at <= q.until)
    if q.story_id is not None:
        conditions.append(a.c.story_id == q.story_id)
    if q.source_id is not None:
        conditions.append(a.c.source_id == q.source_id)
    if q.q:
        conditions.append(a.c.search_text.ilike(f"%{_escape_like(q.q)}%", escape="\\"))
    return statement.where(*conditions) if conditions else statement


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(at: datetime, article_id: int) -> str:
    return base64.urlsafe_b64encode(f"{utc(at).isoformat()}|{article_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, article_id = raw.rsplit("|", 1)
        return utc(datetime.fromisoformat(at)), int(article_id)
    except (ValueError, UnicodeDecodeError) as e:
        raise StorageError("cursor: not a cursor this server issued") from e
