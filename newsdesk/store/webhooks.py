"""The store's webhook side: webhooks and their delivery log (the durable queue the worker drains).

A delivery is a row from the moment its event is emitted until it is delivered or dead, so one queued
before a restart is sent after it. The worker claims a due row with a compare-and-set on
``next_attempt_at`` that also pushes it a lease into the future: two workers never send the same attempt,
and a worker killed mid-send leaves the row to be retried once the lease is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..errors import StorageError
from ..model import now
from . import tables as t
from .base import StoreBase, _inserted_id

DELIVERY_STATES = ("pending", "delivered", "dead")


class WebhooksMixin(StoreBase):
    """Webhooks and deliveries. A method here is one transaction, as everywhere."""

    def add_webhook(self, url: str, events: Sequence[str], secret: str, *, allow_private: bool) -> int:
        values = {
            "url": url,
            "events": list(events),
            "secret": secret,
            "allow_private": allow_private,
            "created_at": now(),
        }
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.webhooks).values(**values)))

    def list_webhooks(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(t.webhooks).order_by(t.webhooks.c.id)).mappings()]

    def get_webhook(self, webhook_id: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such webhook: {webhook_id}")
        return dict(row)

    def remove_webhook(self, webhook_id: int) -> bool:
        """Remove a webhook and its delivery log (explicitly: SQLite may run without FK cascade)."""
        with self._begin() as c:
            d = t.webhook_deliveries
            c.execute(delete(d).where(d.c.webhook_id == webhook_id))
            return bool(c.execute(delete(t.webhooks).where(t.webhooks.c.id == webhook_id)).rowcount)

    def queue_deliveries(self, event: str, body: str, webhook_ids: Sequence[int], at: datetime) -> list[int]:
        """One pending delivery of ``body`` per webhook, due at ``at``, all in one transaction."""
        ids = []
        with self._begin() as c:
            for webhook_id in webhook_ids:
                values = {
                    "webhook_id": webhook_id,
                    "event": event,
                    "body": body,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": at,
                }
                ids.append(_inserted_id(c.execute(insert(t.webhook_deliveries).values(**values))))
        return ids

    def due_deliveries(self, at: datetime, limit: int) -> list[dict[str, Any]]:
        """Pending deliveries due at ``at``, oldest first, each with its webhook's URL, secret and flag."""
        d, w = t.webhook_deliveries, t.webhooks
        query = (
            select(d, w.c.url, w.c.secret, w.c.allow_private)
            .join(w, w.c.id == d.c.webhook_id)
            .where(d.c.state == "pending", d.c.next_attempt_at <= at)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def claim_delivery(self, delivery_id: int, expect_next: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for one attempt (compare-and-set); False when another worker has it."""
        d = t.webhook_deliveries
        with self._begin() as c:
            done = c.execute(
                update(d)
                .where(d.c.id == delivery_id, d.c.state == "pending", d.c.next_attempt_at == expect_next)
                .values(next_attempt_at=lease_until)
            )
        return bool(done.rowcount)

    def record_attempt(
        self, delivery_id: int, *, state: str, status: int | None, error: str | None, next_at: datetime
    ) -> None:
        """The outcome of one attempt: delivered, dead, or pending again from ``next_at``."""
        d = t.webhook_deliveries
        finished = now() if state != "pending" else None
        values = {
            "state": state,
            "attempts": d.c.attempts + 1,
            "last_status": status,
            "last_error": error,
            "next_attempt_at": next_at,
            "finished_at": finished,
        }
        with self._begin() as c:
            c.execute(update(d).where(d.c.id == delivery_id).values(**values))

    def list_deliveries(
        self, *, webhook_id: int | None = None, state: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The delivery log, newest first."""
        d = t.webhook_deliveries
        query = select(d).order_by(d.c.id.desc()).limit(limit)
        if webhook_id is not None:
            query = query.where(d.c.webhook_id == webhook_id)
        if state is not None:
            query = query.where(d.c.state == state)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def get_delivery(self, delivery_id: int) -> dict[str, Any]:
        d = t.webhook_deliveries
        with self.engine.connect() as c:
            row = c.execute(select(d).where(d.c.id == delivery_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such delivery: {delivery_id}")
        return dict(row)

    def requeue_delivery(self, delivery_id: int, at: datetime) -> dict[str, Any]:
        """Send a delivery again by hand (any state): pending, due at ``at``, its attempts counted anew."""
        d = t.webhook_deliveries
        self.get_delivery(delivery_id)  # raises for an unknown id
        values = {"state": "pending", "attempts": 0, "next_attempt_at": at, "finished_at": None}
        with self._begin() as c:
            c.execute(update(d).where(d.c.id == delivery_id).values(**values))
        return self.get_delivery(delivery_id)
