"""The store's webhook side: webhooks and their delivery log (the durable queue the worker drains).

A delivery is a row from the moment its event is emitted until it is delivered or dead, so one queued
before a restart is sent after it. The table is the outbox: :func:`queue_event_rows` works on the caller's
connection, so the store method that makes a change (a decision, a new story, an alert) writes the rows
announcing it in the same transaction — both commit or neither does. The worker claims a due row with a compare-and-set on
``next_attempt_at`` that also pushes it a lease into the future: two workers never send the same attempt,
and a worker killed mid-send leaves the row to be retried once the lease is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from ..errors import StorageError
from ..model import now
from . import tables as t
from .base import StoreBase, _inserted_id

if TYPE_CHECKING:
    from ..events import Event

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
        with self._read() as c:
            return [dict(r) for r in c.execute(select(t.webhooks).order_by(t.webhooks.c.id)).mappings()]

    def get_webhook(self, webhook_id: int) -> dict[str, Any]:
        with self._read() as c:
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

    def queue_event(self, event: Event) -> list[int]:
        """Queue an event that no change of the store's causes, in a transaction of its own."""
        with self._begin() as c:
            return queue_event_rows(c, event)

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
        with self._read() as c:
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
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def get_delivery(self, delivery_id: int) -> dict[str, Any]:
        d = t.webhook_deliveries
        with self._read() as c:
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


def queue_event_rows(c: Connection, event: Event) -> list[int]:
    """On the caller's connection (its transaction): one pending delivery of ``event``, due now, per
    webhook that subscribed to its kind; the delivery ids. The webhooks are read in the same
    transaction, so a webhook removed before the commit gets nothing."""
    hooks = c.execute(select(t.webhooks.c.id, t.webhooks.c.events).order_by(t.webhooks.c.id)).all()
    ids = []
    for webhook_id, kinds in hooks:
        if event.kind in kinds:
            values = {
                "webhook_id": webhook_id,
                "event": event.kind,
                "body": event.body,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": event.at,
                "created_at": event.at,
            }
            ids.append(_inserted_id(c.execute(insert(t.webhook_deliveries).values(**values))))
    return ids
