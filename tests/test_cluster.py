"""Online story clustering: joins, new stories, the time window, determinism and state updates."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from newsdesk.enrich import cluster
from newsdesk.enrich.cluster import StoryInput
from newsdesk.enrich.similarity import BLEND, IDENTITY, NAMES_CAP, Relation, article_names
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
    assert decision.story_id == 1
    names = [r.name for r in decision.reasons]
    assert names == ["cosine", "terms", "time"]
    assert decision.score == pytest.approx(sum(r.value for r in decision.reasons))
    assert "acme" in decision.reasons[1].detail and "widgets" in decision.reasons[1].detail
    assert decision.reasons[2].value < 0  # 30 hours later: a time penalty


def test_an_article_outside_the_window_starts_a_new_story() -> None:
    story = cluster.new_story(1, item(1, 0, 0), now=T0)
    late = item(2, 0, 24 * 4)
    decision = cluster.assign_story(late, [story], now=late.published_at or T0, window=timedelta(days=3))
    assert decision.story_id is None
    assert decision.reasons[-1].name == "new-story"


def test_below_threshold_starts_a_new_story_and_says_why() -> None:
    story = cluster.new_story(1, item(1, 0, 0), now=T0)
    decision = cluster.assign_story(item(2, 1, 1), [story], now=T0)
    assert decision.story_id is None
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
    assert decision.story_id is None and decision.reasons[0].value == 0.0


def plane(*coords: float) -> npt.NDArray[np.float32]:
    """A unit vector from its first coordinates (the rest zero)."""
    vector = np.zeros(DIM)
    vector[: len(coords)] = coords
    return unit(vector)


def test_a_spread_story_does_not_pull_in_an_article_near_its_centroid() -> None:
    """Average link: two members 74° apart (cosine 0.28) make a short centroid; an article 49° from its
    direction has cosine 0.65 to the normalised centroid but a mean cosine of 0.52 to the members."""
    spread = math.acos(0.8)  # each member this far from the x axis, on either side
    first = StoryInput(1, plane(math.cos(spread), math.sin(spread)), T0, "")
    second = StoryInput(2, plane(math.cos(spread), -math.sin(spread)), T0, "")
    story = cluster.update_story(cluster.new_story(1, first, now=T0), second)
    near = StoryInput(3, plane(0.65, 0.0, math.sqrt(1 - 0.65**2)), T0, "")
    assert cluster.cosine(near.vector, story.centroid) == pytest.approx(0.65, abs=1e-4)
    decision = cluster.assign_story(near, [story], now=T0)
    assert decision.reasons[0].value == pytest.approx(0.8 * 0.65, abs=1e-4)
    assert decision.story_id is None


def test_terms_come_from_the_lead_as_well_as_the_title() -> None:
    """A headline may name nothing; the first paragraph names the institute and the figures."""
    paper = StoryInput(
        1, event_vector(0, 0.5, 1), T0, "LedgerBench: language models doing real analysis",
        lead="Researchers at the Aldermoor Institute built a test of 2,400 questions.",
    )  # fmt: skip
    report = StoryInput(
        2, event_vector(0, 0.5, 2), T0, "AI still trips over balance sheets, study finds",
        lead="Researchers at the Aldermoor Institute, with two banks, wrote 2,400 questions.",
    )  # fmt: skip
    decision = cluster.assign_story(report, [cluster.new_story(1, paper, now=T0)], now=T0)
    terms = decision.reasons[1]
    assert "aldermoor" in terms.detail and "2,400" in terms.detail
    # the report's terms: ai, researchers, aldermoor, institute, 2,400; the story has all but "ai"
    assert terms.value == pytest.approx(cluster.TERM_WEIGHT * 4 / 5)


def test_only_the_first_lead_words_count() -> None:
    filler = " ".join(["word"] * cluster.LEAD_WORDS)
    late = StoryInput(1, event_vector(0, 0.5, 1), T0, "", lead=f"{filler} Zephyrcorp")
    assert cluster.new_story(1, late, now=T0).title_terms == frozenset()


def lead(category: str, words: float, hours: float | None, kind: str = "article") -> cluster.LeadCandidate:
    return cluster.LeadCandidate(
        category, kind, words, None if hours is None else T0 + timedelta(hours=hours)
    )


def test_a_news_report_leads_before_a_longer_earlier_column() -> None:
    story = [lead("opinion", 900, 0), lead("blog", 800, 1), lead("analysis", 700, 2), lead("news", 320, 3)]
    assert cluster.choose_lead(story) == 3
    assert cluster.choose_lead(story[:3]) == 2  # no report: analysis before comment
    assert cluster.choose_lead(story[:2]) == 0  # both complete (800 ≥ 0.75 × 900): the earlier


def test_the_earliest_complete_report_leads_not_a_stub_nor_a_late_longer_one() -> None:
    story = [lead("news", 60, 0), lead("News", 300, 1), lead("news", 364, 2), lead("news", 380, 30)]
    assert cluster.choose_lead(story) == 1  # 300 ≥ 0.75 × 380; the 60-word stub is not complete
    assert cluster.choose_lead([lead("news", 60, 0), lead("news", 300, 5)]) == 1


def test_an_article_leads_before_a_video_and_undated_reports_come_last() -> None:
    assert cluster.choose_lead([lead("news", 400, 0, "video"), lead("news", 300, 1)]) == 1
    assert cluster.choose_lead([lead("news", 300, None), lead("news", 300, 9)]) == 1
    assert cluster.choose_lead([lead("news", 300, 4), lead("news", 300, 4)]) == 0
    with pytest.raises(ValueError, match="at least one"):
        cluster.choose_lead([])


def in_language(entry: StoryInput, language: str | None) -> StoryInput:
    return StoryInput(entry.article_id, entry.vector, entry.published_at, entry.title, language=language)


def test_a_story_keeps_a_running_mean_per_language_and_packs_it() -> None:
    first, second, third = (
        in_language(item(i, 0, i), lang) for i, lang in ((1, "en"), (2, "zh-CN"), (3, "en-GB"))
    )
    story = cluster.update_story(cluster.update_story(cluster.new_story(1, first, now=T0), second), third)
    assert [(g.language, g.size) for g in story.groups] == [("en", 2), ("zh", 1)]
    assert np.allclose(story.groups[0].centroid, (first.vector + third.vector) / 2, atol=1e-6)
    blob, languages = cluster.pack_centroids(story)
    found = cluster.unpack_centroids(blob, languages, DIM)
    assert found is not None and np.allclose(found[0], story.centroid)
    assert [(g.language, g.size) for g in found[1]] == languages == [("en", 2), ("zh", 1)]
    assert all(np.allclose(a.centroid, b.centroid) for a, b in zip(found[1], story.groups, strict=True))
    assert cluster.unpack_centroids(blob, languages, DIM * 2) is None  # another model's vectors


def test_without_a_calibration_the_language_groups_score_the_plain_mean_cosine() -> None:
    members = [in_language(item(i, 0, i), lang) for i, lang in ((1, "en"), (2, "de"), (3, None))]
    story = cluster.new_story(1, members[0], now=T0)
    for member in members[1:]:
        story = cluster.update_story(story, member)
    probe = in_language(item(9, 0, 4), "de")
    raw, calibrated, crossed = cluster.calibrated_cosine(probe, story, IDENTITY)
    assert calibrated == pytest.approx(raw, abs=1e-6) and crossed == ()
    raw, calibrated, crossed = cluster.calibrated_cosine(probe, story, BLEND)
    english = float(np.dot(probe.vector, members[0].vector))
    assert calibrated == pytest.approx(
        raw + (BLEND.score(english, Relation.ENGLISH_OTHER) - english) / 3, abs=1e-5
    )
    assert crossed == ("de–en: English–other language",)


def test_a_story_saved_before_languages_counts_as_one_of_unknown_language() -> None:
    old = cluster.new_story(1, item(1, 0, 0), now=T0)
    old = cluster.StoryState(old.story_id, old.centroid, old.first_seen, old.last_seen, 1, (), frozenset())
    probe = in_language(item(2, 0, 1), "en")
    assert cluster.calibrated_cosine(probe, old, BLEND)[2] == ()  # language unknown: no map applies
    grown = cluster.update_story(old, probe)
    assert [(g.language, g.size) for g in grown.groups] == [("", 1), ("en", 1)]


def named(article_id: int, event: int, hours: float, names: str) -> StoryInput:
    return replace(item(article_id, event, hours), names=article_names(names))


def test_shared_names_add_to_the_join_only_with_a_names_weight() -> None:
    """With the default embedder's calibration an article's names found in the story add
    ``names_weight`` × their share, as a reason of its own; a custom model's (IDENTITY) adds nothing."""
    story = cluster.new_story(1, named(1, 0, 0, "Acme met Globex in Paris"), now=T0)
    joining = named(2, 0, 1, "Paris: Acme and Initech")
    plain = cluster.assign_story(joining, [story], now=T0)
    weighed = cluster.assign_story(joining, [story], now=T0, calibration=BLEND)
    assert [r.name for r in plain.reasons] == ["cosine", "terms", "time"]
    names = weighed.reasons[-1]
    assert names.name == "names" and names.value == pytest.approx(BLEND.names_weight * 2 / 3)
    assert weighed.score == pytest.approx(plain.score + names.value)


