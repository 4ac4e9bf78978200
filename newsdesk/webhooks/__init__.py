"""Webhooks: receivers registered by an admin get a signed POST for each event they subscribed to.

The facade here is what the CLI and the API call (add, list, remove, the delivery log, redelivery);
events are queued by :func:`newsdesk.events.emit` and sent by :mod:`.delivery`'s worker. The signature
scheme is in :mod:`.signing`; payloads, retries and the dead-letter state are in docs/webhooks.md.
"""

from __future__ import annotations

import builtins
import ipaddress
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import NewsdeskError
from ..events import EVENT_KINDS
from ..fetch import ssrf
from ..model import http_url_problem, now
from .delivery import Deliverer, DeliveryPolicy, DeliveryWorker
from .signing import HEADER, signature, verify

if TYPE_CHECKING:
    from ..app import Newsdesk

__all__ = [
    "EVENT_KINDS",
    "HEADER",
    "Deliverer",
    "DeliveryPolicy",
    "DeliveryWorker",
    "Webhooks",
    "signature",
    "verify",
]

MAX_URL_CHARS = 2048  # the column's width (store/tables.py)


def policy_from(nd: Newsdesk) -> DeliveryPolicy:
    s = nd.settings
    return DeliveryPolicy(
        max_attempts=s.webhook_max_attempts,
        retry_base_s=s.webhook_retry_base,
        timeout_s=s.webhook_timeout,
        user_agent=s.user_agent,
        allow_private_networks=s.allow_private_networks,
    )


class Webhooks:
    """Managing webhooks and their deliveries over one facade."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def add(self, url: str, events: Sequence[str], *, allow_private: bool = False) -> tuple[int, str]:
        """Register ``url`` for ``events``; (id, secret). The secret is shown this once."""
        check_url(url, allow_private or self.nd.settings.allow_private_networks)
        kinds = check_events(events)
        secret = "whsec_" + secrets.token_urlsafe(32)
        return self.nd.store.add_webhook(url, kinds, secret, allow_private=allow_private), secret

    def list(self) -> list[dict[str, Any]]:
        """Every webhook without its secret."""
        return [{k: v for k, v in w.items() if k != "secret"} for w in self.nd.store.list_webhooks()]

    def get(self, webhook_id: int) -> dict[str, Any]:
        return {k: v for k, v in self.nd.store.get_webhook(webhook_id).items() if k != "secret"}

    def remove(self, webhook_id: int) -> None:
        if not self.nd.store.remove_webhook(webhook_id):
            raise NewsdeskError(f"no such webhook: {webhook_id}")

    def deliveries(
        self, *, webhook_id: int | None = None, state: str | None = None, limit: int = 50
    ) -> builtins.list[dict[str, Any]]:
        if state is not None and state not in ("pending", "delivered", "dead"):
            raise NewsdeskError(f"state must be pending, delivered or dead, got {state!r}")
        if webhook_id is not None:
            self.nd.store.get_webhook(webhook_id)  # an unknown id is an error, not an empty log
        return self.nd.store.list_deliveries(webhook_id=webhook_id, state=state, limit=limit)

    def redeliver(self, delivery_id: int) -> dict[str, Any]:
        """Queue a delivery again (a dead one included), due now, with a fresh attempt count."""
        return self.nd.store.requeue_delivery(delivery_id, now())

    def deliverer(self) -> Deliverer:
        return Deliverer(lambda: self.nd.store, policy_from(self.nd))


def check_events(events: Sequence[str]) -> list[str]:
    """The event kinds, checked and without repeats; at least one."""
    kinds = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown or not kinds:
        raise NewsdeskError(
            f"events must be some of {', '.join(EVENT_KINDS)}; got {', '.join(events) or 'none'}"
        )
    return kinds


def check_url(url: str, allow_private: bool) -> None:
    """A webhook URL is an http(s) URL; an IP-literal host that the SSRF guard would refuse is refused
    now, with its reason (a host name is checked at connect time, on the addresses it resolves to)."""
    problem = (
        http_url_problem(url) if len(url) <= MAX_URL_CHARS else f"longer than {MAX_URL_CHARS} characters"
    )
    if problem:
        raise NewsdeskError(f"webhook URL {url[:200]!r}: {problem}")
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    reason = None if allow_private else ssrf.blocked_reason(host)
    if reason:
        raise NewsdeskError(f"webhook URL {url}: {reason} address; only an admin may allow private targets")
