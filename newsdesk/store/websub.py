"""The store's WebSub side: one subscription row per feed source (see ``tables.websub_subscriptions``).

Rows are created when a source's feed is first looked at for hubs and changed by the subscriber
(``newsdesk.websub``) as the hub answers; a source removed takes its row with it (cascade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from ..model import now
from . import tables as t
from .base import StoreBase


class WebSubMixin(StoreBase):
    """Subscription rows, read and written one transaction per method, as everywhere in the store."""

    def websub_subscription(self, source_id: int) -> dict[str, Any] | None:
        with self._read() as c:
            row = c.execute(
                select(t.websub_subscriptions).where(t.websub_subscriptions.c.source_id == source_id)
            )
            found = row.mappings().first()
        return dict(found) if found else None

    def websub_by_key(self, callback_key: str) -> dict[str, Any] | None:
        """The subscription a callback URL names, or None (an unknown key is not ours to answer)."""
        w = t.websub_subscriptions
        with self._read() as c:
            found = c.execute(select(w).where(w.c.callback_key == callback_key)).mappings().first()
        return dict(found) if found else None

    def websub_subscriptions(self) -> list[dict[str, Any]]:
        with self._read() as c:
            query = select(t.websub_subscriptions).order_by(t.websub_subscriptions.c.id)
            return [dict(r) for r in c.execute(query).mappings()]

    def save_websub(self, source_id: int, **values: Any) -> None:
        """Create or change the source's subscription row with ``values`` (column names)."""
        w = t.websub_subscriptions
        with self._begin() as c:
            changed = c.execute(update(w).where(w.c.source_id == source_id).values(**values)).rowcount
            if not changed:
                c.execute(insert(w).values(source_id=source_id, pushes=0, **values))

    def websub_to_check(self, cutoffs: dict[str, datetime], limit: int) -> list[int]:
        """Ids of feed sources to look at (again): never looked at, or in a state of ``cutoffs`` and
        last looked at before that state's cutoff (a hub-less feed daily, a failed hub hourly, …)."""
        s, w = t.sources, t.websub_subscriptions
        stale = [and_(w.c.state == state, w.c.checked_at < before) for state, before in cutoffs.items()]
        query = (
            select(s.c.id)
            .select_from(s.outerjoin(w, w.c.source_id == s.c.id))
            .where(s.c.kind == "feed", or_(w.c.id.is_(None), *stale))
            .order_by(s.c.id)
            .limit(limit)
        )
        with self._read() as c:
            return [int(i) for i in c.execute(query).scalars()]

    def websub_expiring(self, before: datetime) -> list[dict[str, Any]]:
        """Active subscriptions whose lease ends before ``before``: the ones to renew now."""
        w = t.websub_subscriptions
        query = select(w).where(w.c.state == "active", w.c.lease_expires_at < before).order_by(w.c.id)
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def count_websub_push(self, subscription_id: int) -> None:
        w = t.websub_subscriptions
        with self._begin() as c:
            c.execute(
                update(w).where(w.c.id == subscription_id).values(pushes=w.c.pushes + 1, last_push_at=now())
            )
