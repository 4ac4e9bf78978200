"""Online story clustering: joins, new stories, the time window, determinism and state updates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from newsdesk.enrich import cluster
from newsdesk.enrich.cluster import StoryInput
from newsdesk.errors import EnrichmentError

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
DIM = 384


def unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (v / np.linalg.norm(v)).astype(np.float32)


def event_vector(event: int, noise: float, seed: int) -> npt.NDArray[np.float32]:
    """A vector near the 'event' direction: cosine to it about 1/sqrt(1 + noise²)."""
    base = np.random.default_rng(1000 + event).normal(size=DIM)
    jitter = np.random.default_rng(seed).normal(size=DIM)
    return unit(base / np.linalg.norm(base) + noise * jitter / np.linalg.norm(jitter))


def item(article_id: int, event: int, hours: float, title: str = "", provider: str = "a.com") -> StoryInput:
    return StoryInput(
        article_id, event_vector(event, 0.5, article_id), T0 + timedelta(hours=hours), title, provider
    )


def test_title_terms_are_names_and_numbers() -> None:
    terms = cluster.title_terms("Fed raises rates to 5.5% as Powell warns on inflation, says The Times")
    assert terms == frozenset({"fed", "5.5%", "powell", "times"})
    assert cluster.title_terms("") == frozenset()
    assert cluster.title_terms("日本銀行が金利を引き上げ") == frozenset()


def test_similar_articles_join_and_different_ones_start_stories() -> None:
    items = [item(1, 0, 0), item(2, 0, 1), item(3, 1, 1.5), item(4, 0, 2), item(5, 1, 3)]
    result = cluster.cluster(items, [], next_story_id=100, now=T0 + timedelta(hours=4))
    assert dict(result.assignments) == {1: 100, 2: 100, 3: 101, 4: 100, 5: 101}
    sizes = {s.story_id: s.size for s in result.stories}
    assert sizes == {100: 3, 101: 2}


def test_decision_carries_its_reasons() -> None:
    story = cluster.new_story(1, item(1, 0, 0, "Acme buys Widgets for $5bn"), now=T0)
    decision = cluster.assign_story(item(2, 0, 30, "Acme deal: Widgets shareholders cheer"), [story], now=T0)
    assert decision.story_id == 1 and not decision.is_new
    names = [r.name for r in decision.reasons]
    assert names == ["cosine", "terms", "time"]
    assert decision.score == pytest.approx(sum(r.value for r in decision.reasons))
    assert "acme" in decision.reasons[1].detail and "widgets" in decision.reasons[1].detail
    assert decision.reasons[2].value < 0  # 30 hours later: a time penalty


def test_an_article_outside_the_window_starts_a_new_story() -> None:
    story = cluster.new_story(1, item(1, 0, 0), now=T0)
    late = item(2, 0, 24 * 4)
    decision = cluster.assign_story(late, [story], now=late.published_at or T0, window=timedelta(days=3))
    assert decision.is_new
    assert decision.reasons[-1].name == "new-story"


def test_below_threshold_starts_a_new_story_and_says_why() -> None:
    story = cluster.new_story(1, item(1, 0, 0), now=T0)
    decision = cluster.assign_story(item(2, 1, 1), [story], now=T0)
    assert decision.is_new
    assert decision.score < cluster.THRESHOLD
    assert decision.reasons[-1].detail.startswith("below")


def test_ties_go_to_the_lower_story_id() -> None:
    first = cluster.new_story(7, item(1, 0, 0), now=T0)
    twin = cluster.StoryState(3, first.centroid, first.first_seen, first.last_seen, 1, (), frozenset())
    decision = cluster.assign_story(item(2, 0, 0), [first, twin], now=T0)
    assert decision.story_id == 3


def test_reruns_and_shuffled_input_give_the_same_stories() -> None:
    rng = random.Random(4)
    items = [item(i, i % 4, rng.uniform(0, 20)) for i in range(1, 41)]
    now = T0 + timedelta(days=1)
    first = cluster.cluster(items, [], next_story_id=1, now=now)
    shuffled = items[:]
    rng.shuffle(shuffled)
    second = cluster.cluster(shuffled, [], next_story_id=1, now=now)
    assert first.assignments == second.assignments
    assert [s.story_id for s in first.stories] == [s.story_id for s in second.stories]
    assert len({story for _, story in first.assignments}) == 4


def test_update_story_keeps_a_running_mean_and_the_span() -> None:
    a, b = item(1, 0, 5, "Acme results", "a.com"), item(2, 0, 2, "Acme shares fall", "b.com")
    state = cluster.update_story(cluster.new_story(1, a, now=T0), b)
    assert np.allclose(state.centroid, (a.vector + b.vector) / 2, atol=1e-6)
    assert state.size == 2
    assert (state.first_seen, state.last_seen) == (b.published_at, a.published_at)
    assert state.providers == ("a.com", "b.com")
    assert state.title_terms == frozenset({"acme"})
    again = cluster.update_story(state, item(3, 0, 6, "Acme", "a.com"))
    assert again.providers == ("a.com", "b.com") and again.size == 3


def test_undated_articles_are_placed_at_now() -> None:
    undated = StoryInput(9, event_vector(0, 0.5, 9), None, "Acme")
    now = T0 + timedelta(hours=1)
    state = cluster.new_story(4, undated, now=now)
    assert state.first_seen == state.last_seen == now
    result = cluster.cluster([undated, item(1, 0, 0)], [], next_story_id=1, now=now)
    assert result.assignments == ((1, 1), (9, 1))


def test_mismatched_vector_size_is_an_error() -> None:
    state = cluster.new_story(1, item(1, 0, 0), now=T0)
    bad = StoryInput(2, np.ones(10, dtype=np.float32), T0, "x")
    with pytest.raises(EnrichmentError):
        cluster.update_story(state, bad)


def test_zero_vectors_do_not_divide_by_zero() -> None:
    zero = StoryInput(1, np.zeros(DIM, dtype=np.float32), T0, "")
    state = cluster.new_story(1, zero, now=T0)
    decision = cluster.assign_story(item(2, 0, 0), [state], now=T0)
    assert decision.is_new and decision.reasons[0].value == 0.0
