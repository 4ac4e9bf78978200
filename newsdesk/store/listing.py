"""The article list's filters and page cursor (``ArticlesMixin.list_articles``): a list query's
conditions, and the opaque cursor that carries the last row's sort key to the next page."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, select

from ..errors import StorageError
from ..model import ReviewState, utc
from . import tables as t

if TYPE_CHECKING:
    from .articles import ArticleQuery


def shared_conditions(
    *,
    topic: str | None,
    source_id: int | None,
    min_quality: int | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """The filters an article list and an editor's review queue both take (None: no limit). The topic is
    an EXISTS, not IN: the planner then walks the sort_at index and stops at the page size, instead of
    collecting and sorting every article of the topic (docs/benchmarks.md)."""
    a, at = t.articles, t.article_topics
    out: list[ColumnElement[bool]] = []
    if topic is not None:
        out.append(select(at.c.article_id).where(at.c.article_id == a.c.id, at.c.topic == topic).exists())
    if source_id is not None:
        out.append(a.c.source_id == source_id)
    if min_quality is not None:
        out.append(a.c.quality >= min_quality)
    if since is not None:
        out.append(a.c.sort_at >= since)
    if until is not None:
        out.append(a.c.sort_at <= until)
    return out


def filtered(statement: Select[Any], q: ArticleQuery) -> Select[Any]:
    """``statement`` narrowed by the query's filters (its cursor and limit are the caller's)."""
    a = t.articles
    conditions: list[Any] = shared_conditions(
        topic=q.topic or None, source_id=q.source_id, min_quality=q.min_quality, since=q.since, until=q.until
    )
    if q.provider:
        conditions.append(a.c.provider_domain == q.provider)
    if q.published is not None:
        conditions.append(a.c.published == q.published)
    if q.review_state:
        conditions.append(a.c.review_state == ReviewState(q.review_state).value)
    if q.story_id is not None:
        conditions.append(a.c.story_id == q.story_id)
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
