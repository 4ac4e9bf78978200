"""Webhooks from the command line: register receivers, read the delivery log, redeliver, send what is due.

The operator at the CLI is trusted like an admin token: ``--allow-private`` lifts the SSRF guard for one
webhook URL (a receiver on the LAN or this machine).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ..webhooks import EVENT_KINDS
from .base import ConfigOpt, JsonOpt, app, clean_errors, desk, emit, out, show_rows

webhook_app = typer.Typer(
    no_args_is_help=True, help="Webhooks: signed POSTs on publish, reject, story, alert."
)


app.add_typer(webhook_app, name="webhook")

DELIVERY_COLUMNS = (
    "id",
    "webhook_id",
    "event",
    "state",
    "attempts",
    "last_status",
    "last_error",
    "next_attempt_at",
)


@webhook_app.command("add")
@clean_errors
def webhook_add(
    url: str,
    events: Annotated[str, typer.Option(help=f"Comma-separated: {','.join(EVENT_KINDS)}")] = ",".join(
        EVENT_KINDS
    ),
    allow_private: Annotated[
        bool, typer.Option(help="Let this URL reach private/loopback addresses.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register URL; prints its signing secret (shown once)."""
    with desk(config) as nd:
        webhook_id, secret = nd.webhooks.add(url, events.split(","), allow_private=allow_private)
    if not emit({"id": webhook_id, "url": url, "secret": secret}, as_json):
        out.print(f"webhook {webhook_id}: {url}\nsecret (shown once): {secret}", highlight=False)


@webhook_app.command("list")
@clean_errors
def webhook_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Webhooks and the events each receives (secrets are never shown again)."""
    with desk(config) as nd:
        rows = nd.webhooks.list()
    show_rows(rows, ("id", "url", "events", "allow_private", "created_at"), as_json)


@webhook_app.command("remove")
@clean_errors
def webhook_remove(webhook_id: int, config: ConfigOpt = None) -> None:
    """Remove a webhook and its delivery log."""
    with desk(config) as nd:
        nd.webhooks.remove(webhook_id)
    out.print(f"webhook {webhook_id}: removed", highlight=False)


@webhook_app.command("deliveries")
@clean_errors
def webhook_deliveries(
    webhook: Annotated[int | None, typer.Option(help="Only this webhook's deliveries.")] = None,
    state: Annotated[str | None, typer.Option(help="pending, delivered or dead")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The delivery log, newest first."""
    with desk(config) as nd:
        rows = nd.webhooks.deliveries(webhook_id=webhook, state=state, limit=limit)
    show_rows(rows, DELIVERY_COLUMNS, as_json)


@webhook_app.command("redeliver")
@clean_errors
def webhook_redeliver(delivery_id: int, config: ConfigOpt = None) -> None:
    """Queue a delivery again (a dead one too); the worker (or `webhook deliver`) sends it."""
    with desk(config) as nd:
        nd.webhooks.redeliver(delivery_id)
    out.print(f"delivery {delivery_id}: queued again", highlight=False)


@webhook_app.command("deliver")
@clean_errors
def webhook_deliver(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Send every delivery that is due now, once (for cron; `serve` does it continuously)."""
    with desk(config) as nd:
        counts = asyncio.run(nd.webhooks.deliverer().deliver_due())
    if not emit(counts, as_json):
        out.print(", ".join(f"{k}: {v}" for k, v in counts.items()), highlight=False)
