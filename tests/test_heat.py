"""Heat: providers and articles with time decay, velocity, and the saturating map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsdesk.config import load_settings, load_taxonomy
from newsdesk.enrich.heat import (
    HALF_LIFE_HOURS,
    HEAT_SCALE,
    HOTTEST_HEAT,
    beat_reference,
    beat_scale,
    heat_of,
    parse_half_lives,
    score_heat,
    story_activity,
    story_half_life,
)
from newsdesk.enricher import Enricher
from newsdesk.errors import SettingsError
from newsdesk.model import UNSCORED
from newsdesk.store import Store

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


# --------------------------------------------------------------------------- relative to the beat


def beat_heats(stories: dict[str, list[tuple[datetime, str]]]) -> dict[str, int]:
    """Each story's heat relative to the hottest of ``stories`` (what enrichment does for one beat)."""
    found = {name: story_activity(events, now=NOW) for name, events in stories.items()}
    reference = beat_reference(list(found.values()))
    return {name: heat_of(a, reference)[0] if a else UNSCORED for name, a in found.items()}


def test_a_two_day_old_story_by_three_outlets_is_hot_on_a_slow_beat() -> None:
    """Fixed scale: two days at the 6-hour half-life leave 1/256 of the story, so both read 0."""
    three = [(ago(48), "a.com"), (ago(47), "b.com"), (ago(46), "c.com")]
    single = [(ago(47), "d.com")]
    assert heat(three) == heat(single) == 0
    heats = beat_heats({"three": three, "single": single})
    assert heats["three"] >= 60
    assert 0 < heats["single"] < heats["three"]


def test_ordering_on_a_slow_beat_is_not_a_tie() -> None:
    stories = {
        "four outlets, 40 h": [(ago(40 + i), f"p{i}.com") for i in range(4)],
        "three outlets, 50 h": [(ago(50 + i), f"p{i}.com") for i in range(3)],
        "two outlets, 50 h": [(ago(50), "a.com"), (ago(51), "b.com")],
        "one outlet, 55 h": [(ago(55), "a.com")],
    }
    heats = beat_heats(stories)
    assert list(heats.values()) == sorted(heats.values(), reverse=True)
    assert len(set(heats.values())) == len(heats)
    assert min(heats.values()) > 0


def test_a_busy_beat_keeps_the_fixed_scale() -> None:
    """Once the hottest story reaches HOTTEST_HEAT on the fixed scale (raw ≥ 8 × ln 5 ≈ 12.9)."""
    busy = [(ago(i * 0.1), f"p{i}.com") for i in range(12)]
    one = [(ago(0), "a.com")]
    assert beat_heats({"busy": busy, "one": one}) == {"busy": heat(busy), "one": heat(one)}
    assert beat_scale(None) == beat_scale(0.0) == HEAT_SCALE


def test_unknown_stays_unknown_and_the_reasons_say_which_scale() -> None:
    assert story_activity([], now=NOW) is None
    assert score_heat([], now=NOW, reference=5.0) == (UNSCORED, ())
    events = [(ago(30), "a.com"), (ago(29), "b.com")]
    alone = story_activity(events, now=NOW)
    assert alone is not None
    score, reasons = score_heat(events, now=NOW, reference=4 * alone.raw)
    assert [r.name for r in reasons] == ["providers", "articles", "velocity", "beat"]
    assert score == pytest.approx(sum(r.value for r in reasons), abs=1e-6)
    assert "25% of the beat's hottest" in reasons[-1].detail
    assert "2 providers" in reasons[0].detail
    top, top_reasons = score_heat(events, now=NOW, reference=alone.raw / 2)  # its own raw is higher
    assert top == HOTTEST_HEAT and "100% of the beat's hottest" in top_reasons[-1].detail


# ------------------------------------------------------------------------------ half-life per topic


def test_topic_half_lives_parse_and_the_longest_wins() -> None:
    topics = {"AI", "AI in Finance", "Markets"}
    by_topic = parse_half_lives(["AI in Finance=24", " AI = 12 "], topics)
    assert by_topic == {"AI in Finance": 24.0, "AI": 12.0}
    assert story_half_life({"AI", "AI in Finance", "Markets"}, by_topic, 6.0) == 24.0
    assert story_half_life({"Markets"}, by_topic, 6.0) == 6.0
    assert story_half_life(set(), by_topic, 6.0) == 6.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("AI in Finance", "expected 'Topic=hours'"),
        ("=24", "expected 'Topic=hours'"),
        ("Astrology=24", "no topic 'Astrology'"),
        ("AI=a day", "must be a number"),
        ("AI=0", "must be > 0"),
        ("AI=nan", "must be > 0"),
    ],
)
def test_bad_topic_half_lives_name_the_item(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_half_lives([entry], {"AI", "AI in Finance"})


def test_a_slow_beat_half_life_keeps_a_two_day_old_story_warm_on_the_fixed_scale() -> None:
    three = [(ago(48), "a.com"), (ago(47), "b.com"), (ago(46), "c.com")]
    assert heat(three) == 0
    daily = score_heat(three, now=NOW, half_life_hours=24.0)
    assert daily[0] >= 10 and "half-life 24 h" in daily[1][-1].detail


def test_the_enricher_refuses_a_bad_topic_half_life_before_any_work(
    sqlite_store: Store, tmp_path: Path
) -> None:
    env = {
        "NEWSDESK_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSDESK_HEAT_HALF_LIFE_TOPICS": "AI=24\nAstrology=3",
    }
    settings = load_settings(env=env, base_dir=tmp_path)
    with pytest.raises(SettingsError, match="heat_half_life_topics: 'Astrology=3': no topic 'Astrology'"):
        Enricher(settings, sqlite_store, load_taxonomy(None))
    assert sqlite_store.count_articles() == 0
    ok = load_settings(env={**env, "NEWSDESK_HEAT_HALF_LIFE_TOPICS": "AI=24"}, base_dir=tmp_path)
    Enricher(ok, sqlite_store, load_taxonomy(None))
