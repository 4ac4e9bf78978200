"""The store's side of an editor's reading tools: the review queue filtered and sorted, and each
editor's read/starred flags on any article (published or not).

The flags live in ``reader_states``, the table reader apps use (``store/users.py``), under a ``users``
row for the editor (made by :meth:`UsersMixin.editor_user_id <newsdesk.store.users.UsersMixin.editor_user_id>`): one model of "read" and "starred", so an
editor who also follows the desk in a reader app sees the same stars there (for published records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from ..model import Article
from . import rows
from . import tables as t
from .articles import existing_ids
from .base import StoreBase, _chunks
from .listing import shared_conditions
from .users import _flag_changes, _upsert_states, flag_conditions  # the reader apps' flags: one way

SORTS = ("newest", "oldest", "quality", "heat")


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """Which articles the review queue shows (every field narrows it; None = no limit)."""

    review_state: str | None = "pending"
    topic: str | None = None
    source_id: int | None = None
    language: str | None = None
    min_quality: int | None = None
    min_heat: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    read: bool | None = None
    starred: bool | None = None
    sort: str = "newest"


@dataclass(frozen=True, slots=True)
class ReviewItem:
    article: Article
    read: bool
    starred: bool


class ReadingMixin(StoreBase):
    """The review queue and editors' flags; one transaction per method, as everywhere."""

    def review_items(
        self, user_id: int, where: ReviewFilter, *, limit: int, offset: int = 0
    ) -> list[ReviewItem]:
        """A page of the queue with this editor's flags, in ``where.sort`` order (ties by id)."""
        a, s = t.articles, t.reader_states
        joined = a.outerjoin(s, and_(s.c.article_id == a.c.id, s.c.user_id == user_id))
        query = select(a, s.c.is_read, s.c.starred).select_from(joined).where(*_conditions(where))
        query = query.order_by(*_order(where.sort)).limit(limit).offset(offset)
        with self._read() as c:
            found = c.execute(query).mappings()
            return [
                ReviewItem(rows.article_from_row(r), bool(r["is_read"]), bool(r["starred"])) for r in found
            ]

    def set_editor_state(
        self,
        user_id: int,
        article_ids: Sequence[int],
        *,
        read: bool | None = None,
        starred: bool | None = None,
    ) -> int:
        """Set the flags given on those of ``article_ids`` that exist (any review state); how many."""
        changes = _flag_changes(read, starred)
        with self._read() as c:
            known = existing_ids(c, article_ids)
        with self._begin() as c:
            for chunk in _chunks(sorted(known), 500):
                _upsert_states(c, user_id, set(chunk), changes)
        return len(known)


def _conditions(where: ReviewFilter) -> list[ColumnElement[bool]]:
    a = t.articles
    out = shared_conditions(
        topic=where.topic,
        source_id=where.source_id,
        min_quality=where.min_quality,
        since=where.since,
        until=where.until,
    )
    if where.review_state is not None:
        out.append(a.c.review_state == where.review_state)
    if where.language is not None:
        out.append(or_(a.c.language == where.language, a.c.language.like(f"{where.language}-%")))
    if where.min_heat is not None:
        out.append(a.c.heat >= where.min_heat)
    out += flag_conditions(where.read, where.starred)
    return out


def _order(sort: str) -> list[Any]:
    a = t.articles
    return {
        "newest": [a.c.sort_at.desc(), a.c.id.desc()],
        "oldest": [a.c.sort_at.asc(), a.c.id.asc()],
        "quality": [a.c.quality.desc(), a.c.id.desc()],
        "heat": [a.c.heat.desc(), a.c.id.desc()],
    }[sort]
