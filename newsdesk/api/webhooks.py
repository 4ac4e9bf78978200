"""Webhook endpoints (admin only): register, list and remove receivers, read the delivery log, redeliver.

A webhook's secret is in the answer to its creation and never again. Because every route here needs an
admin token, ``allowPrivate`` (the SSRF guard lifted for this one URL) can be set at creation; the
checks themselves (URL, event kinds) are the library's (:mod:`newsdesk.webhooks`), the same as the CLI's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import Field

from ..webhooks import EVENT_KINDS
from .params import MAX_ID, Ctx
from .problems import FieldInvalid
from .schemas import HTTP_URL, MAX_URL, Wire, when

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID, description="The webhook's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The delivery's id.")]
MAX_LOG = 200  # deliveries per answer, newest first


class WebhookCreate(Wire):
    url: str = Field(
        ..., min_length=1, max_length=MAX_URL, pattern=HTTP_URL, description="Absolute http(s) URL."
    )
    events: list[str] = Field(
        ..., min_length=1, max_length=len(EVENT_KINDS), description=f"Some of {', '.join(EVENT_KINDS)}."
    )
    allow_private: bool = Field(False, description="Let this URL reach private/loopback addresses.")


class WebhookOut(Wire):
    id: int
    url: str
    events: list[str]
    allow_private: bool
    created_at: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The HMAC key for X-Newsdesk-Signature; shown this once.")


class WebhookList(Wire):
    items: list[WebhookOut]


class DeliveryOut(Wire):
    id: int
    webhook_id: int
    event: str
    state: str = Field(description="pending | delivered | dead")
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str | None
    finished_at: str | None


class DeliveryList(Wire):
    items: list[DeliveryOut]


def _webhook(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": list(row["events"]),
        "allowPrivate": bool(row["allow_private"]),
        "createdAt": when(row["created_at"]),
    }


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "webhookId": row["webhook_id"],
        "event": row["event"],
        "state": row["state"],
        "attempts": row["attempts"],
        "nextAttemptAt": when(row["next_attempt_at"]),
        "lastStatus": row["last_status"],
        "lastError": row["last_error"],
        "createdAt": when(row["created_at"]),
        "finishedAt": when(row["finished_at"]),
    }


def list_webhooks(ctx: Ctx) -> dict[str, Any]:
    return {"items": [_webhook(w) for w in ctx.nd.webhooks.list()]}


def create_webhook(ctx: Ctx, body: WebhookCreate) -> dict[str, Any]:
    """Register a receiver; the answer holds its signing secret, shown this once."""
    unknown = [e for e in body.events if e not in EVENT_KINDS]
    if unknown:
        raise FieldInvalid(
            "events", f"unknown event {unknown[0]!r}; use some of {', '.join(EVENT_KINDS)}", "body"
        )
    hooks = ctx.nd.webhooks
    webhook_id, secret = hooks.add(body.url, body.events, allow_private=body.allow_private)
    return _webhook(hooks.get(webhook_id)) | {"secret": secret}


def delete_webhook(ctx: Ctx, webhook_id: WebhookId) -> dict[str, Any]:
    """Remove a webhook with its delivery log."""
    removed = _webhook(ctx.nd.webhooks.get(webhook_id))  # 404 for an unknown id
    ctx.nd.webhooks.remove(webhook_id)
    return removed


def list_deliveries(
    ctx: Ctx,
    webhook_id: WebhookId,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG)] = 50,
) -> dict[str, Any]:
    """A webhook's delivery log, newest first."""
    rows = ctx.nd.webhooks.deliveries(webhook_id=webhook_id, state=state, limit=limit)
    return {"items": [_delivery(d) for d in rows]}


def redeliver(ctx: Ctx, delivery_id: DeliveryId) -> dict[str, Any]:
    """Queue a delivery again (a dead one too), due now, its attempts counted anew."""
    return _delivery(ctx.nd.webhooks.redeliver(delivery_id))
