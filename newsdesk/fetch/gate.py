"""Politeness: how many requests run at once, and how closely they follow each other on one host.

Every request passes through :meth:`HostGate.slot`, which enforces, in this order:

1. at most ``per_host_concurrency`` requests in flight per host (an ``asyncio.Semaphore`` per host);
2. request *starts* on one host at least ``delay`` seconds apart (the larger of the policy delay and the
   site's robots.txt Crawl-delay), and none before a Retry-After deferral has run out;
3. at most ``concurrency`` requests in flight overall.

The global slot is taken last, so a request waiting out one host's spacing never blocks other hosts.
Start times are *reserved* synchronously (no await between reading and writing the schedule), so
concurrent requests to one host get distinct, correctly spaced start times.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from newsdesk.errors import FetchError


class HostGate:
    """Concurrency limits and start-time spacing, per host and overall."""

    def __init__(
        self,
        *,
        concurrency: int,
        per_host_concurrency: int,
        delay: float,
        max_defer_wait: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._global = asyncio.Semaphore(concurrency)
        self._per_host_concurrency = per_host_concurrency
        self._delay = delay
        self._max_defer_wait = max_defer_wait
        self._clock = clock
        self._sleep = sleep
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}

    def set_host_delay(self, host: str, seconds: float) -> None:
        """Space this host's starts at least ``seconds`` apart (never less than the policy delay)."""
        self._host_delay[host] = max(self._delay, seconds)

    def defer(self, host: str, seconds: float) -> None:
        """Start nothing on ``host`` for ``seconds`` (a Retry-After); deferrals only ever extend."""
        until = self._clock() + max(0.0, seconds)
        self._not_before[host] = max(self._not_before.get(host, 0.0), until)

    def deferred_for(self, host: str) -> float:
        """Seconds left on a Retry-After deferral of ``host`` (0 when none)."""
        return max(0.0, self._not_before.get(host, 0.0) - self._clock())

    def ready_in(self, host: str) -> float:
        """Seconds until a new request to ``host`` could start (ignoring concurrency limits)."""
        return max(self.deferred_for(host), self._next_start.get(host, 0.0) - self._clock())

    def reserve(self, host: str) -> float:
        """Book the next start time for ``host`` and return how long to wait for it."""
        now = self._clock()
        start = max(now, self._next_start.get(host, now), self._not_before.get(host, now))
        self._next_start[host] = start + self._host_delay.get(host, self._delay)
        return start - now

    def _check_deferral(self, host: str) -> None:
        """Fail fast instead of parking a caller for longer than ``max_defer_wait``."""
        left = self.deferred_for(host)
        if left > self._max_defer_wait:
            error = FetchError(f"{host} asked us to wait {left:.0f} s (Retry-After)", kind="deferred")
            error.retry_after = left
            raise error

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold a request slot for ``host`` for the duration of the ``async with`` block."""
        self._check_deferral(host)
        host_slot = self._host_slots.setdefault(host, asyncio.Semaphore(self._per_host_concurrency))
        async with host_slot:
            self._check_deferral(host)  # a Retry-After may have arrived while we queued
            wait = self.reserve(host)
            if wait > 0:
                await self._sleep(wait)
            async with self._global:
                yield
