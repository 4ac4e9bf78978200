"""The write rate limit: in-process token buckets, one per API token.

A bucket holds up to ``per_minute`` requests and refills continuously at ``per_minute`` a minute, so a
client may burst a minute's allowance and then proceeds at the steady rate. State lives in this process
only: with several server processes each keeps its own buckets (the limit is then per process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SECONDS_PER_MINUTE = 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """In-process token buckets, one per key. ``per_minute == 0`` turns limiting off."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / SECONDS_PER_MINUTE
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request for ``key``: 0.0 when allowed, else the seconds until one is available."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            at = self._clock()
            bucket = self._buckets.setdefault(key, _Bucket(self.capacity, at))
            bucket.tokens = min(self.capacity, bucket.tokens + (at - bucket.at) * self.refill_per_s)
            bucket.at = at
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.refill_per_s
