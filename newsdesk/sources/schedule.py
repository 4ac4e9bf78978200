"""Adaptive polling: how long to wait before polling a source again. Pure: no clock, no I/O.

The interval, in seconds, is decided in this order (each later step can only lengthen it):

1. **Failing** (``error_count > 0``): exponential back-off ``min_s * BACKOFF_BASE ** error_count``,
   capped at ``max_s``, then shortened by up to ``BACKOFF_JITTER`` of itself by the caller's random
   ``jitter`` (never below ``min_s``). The publishing rate does not matter while the source is down.
2. **Healthy**: follow the publishing rate. Take the ``RECENT_ENTRIES`` newest entry times (future
   times clipped to ``now``), the median gap between consecutive ones ``g`` and the silence since the
   newest ``s``; interval = ``max(GAP_FACTOR * g, SILENCE_FACTOR * s)``, clamped to ``[min_s, max_s]``.
   Fewer than two distinct times say nothing about the rate: use ``sqrt(min_s * max_s)``, the middle
   of the range on the log scale on which polling intervals live.
3. **Publisher hints**: never poll more often than RSS ``<ttl>`` (minutes) or HTTP ``Cache-Control:
   max-age`` (seconds) allow: interval = ``max(interval, min(hint, HINT_CEILING_S))``.
4. **Retry-After**: the server's explicit wait is honoured: ``max(interval, min(retry_after,
   RETRY_AFTER_CEILING_S))``.

Hints and Retry-After may push the interval past ``max_s`` (politeness beats freshness), but never past
their ceilings, so a bogus header cannot park a source for weeks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime

from newsdesk.errors import SettingsError

RECENT_ENTRIES = 10
"""Only the newest entries describe the current rate; ten gaps are enough for a stable median and
follow a change of rhythm within a day on an hourly source."""

GAP_FACTOR = 0.5
"""Poll twice per typical gap between entries: a new entry then waits on average a quarter of a gap
instead of half. A design choice (freshness vs. load), not yet tuned on measured poll logs."""

SILENCE_FACTOR = 0.25
"""A source silent for ``s`` seconds is polled at most every ``s / 4``: a feed that went quiet for a
week slows to ~2 days instead of keeping its old hourly rhythm, yet speeds up again with the next
entry. A design choice, like GAP_FACTOR."""

BACKOFF_BASE = 2.0
"""Doubling per consecutive failure: from a 5-minute floor, a day is reached after 8 failures."""

BACKOFF_JITTER = 0.5
"""A failing source waits between 50% and 100% of its back-off ("equal jitter": AWS Architecture Blog,
"Exponential Backoff and Jitter", 2015). Sources that failed together — one host down for all of them —
then spread their retries instead of coming back in one burst, and none returns sooner than half its
back-off (full jitter could retry at once)."""

MAX_BACKOFF_EXPONENT = 64
"""2**64 times any floor is past any cap; stopping there keeps the power from overflowing a float."""

HINT_CEILING_S = 24 * 3600.0
"""TTL / max-age are honoured up to one day; larger values are misconfigurations, not wishes."""

RETRY_AFTER_CEILING_S = 7 * 24 * 3600.0
"""A Retry-After beyond a week is treated as a week: the source is re-checked, not abandoned."""


def next_poll_interval(
    entry_times: Sequence[datetime],
    *,
    now: datetime,
    min_s: float,
    max_s: float,
    ttl_minutes: int | None,
    max_age_s: int | None,
    error_count: int,
    retry_after_s: float | None,
    jitter: float = 0.0,
) -> float:
    """Seconds until the next poll (the formula is in the module docstring). ``entry_times`` and
    ``now`` must be aware datetimes; ``0 < min_s <= max_s``; ``jitter`` is a uniform draw in [0, 1)
    from the caller (this module stays pure), used only while failing."""
    if not 0 < min_s <= max_s:
        raise SettingsError(f"poll bounds must satisfy 0 < min_s <= max_s, got {min_s} and {max_s}")
    if error_count > 0:
        backoff = backoff_interval(error_count, min_s=min_s, max_s=max_s)
        interval = max(min_s, backoff * (1.0 - BACKOFF_JITTER * min(max(jitter, 0.0), 1.0)))
    else:
        interval = min(max(rate_interval(entry_times, now=now, min_s=min_s, max_s=max_s), min_s), max_s)
    hint = max(float(ttl_minutes or 0) * 60.0, float(max_age_s or 0))
    interval = max(interval, min(hint, HINT_CEILING_S))
    if retry_after_s is not None and retry_after_s > 0:
        interval = max(interval, min(retry_after_s, RETRY_AFTER_CEILING_S))
    return interval


def backoff_interval(error_count: int, *, min_s: float, max_s: float) -> float:
    """``min_s * BACKOFF_BASE ** error_count``, capped at ``max_s`` (without overflowing)."""
    return min(min_s * BACKOFF_BASE ** min(error_count, MAX_BACKOFF_EXPONENT), max_s)


def rate_interval(entry_times: Sequence[datetime], *, now: datetime, min_s: float, max_s: float) -> float:
    """The unclamped interval the publishing rate asks for (step 2 of the module docstring)."""
    recent = sorted({min(t, now) for t in entry_times}, reverse=True)[:RECENT_ENTRIES]
    if len(recent) < 2:
        return math.sqrt(min_s * max_s)
    import statistics  # here: with fractions and decimal, more to import than a 304 poll uses

    gaps = [(newer - older).total_seconds() for newer, older in itertools.pairwise(recent)]
    silence = (now - recent[0]).total_seconds()
    return max(GAP_FACTOR * statistics.median(gaps), SILENCE_FACTOR * silence)
