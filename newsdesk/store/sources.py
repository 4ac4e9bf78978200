"""The store's sources: the feeds and pages newsdesk polls, their settings and their poll health.

A source is keyed on its URL. Its settings change only through :meth:`SourcesMixin.update_source`, which
is also where the loopback rule is enforced; its health only through :meth:`SourcesMixin.save_health`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, or_, select, update

from ..errors import StorageError
from ..model import Source, SourceHealth, now
from . import rows
from . import tables as t
from .base import StoreBase, _inserted_id


@dataclass(frozen=True, slots=True)
class HealthUpdate:
    """One poll's outcome, as :meth:`SourcesMixin.save_healths` writes it. ``feed_title`` (what a
    successful poll read from the feed) becomes the source's name unless a person chose that name."""

    source_id: int
    health: SourceHealth
    feed_title: str | None = None


_s = t.sources.c
_HEALTH_COLUMNS = tuple(rows.health_row(SourceHealth()))
# Built once: a statement made per call paid its construction and cache-key cost for every source.
_WRITE_HEALTH = (
    update(t.sources)
    .where(_s.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _HEALTH_COLUMNS})
)
_WRITE_STAND_IN_NAME = (
    update(t.sources)
    .where(
        _s.id == bindparam("b_id"),
        _s.name_given.is_(False),
        or_(_s.name.is_(None), _s.name != bindparam("b_name")),
    )
    .values(name=bindparam("b_name"))
)


class SourcesMixin(StoreBase):
    """Sources and their poll health. A method here is one transaction, as everywhere."""

    def add_source(self, source: Source) -> Source:
        """Insert a new source; a source with the same URL is a :class:`StorageError`."""
        with self._begin() as c:
            if c.execute(select(t.sources.c.id).where(t.sources.c.url == source.url)).first():
                raise StorageError(f"source already exists: {source.url}")
            row = rows.source_row(source) | {"created_at": now(), "error_count": 0}
            new_id = _inserted_id(c.execute(insert(t.sources).values(**row)))
        return self.get_source(int(new_id))

    def update_source(self, source_id: int, source: Source, *, grant_loopback: bool = False) -> Source:
        """Replace a source's settings with ``source``'s (its poll health is left alone).

        THE place the loopback rule is enforced (docs/design.md, "Authorisation"): ``allow_loopback``
        lifts the SSRF guard for one address, so it is kept only while the source keeps pointing
        there. It survives an update that leaves ``url`` and ``kind`` as stored, and is cleared by one
        that moves the source — unless the caller ``grant_loopback`` (an admin token at the API; the
        operator at the CLI), which is also the only way to turn it on. The check runs inside the
        UPDATE itself, against the stored row, so no read-then-write race can carry the flag over.
        """
        values = rows.source_row(source) | {"allow_loopback": _loopback_after(source, grant_loopback)}
        with self._begin() as c:
            c.execute(update(t.sources).where(t.sources.c.id == source_id).values(**values))
        return self.get_source(source_id)

    def get_source(self, key: int | str) -> Source:
        column = t.sources.c.id if isinstance(key, int) else t.sources.c.url
        with self._read() as c:
            row = c.execute(select(t.sources).where(column == key)).mappings().first()
        if row is None:
            raise StorageError(f"no such source: {key}")
        return rows.source_from_row(row)

    def list_sources(self) -> list[Source]:
        with self._read() as c:
            result = c.execute(select(t.sources).order_by(t.sources.c.id)).mappings()
            return [rows.source_from_row(r) for r in result]

    def remove_source(self, key: int | str) -> Source:
        source = self.get_source(key)
        with self._begin() as c:
            c.execute(delete(t.sources).where(t.sources.c.id == source.id))
        return source

    def save_health(self, source_id: int, health: SourceHealth, *, feed_title: str | None = None) -> None:
        """Record a poll's outcome (see :meth:`save_healths`)."""
        self.save_healths([HealthUpdate(source_id, health, feed_title)])

    def save_healths(self, updates: Sequence[HealthUpdate]) -> None:
        """Record many polls' outcomes in one transaction of one prepared statement run for many rows:
        a transaction per source cost a poll cycle more than the 304s it recorded. A feed's title becomes
        its source's name unless a person chose that name (``name_given``), in the same transaction."""
        if not updates:
            return
        health = [
            {"b_id": u.source_id, **{f"b_{k}": v for k, v in rows.health_row(u.health).items()}}
            for u in updates
        ]
        names = [
            {"b_id": u.source_id, "b_name": title} for u in updates if (title := stand_in_name(u.feed_title))
        ]
        with self._begin() as c:
            c.execute(_WRITE_HEALTH, health)
            if names:
                c.execute(_WRITE_STAND_IN_NAME, names)

    def due_sources(self, at: datetime) -> list[Source]:
        """Sources whose next poll is due (or that were never polled); a paused source never is."""
        due = or_(t.sources.c.next_poll_at.is_(None), t.sources.c.next_poll_at <= at)
        due = and_(due, t.sources.c.paused.is_(False))
        with self._read() as c:
            result = c.execute(select(t.sources).where(due).order_by(t.sources.c.id)).mappings()
            return [rows.source_from_row(r) for r in result]

    def poll_soon(self, source_id: int, at: datetime) -> Source:
        """Make a source due at ``at`` ("poll now"); its validators and back-off history stay."""
        with self._begin() as c:
            done = c.execute(update(t.sources).where(t.sources.c.id == source_id).values(next_poll_at=at))
            if not done.rowcount:
                raise StorageError(f"no such source: {source_id}")
        return self.get_source(source_id)

    def sources_stamp(self) -> tuple[Any, ...]:
        """A value that moves when any source's health or settings could read differently (the live
        sources page compares it): how many there are and the latest poll."""
        query = select(func.count(), func.max(t.sources.c.last_polled_at), func.max(t.sources.c.next_poll_at))
        with self._read() as c:
            return tuple(c.execute(query).one())


def _loopback_after(source: Source, grant: bool) -> ColumnElement[bool] | bool:
    """The ``allow_loopback`` an update of ``source`` writes (see :meth:`Store.update_source`): off unless
    asked for; on when granted; otherwise as stored, and only while URL and kind stay as stored."""
    if not source.allow_loopback:
        return False
    if grant:
        return True
    s = t.sources.c
    return and_(s.allow_loopback, s.url == source.url, s.kind == source.kind.value)


def stand_in_name(feed_title: str | None) -> str:
    """A feed's title as a source name: whitespace collapsed, cut to the column's width."""
    return " ".join((feed_title or "").split())[: t.SOURCE_NAME_CHARS]
