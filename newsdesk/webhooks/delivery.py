"""Sending webhook deliveries: one pass over what is due, and the thread that repeats it.

    webhook_deliveries (pending, due) ─► claim (lease) ─► POST, signed ─► 2xx: delivered
                                                                       └► else: pending again after a
                                                                          back-off, dead after N attempts

A pass (:meth:`Deliverer.deliver_due`) is what the worker thread runs every :data:`POLL_S` seconds and
what tests and ``newsdesk webhook deliver`` call directly. Requests go out through the fetcher's guarded
transport, so a webhook URL meets the same SSRF guard as a source: a private or loopback target is refused
at connect time unless the webhook was created with ``allow_private`` (admin only) or the
``allow_private_networks`` setting is on. Redirects are not followed (a 3xx is a failure).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..errors import NewsdeskError
from ..fetch import ssrf
from ..fetch.transport import CONNECT_RULES, ConnectRules, GuardedBackend, build_transport
from ..model import now
from ..store import Store
from .signing import HEADER, signature

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the worker looks for due deliveries: an event leaves within about a second
BATCH = 50  # deliveries per pass; the rest wait for the next pass
MAX_DELAY_S = 6 * 3600.0  # the back-off stops growing here (attempt 8 at the default base of 30 s ≈ 1 h)
CONCURRENCY = 4  # deliveries in flight at once; receivers are few and a slow one must not stall the rest


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How deliveries are sent (from the ``webhook_*`` settings)."""

    max_attempts: int = 8
    retry_base_s: float = 30.0
    timeout_s: float = 10.0
    user_agent: str = "newsdesk-webhooks"
    allow_private_networks: bool = False


def retry_delay(attempt: int, base_s: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: ``base * 2**(attempt-1)``, capped at :data:`MAX_DELAY_S`,
    with "equal jitter" (half fixed, half random) so receivers that fail together are not retried in
    lockstep."""
    ceiling = min(MAX_DELAY_S, base_s * 2.0 ** max(0, attempt - 1))
    spread: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + spread


class Deliverer:
    """Sends due deliveries for one store."""

    def __init__(self, store: Callable[[], Store], policy: DeliveryPolicy) -> None:
        self._store = store
        self.policy = policy

    async def deliver_due(self, at: datetime | None = None) -> dict[str, int]:
        """One pass: claim and send every delivery due at ``at`` (default now); counts by outcome."""
        at = at or now()
        store = self._store()
        counts = {"delivered": 0, "retry": 0, "dead": 0}
        due = [
            d
            for d in store.due_deliveries(at, BATCH)
            if store.claim_delivery(d["id"], d["next_attempt_at"], at + self._lease())
        ]
        if not due:
            return counts
        limit = asyncio.Semaphore(CONCURRENCY)
        async with self._client() as client:

            async def one(delivery: dict[str, Any]) -> None:
                async with limit:
                    counts[await self._attempt(client, store, delivery)] += 1

            await asyncio.gather(*(one(d) for d in due))
        return counts

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.policy.timeout_s * 2 + 30)

    def _client(self) -> httpx.AsyncClient:
        backend = GuardedBackend({}, ssrf.system_resolver)
        transport = build_transport(concurrency=CONCURRENCY, http2=False, backend=backend)
        timeout = httpx.Timeout(self.policy.timeout_s)
        return httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
        )

    async def _attempt(self, client: httpx.AsyncClient, store: Store, delivery: dict[str, Any]) -> str:
        status, error = await self._post(client, delivery)
        attempts = int(delivery["attempts"]) + 1
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", now()
        elif attempts >= self.policy.max_attempts:
            outcome, next_at = "dead", now()
        else:
            delay = retry_delay(attempts, self.policy.retry_base_s)
            outcome, next_at = "retry", now() + timedelta(seconds=round(delay))
        state = "pending" if outcome == "retry" else outcome
        store.record_attempt(delivery["id"], state=state, status=status, error=error, next_at=next_at)
        log.info(
            "webhook attempt", extra={"delivery_id": delivery["id"], "status": status, "outcome": outcome}
        )
        return outcome

    async def _post(
        self, client: httpx.AsyncClient, delivery: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        """POST the delivery once; (HTTP status, error text) — the status is None when none came back."""
        body = str(delivery["body"]).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.policy.user_agent,
            "X-Newsdesk-Event": str(delivery["event"]),
            "X-Newsdesk-Delivery": str(delivery["id"]),
            HEADER: signature(str(delivery["secret"]), int(time.time()), body),
        }
        rules = ConnectRules(
            allow_private=bool(delivery["allow_private"]) or self.policy.allow_private_networks, allowed=()
        )
        token = CONNECT_RULES.set(rules)
        try:
            async with client.stream("POST", str(delivery["url"]), content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.TimeoutException:
            return None, f"timed out after {self.policy.timeout_s:g} s"
        except (httpx.HTTPError, NewsdeskError, OSError) as e:
            return None, str(e) or type(e).__name__
        finally:
            CONNECT_RULES.reset(token)
        return status, None if 200 <= status < 300 else f"HTTP {status}"


class DeliveryWorker:
    """A daemon thread running :meth:`Deliverer.deliver_due` every :data:`POLL_S` seconds until
    :meth:`stop` — off the request path, with its own event loop."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._main, name="newsdesk-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        while not self._stopping.is_set():
            sent = 0
            try:
                sent = sum(asyncio.run(self.deliverer.deliver_due()).values())
            except NewsdeskError as error:  # the database was away: try again next turn
                log.warning("webhook pass failed", extra={"error": str(error)})
            except Exception:  # the worker must outlive any one bad pass
                log.exception("webhook pass crashed")
            if sent < BATCH:  # a full batch means a backlog: go on at once
                self._stopping.wait(POLL_S)
