"""The store's topic counts: how many articles each topic holds, in all and per day.

Topic rows (``article_topics``, one per article and topic, ranked) are written with their article
(``articles.py``); this module only counts them (and names an article's, ``topics_of``), in SQL, for the API, the UI and ``/metrics``.
``published_only`` is the anonymous reader's view (see newsdesk.catalog.Audience).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, literal_column, select, true

from . import tables as t
from .base import StoreBase, _as_date, _chunks


class TopicsMixin(StoreBase):
    """Counts of articles per topic. Each is one query whatever the store holds."""

    def topic_counts(self) -> dict[str, int]:
        query = select(t.article_topics.c.topic, func.count()).group_by(t.article_topics.c.topic)
        with self._read() as c:
            return {str(topic): int(n) for topic, n in c.execute(query)}

    def topic_totals(self, *, published_only: bool = False) -> dict[str, int]:
        """Articles per topic (as :meth:`topic_counts`), only the published ones with ``published_only``:
        their ids come from the partial index ``ix_articles_published`` (``published = true``, spelt
        as the index is), not from a walk over every article row."""
        if not published_only:
            return self.topic_counts()
        at, a = t.article_topics, t.articles
        published = select(a.c.id).where(a.c.published == true())
        query = select(at.c.topic, func.count()).where(at.c.article_id.in_(published))
        with self._read() as c:
            return {str(topic): int(n) for topic, n in c.execute(query.group_by(at.c.topic))}

    def topic_totals_below(self, *, published_only: bool = False) -> tuple[dict[str, int], int]:
        """:meth:`topic_totals` and then the highest article id stored, read after them: no article
        above that id was counted (it did not exist yet), so a reader keeping the counts from the
        change log knows those articles count nothing in them (``newsdesk.tally``)."""
        counts = self.topic_totals(published_only=published_only)
        with self._read() as c:
            top = c.execute(select(func.max(t.articles.c.id))).scalar_one_or_none()
        return counts, int(top or 0)

    def counted_topics(
        self, ids: Sequence[int], *, published_only: bool = False
    ) -> dict[int, tuple[str, ...]]:
        """The topics each of ``ids`` adds to :meth:`topic_totals` now: its topics, for an article that
        exists (and is published, with ``published_only``); the others are left out."""
        at, a = t.article_topics, t.articles
        found: dict[int, tuple[str, ...]] = {}
        with self._read() as c:
            for chunk in _chunks(sorted(ids), 500):
                query = select(at.c.article_id, at.c.topic).where(at.c.article_id.in_(chunk))
                if published_only:
                    query = query.join(a, a.c.id == at.c.article_id).where(a.c.published.is_(True))
                for article_id, topic in c.execute(query):
                    found[int(article_id)] = (*found.get(int(article_id), ()), str(topic))
        return found

    def topics_of(self, ids: Sequence[int]) -> set[str]:
        """Every topic (ancestors included, as stored) of the articles ``ids``."""
        at = t.article_topics
        found: set[str] = set()
        with self._read() as c:
            for chunk in _chunks(sorted(ids), 500):
                found |= {str(x) for (x,) in c.execute(select(at.c.topic).where(at.c.article_id.in_(chunk)))}
        return found

    def topic_day_counts(
        self,
        since: datetime,
        until: datetime,
        *,
        topics: Sequence[str] | None = None,
        published_only: bool = False,
    ) -> list[tuple[str, date, int]]:
        """``(topic, UTC day, articles)`` for the articles whose ``sort_at`` (publication, else first
        sighting) is in ``[since, until)``, grouped by topic and day; days without articles are absent."""
        at, a = t.article_topics, t.articles
        day = self._utc_day(a.c.sort_at).label("day")
        query = (
            select(at.c.topic, day, func.count())
            .select_from(at.join(a, a.c.id == at.c.article_id))
            .where(a.c.sort_at >= since, a.c.sort_at < until)
        )
        if topics is not None:
            query = query.where(at.c.topic.in_(list(topics)))
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self._read() as c:
            found = c.execute(query.group_by(at.c.topic, day))
            return [(str(topic), _as_date(when), int(n)) for topic, when, n in found]

    def _utc_day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column. SQLite keeps UTC text (``YYYY-MM-DD HH:MM:SS``);
        PostgreSQL's ``timestamptz`` is shifted to UTC first so the session time zone cannot move a day.
        'UTC' is inlined, not bound: with server-side binding the SELECT and GROUP BY copies of a bound
        value are different parameters, and PostgreSQL would refuse the grouping."""
        if self.dialect == "sqlite":
            return func.date(column)
        return func.date(func.timezone(literal_column("'UTC'"), column))
