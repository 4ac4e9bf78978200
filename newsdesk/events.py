"""Change events for the outside world: the one place an editorial decision, a new story or an alert
becomes webhook deliveries.

    editorial.py (publish/reject) ─┐
    finishing.py (publish rules) ──┼─► emit(store, kind, payload) ─► webhook_deliveries rows ─► worker
    enricher.py (a new story) ─────┤                                  (one per matching webhook)
    alerts (a saved search match) ─┘

``emit`` only writes rows, in one transaction, and never touches the network: the caller (an API request,
a pipeline stage) does not wait for a receiver. The body is fixed here, so every attempt and every
redelivery sends the same bytes (the signature is made per attempt, over a fresh timestamp).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from .model import now

if TYPE_CHECKING:
    from .model import Article
    from .store import Store

log = logging.getLogger(__name__)

EVENT_KINDS = ("publish", "reject", "story", "alert")
"""What a webhook can subscribe to: an article published, an article rejected, a new story, an alert."""


def emit(store: Store, kind: str, payload: dict[str, Any]) -> int:
    """Queue ``payload`` as event ``kind`` for every webhook that subscribed to it; how many were queued.

    The body is ``{"event": kind, "createdAt": ..., "data": payload}`` (docs/webhooks.md)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    targets = [w["id"] for w in store.list_webhooks() if kind in w["events"]]
    if not targets:
        return 0
    at = now()
    body = json.dumps(
        {"event": kind, "createdAt": at.isoformat().replace("+00:00", "Z"), "data": payload},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    store.queue_deliveries(kind, body, targets, at)
    log.info("event queued", extra={"event": kind, "webhooks": len(targets)})
    return len(targets)


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
