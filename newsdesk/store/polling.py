"""The store's side of a poll cycle: what it writes for every source, and how the later stages find
their work, each costing in proportion to what changed (issue 13).

- A cycle's health updates are written in batches, each batch one transaction of one prepared statement
  run for many rows: a transaction per source cost more than the 304 it recorded.
- The stages after ingestion (rules, alerts, images) take the articles stored since they last ran: the
  ``finished_through`` mark in ``meta`` is the highest article id they have seen, so "what is new since"
  is a range on the primary key, never a scan of all articles. With enrichment on, the articles not
  enriched yet are pending too (the partial index ``ix_articles_unenriched``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select, update

from ..model import SourceHealth
from . import rows
from . import tables as t
from .base import StoreBase

FINISHED_THROUGH = "finished_through"  # meta key: the highest article id the later stages have seen


@dataclass(frozen=True, slots=True)
class HealthUpdate:
    """One poll's outcome, as :meth:`PollingMixin.save_healths` writes it. ``feed_title`` (what a
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

_OWN_CANONICAL = select(t.articles.c.canonical_url).where(
    t.articles.c.source_id == bindparam("source_id"),
    t.articles.c.canonical_url.in_(bindparam("urls", expanding=True)),
)
URL_BATCH = 300  # URLs per query, as Store.known_urls


class PollingMixin(StoreBase):
    """Batched health writes and the "changed since" look-ups of a poll cycle."""

    def save_healths(self, updates: Sequence[HealthUpdate]) -> None:
        """Record many polls' outcomes in one transaction (as :meth:`Store.save_health` does one)."""
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

    def pending_ids(self, *, unenriched: bool) -> list[int]:
        """The articles the stages after ingestion have not seen: those stored since the last
        :meth:`mark_finished_through`, and with ``unenriched`` (enrichment on) those not enriched yet,
        by id. Each is an index range (the primary key, ``ix_articles_unenriched``): a store of a
        million articles costs what ten do."""
        a = t.articles.c
        since = int(self.get_meta(FINISHED_THROUGH, 0) or 0)
        wanted = [a.id > since, a.enriched_at.is_(None)] if unenriched else [a.id > since]
        with self.engine.connect() as c:
            found = {int(i) for where in wanted for (i,) in c.execute(select(a.id).where(where))}
        return sorted(found)

    def mark_finished_through(self, article_id: int) -> None:
        """The later stages have seen every article up to ``article_id``; the mark never moves back."""
        if article_id > int(self.get_meta(FINISHED_THROUGH, 0) or 0):
            self.set_meta(FINISHED_THROUGH, article_id)

    def own_canonical_urls(self, source_id: int | None, urls: Sequence[str]) -> set[str]:
        """Those of ``urls`` that are the canonical URL of an article of ``source_id``: a poll's entries
        seen again, checked in one query per :data:`URL_BATCH` instead of loading each article."""
        wanted, found = sorted(set(urls)), set[str]()
        with self.engine.connect() as c:
            for start in range(0, len(wanted), URL_BATCH):
                batch = {"source_id": source_id, "urls": wanted[start : start + URL_BATCH]}
                found.update(url for (url,) in c.execute(_OWN_CANONICAL, batch))
        return found

    def has_clear_texts(self) -> bool:
        """Whether any article holds its text in the clear (the sealing stage's leftovers; one probe
        of the partial index ``ix_articles_clear_text``)."""
        with self.engine.connect() as c:
            query = select(t.articles.c.id).where(t.articles.c.text.is_not(None)).limit(1)
            return c.execute(query).first() is not None

    if TYPE_CHECKING:  # ReadModels' (mixed into the same Store)

        def get_meta(self, key: str, default: Any = None) -> Any: ...

        def set_meta(self, key: str, value: Any) -> None: ...


def stand_in_name(feed_title: str | None) -> str:
    """A feed's title as a source name: whitespace collapsed, cut to the column's width."""
    return " ".join((feed_title or "").split())[: t.SOURCE_NAME_CHARS]
