"""The store's alert side: editors' saved searches, the alerts their new matches become, and what each
email digest has carried.

An alert is unique per (saved search, article): matching the same article twice (a run that is resumed,
two workers) adds nothing. ``seen_at`` is the editor's, ``mailed_at`` the digest's; neither touches the
other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from ..errors import StorageError
from ..model import now
from . import search
from . import tables as t
from .base import StoreBase, _chunks, _dialect_insert, _inserted_id
from .webhooks import queue_event_rows

if TYPE_CHECKING:
    from ..events import Event


class AlertsMixin(StoreBase):
    """Saved searches and alerts. A method here is one transaction, as everywhere."""

    def add_saved_search(
        self, user_id: int, name: str, query: dict[str, Any], *, digest: str, email: str | None
    ) -> int:
        values = {
            "user_id": user_id,
            "name": name,
            "query": query,
            "digest": digest,
            "email": email,
            "created_at": now(),
        }
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.saved_searches).values(**values)))

    def list_saved_searches(self, *, user_id: int | None = None) -> list[dict[str, Any]]:
        s, u = t.saved_searches, t.users
        query = select(s, u.c.name.label("user")).join(u, u.c.id == s.c.user_id).order_by(s.c.id)
        if user_id is not None:
            query = query.where(s.c.user_id == user_id)
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def get_saved_search(self, search_id: int) -> dict[str, Any]:
        found = [s for s in self.list_saved_searches() if s["id"] == search_id]
        if not found:
            raise StorageError(f"no such saved search: {search_id}")
        return found[0]

    def remove_saved_search(self, search_id: int) -> bool:
        with self._begin() as c:
            c.execute(delete(t.alerts).where(t.alerts.c.search_id == search_id))
            return bool(
                c.execute(delete(t.saved_searches).where(t.saved_searches.c.id == search_id)).rowcount
            )

    def set_digest(self, search_id: int, digest: str) -> bool:
        s = t.saved_searches
        with self._begin() as c:
            return bool(c.execute(update(s).where(s.c.id == search_id).values(digest=digest)).rowcount)

    def text_matches(self, q: str, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` the full-text query ``q`` matches."""
        found: set[int] = set()
        with self._read() as c:
            for chunk in _chunks(list(ids), 500):
                found |= search.among_ids(c, q, chunk)
        return found

    def add_alerts(
        self,
        search_id: int,
        article_ids: Sequence[int],
        at: datetime,
        *,
        event: Callable[[int, int], Event] | None = None,
    ) -> list[tuple[int, int]]:
        """An alert per article not alerted for this search yet; (alert id, article id) of the new ones.
        ``event`` (given both ids) is each new alert's webhook event, queued in the same transaction."""
        a = t.alerts
        with self._begin() as c:
            known = set(
                c.execute(
                    select(a.c.article_id).where(
                        a.c.search_id == search_id, a.c.article_id.in_(list(article_ids))
                    )
                ).scalars()
            )
            fresh = [i for i in dict.fromkeys(article_ids) if i not in known]
            new = [
                (alert_id, i) for i in fresh if (alert_id := _add_alert(c, self.dialect, search_id, i, at))
            ]
            for alert_id, article_id in new:
                if event is not None:
                    queue_event_rows(c, event(alert_id, article_id))
            return new

    def list_alerts(
        self,
        *,
        search_id: int | None = None,
        user_id: int | None = None,
        unseen: bool = False,
        unmailed: bool = False,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first, each with its search's name and the article's title, URL and scores."""
        a, s, ar = t.alerts, t.saved_searches, t.articles
        query = (
            select(
                a,
                s.c.name.label("search"),
                s.c.user_id,
                ar.c.title,
                ar.c.canonical_url.label("web_url"),
                ar.c.excerpt,
                ar.c.quality,
                ar.c.heat,
                ar.c.provider_domain,
            )
            .join(s, s.c.id == a.c.search_id)
            .join(ar, ar.c.id == a.c.article_id)
            .order_by(a.c.id.desc())
            .limit(limit)
        )
        conditions = [
            (search_id is not None, a.c.search_id == search_id),
            (user_id is not None, s.c.user_id == user_id),
            (unseen, a.c.seen_at.is_(None)),
            (unmailed, a.c.mailed_at.is_(None)),
        ]
        for wanted, condition in conditions:
            if wanted:
                query = query.where(condition)
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def mark_alerts(self, alert_ids: Sequence[int], column: str, at: datetime) -> int:
        """Set ``seen_at`` or ``mailed_at`` on the alerts that do not have it yet; how many changed."""
        a = t.alerts
        target = a.c[column]
        with self._begin() as c:
            done = c.execute(
                update(a).where(a.c.id.in_(list(alert_ids)), target.is_(None)).values({column: at})
            )
        return int(done.rowcount)

    def finish_digest(self, search_id: int, alert_ids: Sequence[int], at: datetime) -> None:
        """A digest went out: its alerts are mailed and the search's clock restarts, in one transaction."""
        a, s = t.alerts, t.saved_searches
        with self._begin() as c:
            if alert_ids:
                c.execute(update(a).where(a.c.id.in_(list(alert_ids))).values(mailed_at=at))
            c.execute(update(s).where(s.c.id == search_id).values(last_digest_at=at))


def _add_alert(c: Connection, dialect: str, search_id: int, article_id: int, at: datetime) -> int | None:
    """The new alert's id, or None when another finisher stored it first (two at once: the desk and a
    cron run, two workers): the unique key decides, and only the one that inserted queues its event."""
    row = {"search_id": search_id, "article_id": article_id, "created_at": at}
    statement = _dialect_insert(dialect)(t.alerts).values(**row).on_conflict_do_nothing()
    return c.execute(statement.returning(t.alerts.c.id)).scalar()
