"""next_poll_interval: table tests for each step of the formula in newsdesk.sources.schedule."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from newsdesk.errors import SettingsError
from newsdesk.sources.schedule import (
    BACKOFF_JITTER,
    HINT_CEILING_S,
    RETRY_AFTER_CEILING_S,
    backoff_interval,
    next_poll_interval,
    rate_interval,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MIN_S, MAX_S = 300.0, 86_400.0
HOUR = 3600.0


def every(gap_s: float, count: int, *, last_age_s: float = 0.0) -> list[datetime]:
    """``count`` entry times ``gap_s`` apart, the newest ``last_age_s`` before NOW."""
    newest = NOW - timedelta(seconds=last_age_s)
    return [newest - timedelta(seconds=gap_s * i) for i in range(count)]


def interval(
    times: list[datetime],
    *,
    ttl: int | None = None,
    max_age: int | None = None,
    errors: int = 0,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> float:
    return next_poll_interval(
        times,
        now=NOW,
        min_s=MIN_S,
        max_s=MAX_S,
        ttl_minutes=ttl,
        max_age_s=max_age,
        error_count=errors,
        retry_after_s=retry_after,
        jitter=jitter,
    )


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (every(2 * HOUR, 10), 1 * HOUR),  # half the gap
        (every(60.0, 10), MIN_S),  # a very busy feed is held at the floor
        (every(4 * 86_400.0, 10), MAX_S),  # a weekly-ish feed is held at the cap
        (every(2 * HOUR, 10, last_age_s=8 * HOUR), 2 * HOUR),  # silence: a quarter of it
        (every(2 * HOUR, 6) + every(20 * HOUR, 30, last_age_s=60 * HOUR), 1 * HOUR),  # new rhythm wins
        ([], math.sqrt(MIN_S * MAX_S)),  # no evidence: the log-scale middle
        (every(HOUR, 1), math.sqrt(MIN_S * MAX_S)),
        ([NOW, NOW, NOW], math.sqrt(MIN_S * MAX_S)),  # one distinct time is no rate
        ([NOW + timedelta(days=3), NOW - timedelta(hours=2)], 1 * HOUR),  # future time clipped to now
    ],
)
def test_follows_publishing_rate(times: list[datetime], expected: float) -> None:
    assert interval(times) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(1, 600.0), (2, 1200.0), (5, 9600.0), (9, MAX_S), (10_000, MAX_S)],
)
def test_backoff_doubles_and_caps(errors: int, expected: float) -> None:
    assert interval(every(60.0, 10), errors=errors) == pytest.approx(expected)
    assert backoff_interval(errors, min_s=MIN_S, max_s=MAX_S) == pytest.approx(expected)


def test_backoff_jitter_spreads_retries_between_half_and_all_of_the_backoff() -> None:
    draws = [i / 100 for i in range(100)]  # the caller's uniform draws, evenly spread
    waits = [interval([], errors=5, jitter=j) for j in draws]
    assert min(waits) == pytest.approx(9600.0 * (1 - BACKOFF_JITTER * 0.99))
    assert max(waits) == pytest.approx(9600.0) and len(set(waits)) == len(draws)  # all distinct
    assert interval([], errors=1, jitter=0.99) == MIN_S * 2 * (1 - BACKOFF_JITTER * 0.99)
    assert interval([], errors=1, jitter=0.99) >= MIN_S  # never sooner than the floor
    assert interval(every(2 * HOUR, 10), jitter=0.9) == pytest.approx(1 * HOUR)  # healthy: no jitter


@pytest.mark.parametrize(
    ("ttl", "max_age", "expected"),
    [
        (60, None, 1 * HOUR),  # ttl above the rate's 300 s
        (None, 7200, 2 * HOUR),
        (1, 30, MIN_S),  # hints below the rate change nothing
        (60, 7200, 2 * HOUR),  # the larger hint wins
        (100_000, None, HINT_CEILING_S),  # an absurd ttl is held at its ceiling
    ],
)
def test_publisher_hints_are_a_floor(ttl: int | None, max_age: int | None, expected: float) -> None:
    assert interval(every(60.0, 10), ttl=ttl, max_age=max_age) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("errors", "retry_after", "expected"),
    [
        (1, 3 * HOUR, 3 * HOUR),  # Retry-After beats the back-off
        (1, 10.0, 600.0),  # a short Retry-After does not cut the back-off
        (0, 2 * 86_400.0, 2 * 86_400.0),  # honoured past max_s
        (3, 30 * 86_400.0, RETRY_AFTER_CEILING_S),
        (0, 0.0, MIN_S),
    ],
)
def test_retry_after(errors: int, retry_after: float, expected: float) -> None:
    assert interval(every(60.0, 10), errors=errors, retry_after=retry_after) == pytest.approx(expected)


def test_rate_interval_is_unclamped() -> None:
    assert rate_interval(every(60.0, 10), now=NOW, min_s=MIN_S, max_s=MAX_S) == pytest.approx(30.0)


@pytest.mark.parametrize(("low", "high"), [(0.0, 10.0), (10.0, 5.0), (-1.0, 5.0)])
def test_bad_bounds_raise(low: float, high: float) -> None:
    with pytest.raises(SettingsError):
        next_poll_interval(
            [],
            now=NOW,
            min_s=low,
            max_s=high,
            ttl_minutes=None,
            max_age_s=None,
            error_count=0,
            retry_after_s=None,
        )
