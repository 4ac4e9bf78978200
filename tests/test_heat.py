"""Heat: providers and articles with time decay, velocity, and the saturating map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsdesk.enrich.heat import HALF_LIFE_HOURS, score_heat
from newsdesk.model import UNSCORED

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def heat(events: list[tuple[datetime, str]], **kw: float) -> int:
    return score_heat(events, now=NOW, **kw)[0]


def test_no_dated_article_means_unknown() -> None:
    assert score_heat([], now=NOW) == (UNSCORED, ())


def test_one_fresh_article_is_lukewarm() -> None:
    assert 10 <= heat([(ago(0), "a.com")]) <= 20


def test_many_fresh_providers_are_hot() -> None:
    events = [(ago(i * 0.1), f"p{i}.com") for i in range(10)]
    assert heat(events) >= 75


def test_distinct_providers_count_more_than_repeats() -> None:
    same = [(ago(0.5), "a.com")] * 5
    distinct = [(ago(0.5), f"p{i}.com") for i in range(5)]
    assert heat(distinct) > heat(same)


def test_heat_cools_with_age() -> None:
    events = [(ago(0), f"p{i}.com") for i in range(5)]
    scores = [heat([(when - timedelta(hours=h), p) for when, p in events]) for h in (0, 6, 12, 48)]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] <= 2


def test_half_life_is_a_parameter() -> None:
    events = [(ago(12), f"p{i}.com") for i in range(5)]
    assert heat(events, half_life_hours=48) > heat(events, half_life_hours=HALF_LIFE_HOURS)


def test_accelerating_story_gets_velocity() -> None:
    old = [(ago(40 + i), f"old{i}.com") for i in range(3)]
    burst = [(ago(0.2 * i), f"new{i}.com") for i in range(6)]
    _, reasons = score_heat(old + burst, now=NOW)
    velocity = next(r for r in reasons if r.name == "velocity")
    assert velocity.value > 0
    _, steady = score_heat(old, now=NOW)
    assert next(r for r in steady if r.name == "velocity").value == 0


def test_reasons_add_up_to_the_score() -> None:
    events = [(ago(i), f"p{i % 4}.com") for i in range(12)]
    score, reasons = score_heat(events, now=NOW)
    assert [r.name for r in reasons] == ["providers", "articles", "velocity", "beat"]
    assert sum(r.value for r in reasons) == pytest.approx(score)


def test_huge_stories_saturate_below_100_and_future_dates_count_as_now() -> None:
    events = [(ago(i / 100), f"p{i}.com") for i in range(1000)]
    assert heat(events) == 100
    future = [(NOW + timedelta(hours=5), "a.com")]
    assert heat(future) == heat([(NOW, "a.com")])


def test_naive_dates_are_taken_as_utc_and_missing_domains_count_apart() -> None:
    naive = [(ago(1).replace(tzinfo=None), "a.com")]
    assert heat(naive) == heat([(ago(1), "a.com")])
    assert heat([(ago(0), ""), (ago(0), "")]) == heat([(ago(0), "x.com"), (ago(0), "y.com")])


def test_bad_half_life_is_an_error() -> None:
    with pytest.raises(ValueError):
        score_heat([(NOW, "a.com")], now=NOW, half_life_hours=0)
