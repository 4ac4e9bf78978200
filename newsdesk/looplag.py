"""How late an event loop runs its callbacks: the desk's own loop, probed while a cycle runs.

A loop that something blocks (a synchronous store call, a parse done on the loop) delays every fetch
in flight; at 500 feeds that showed as connect timeouts (issue 13). The API server probes its own loop
(``newsdesk.api.ops``); the desk's polls run on another loop, in the desk's thread, one per cycle, and
this is its probe: a short sleep, and how much later than asked it wakes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

PROBE_S = 0.1  # the probe's sleep: 10 wake-ups a second while a cycle runs, nothing in between

T = TypeVar("T")


class LagProbe:
    """The worst lateness seen since it was last taken (a scrape of ``/metrics`` takes it)."""

    def __init__(self, every_s: float = PROBE_S) -> None:
        self.every_s = every_s
        self._worst_s = 0.0
        self._lock = threading.Lock()  # the desk's thread writes, the API's thread takes

    async def around(self, work: Awaitable[T]) -> T:
        """Await ``work`` on the running loop with the probe running beside it."""
        probe = asyncio.create_task(self._watch())
        try:
            return await work
        finally:
            probe.cancel()

    def take_worst(self) -> float:
        with self._lock:
            worst, self._worst_s = self._worst_s, 0.0
        return worst

    async def _watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.every_s)
            late = max(0.0, time.perf_counter() - started - self.every_s)
            with self._lock:
                self._worst_s = max(self._worst_s, late)