def test_an_article_or_story_without_names_scores_as_before() -> None:
    story = cluster.new_story(1, item(1, 0, 0), now=T0)
    before = cluster.assign_story(named(2, 0, 1, "Paris"), [story], now=T0, calibration=BLEND)
    assert before.reasons[-1].value == 0.0 and before.reasons[-1].detail == "no names"
    assert before.score == pytest.approx(sum(r.value for r in before.reasons[:3]))


def test_a_story_keeps_the_sketch_of_its_members_names_bounded() -> None:
    first = " ".join(f"{chr(65 + i % 26)}{chr(97 + i // 26)}ak" for i in range(50))
    second = " ".join(f"{chr(65 + i % 26)}{chr(97 + i // 26)}bk" for i in range(50))
    story = cluster.new_story(1, named(1, 0, 0, first), now=T0)
    grown = cluster.update_story(story, named(2, 0, 1, second), now=T0)
    both = article_names(f"{first} {second}")
    assert len(grown.names) == NAMES_CAP and np.array_equal(grown.names, both)  # exact: a bottom-k union


def test_the_prefilter_cosine_leaves_room_for_terms_and_names() -> None:
    assert cluster.lowest_cosine(0.58, IDENTITY) == pytest.approx(0.58 - cluster.TERM_WEIGHT)
    assert cluster.lowest_cosine(0.58, BLEND) < BLEND.lowest_cosine(0.58 - cluster.TERM_WEIGHT)
