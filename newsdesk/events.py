"""Change events for the outside world: the one place an editorial decision, a new story or an alert
becomes webhook deliveries.

    editorial.py (publish/reject) ─┐   event(kind, payload)   the store method that makes the change
    finishing.py (publish rules) ──┼─► ───────────────────► ─► writes it AND its webhook_deliveries rows
    enricher.py (a new story) ─────┤                            in ONE transaction ─► worker sends them
    alerts (a saved search match) ─┘

The deliveries table is a transactional outbox: a change and the deliveries announcing it commit
together or not at all, so a crash right after a decision cannot lose its event, and a change that
rolled back never announces itself. Nothing here touches the network: the caller (an API request, a
pipeline stage) does not wait for a receiver. The body is fixed when the event is made, so every attempt
and every redelivery sends the same bytes (the signature is made per attempt, over a fresh timestamp).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .model import now

if TYPE_CHECKING:
    from .model import Article
    from .store import Store

log = logging.getLogger(__name__)

EVENT_KINDS = ("publish", "reject", "story", "alert")
"""What a webhook can subscribe to: an article published, an article rejected, a new story, an alert."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event, ready for the outbox: its kind, the exact body every delivery of it sends, and when
    it happened. A store method that makes a change takes one and queues it in the same transaction."""

    kind: str
    body: str
    at: datetime


def event(kind: str, payload: dict[str, Any]) -> Event:
    """Event ``kind`` carrying ``payload``: the body is ``{"event": kind, "createdAt": ..., "data":
    payload}`` (docs/webhooks.md)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    at = now()
    body = json.dumps(
        {"event": kind, "createdAt": at.isoformat().replace("+00:00", "Z"), "data": payload},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    return Event(kind, body, at)


def emit(store: Store, kind: str, payload: dict[str, Any]) -> int:
    """Queue ``payload`` as event ``kind`` on its own, for an event no change of ours causes (a test, a
    replay); how many deliveries were queued. A change queues its event with itself instead."""
    queued = len(store.queue_event(event(kind, payload)))
    log.info("event queued", extra={"event": kind, "webhooks": queued})
    return queued


def article_payload(article: Article) -> dict[str, Any]:
    """The part of a record an event carries: enough to act on without another request."""
    return {
        "id": article.id,
        "title": article.title,
        "webUrl": article.web_url,
        "provider": {"name": article.provider.name, "domain": article.provider.domain},
        "topics": list(article.topics),
        "quality": article.quality,
        "heat": article.heat,
        "published": article.published,
    }
