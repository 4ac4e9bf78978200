"""Online, time-aware story clustering: each new article joins the closest recent story or starts one.

The decision for one article (:func:`assign_story`) is pure: given the article (vector, time, title,
provider) and the current states of recent stories, it scores every story still inside the time window
and picks the best one at or above the threshold. The score adds three signals (four with names), each
kept as a :class:`~newsdesk.model.Reason` on the decision:

* ``cosine``  — the article's mean cosine to the story's articles (average link): the dot product of its
  unit vector with the story centroid (running mean of the members' unit vectors). Unlike the cosine to
  the *normalised* centroid it does not grow as a story spreads: a loose story's centroid is short, so a
  story that has drifted into a topic ("AI in credit") stops pulling in every article on the topic.
  Cosines are calibrated by language (``similarity.py``): the story keeps one running mean per language
  of its members, and the article's cosine to each is mapped onto the English–English scale for the two
  languages before the means are weighted by member count, so one threshold serves every language;
* ``terms``   — share of the article's terms (capitalised words, numbers: names, tickers, amounts, from
  its title and the first LEAD_WORDS words of its text) already seen in the story; two stories about
  different companies or studies rarely share them;
* ``time``    — a penalty growing with the gap between the article and the story's time span;
* ``names``   — with a calibration that weighs them (``Calibration.names_weight_for``, the default
  embedder's: more across languages), the share of the article's names (name stems and numbers of its *whole* text, a hashed sketch:
  ``similarity.article_names``) found in the story's sketch of its members' names: the same term the
  product's pair score adds (``Calibration.score_pair``). An article or story without names gets none.

:func:`update_story` folds an article into a story (new centroid, times, size, providers, terms).
:func:`cluster` runs a batch in the deterministic order ``(published_at, article_id)``, so re-running
over the same articles in the same order gives the same stories.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from newsdesk.enrich.similarity import (
    IDENTITY,
    NAMES_CAP,
    Calibration,
    Names,
    Relation,
    language_code,
    names_overlap,
    no_names,
    relation,
)
from newsdesk.errors import EnrichmentError
from newsdesk.model import Reason

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

THRESHOLD = 0.63
"""Minimum combined score to join a story, for the default embedder (the MiniLM + USE blend, whose
English cosine is the mean of both models', title weighed apart: ``similarity.article_vectors``). Chosen
with eval/stories.py (the lead terms, the average link): demo-world purity and SemEval English same-story
F1 peak around it, BBC one-date purity rises past it; the figures per threshold are in
docs/evaluation.md, "Story clustering". It applies to calibrated cosines (``similarity.py``), so it asks as much of
an English and a Chinese report of one event as of two English ones. It was 0.58 before the names term,
0.60 with the Latin-script names (weight 0.11, 500 characters). With the names sketch of stems and
numbers (weights 0.14 / 0.27 across languages) and the 700-character window, eval/stories.py at 0.60 /
0.61 / 0.62 / 0.63 / 0.64: BBC purity (200) 0.818 / 0.833 / 0.838 / 0.848 / 0.858 (gate 0.84), SemEval
English F1 0.871 / 0.871 / 0.871 / 0.860 / 0.848 (gate 0.85), demo purity 0.975 / 1.000 from 0.61,
completeness 0.963 at each. 0.63 is the one threshold that keeps both gates; all 1,283 SemEval pairs as
one-article stories: F1 0.756 (0.780 at 0.60)."""

COSINE_WEIGHT = 1.0
TERM_WEIGHT = 0.10
"""Weight of the shared-terms share next to the cosine. eval/stories.py, terms from title + lead, average
link: 0.10 gives the best SemEval F1 (0.925; 0.913 with no terms, 0.916 at 0.15, 0.907 at 0.2 and 0.3)
and the best BBC purity of the weights that use terms (0.726; 0.716 at 0.15, 0.706 at 0.2, 0.682 at 0.3):
heavier weights make articles that share a name (an athlete, a party) join one story. It splits
same-topic stories about different names (two rate decisions by two central banks) that whole-text
cosines put close together."""

TIME_WEIGHT = 0.10
TIME_SCALE_HOURS = 24.0
"""Penalty ``TIME_WEIGHT * (1 - exp(-gap / TIME_SCALE_HOURS))``: an article a day after the story's
last article loses 0.06, a week after 0.1. SemEval pairs carry no dates, so this is not tuned: it is set
small enough never to split a story whose cosine is clearly above the threshold."""

WINDOW = timedelta(days=3)
"""Stories older than this (since their last article) are closed: follow-ups days later start a new
story. Typical news cycles for one event are 1-3 days."""

MAX_TERMS = 64
"""Terms kept per story (the first seen): a long-running story must not collect every name."""

LEAD_WORDS = 45
"""Words of the text (after the title) read for terms: a headline alone holds one or two names, while the
first paragraph names the institution, the figures and the people. eval/stories.py with the average
link: SemEval F1 0.913 with no terms at all, 0.925 / 0.914 / 0.925 at 45 / 60 / 90 words and
TERM_WEIGHT 0.10; BBC purity 0.746 / 0.726 / 0.722 / 0.728. 45 is the shortest at the best F1. Title-only
terms (the old rule) let the one shared word "AI" pull a study report into a regulator's AI story in the
demo world."""

_TERM = re.compile(r"\b(?:[A-Z][\w'&.-]*[\w]|[A-Z]|\d[\d.,]*%?)")
_STOP = frozenset(
    {
        "a",
        "after",
        "amid",
        "an",
        "and",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "more",
        "new",
        "no",
        "not",
        "of",
        "off",
        "on",
        "or",
        "out",
        "over",
        "said",
        "says",
        "than",
        "the",
        "this",
        "to",
        "today",
        "top",
        "up",
        "us",
        "was",
        "what",
        "when",
        "who",
        "why",
        "will",
        "with",
        "year",
    }
)


@dataclass(frozen=True, slots=True)
class StoryInput:
    """What clustering needs from an article: its vector (unit row), time, title and provider, the
    start of its text (``lead``: only its first LEAD_WORDS words are read, for names and numbers), and
    the names sketch of its whole text (``similarity.article_names``; empty: none known)."""

    article_id: int
    vector: Vector
    published_at: datetime | None
    title: str
    provider_domain: str = ""
    lead: str = ""
    language: str | None = None
    names: Names = field(default_factory=no_names)


@dataclass(frozen=True, slots=True)
class LanguageGroup:
    """A story's members in one language (``""``: unknown): how many, and their running-mean vector."""

    language: str
    size: int
    centroid: Vector


@dataclass(frozen=True, slots=True)
class StoryState:
    """A story as clustering sees it; ``centroid`` is the running mean of member vectors (not unit) and
    ``groups`` the same per member language (empty for a story saved before languages were kept: it then
    counts as one group of unknown language)."""

    story_id: int
    centroid: Vector
    first_seen: datetime
    last_seen: datetime
    size: int
    providers: tuple[str, ...]
    title_terms: frozenset[str]
    title: str = ""
    groups: tuple[LanguageGroup, ...] = ()
    names: Names = field(default_factory=no_names)
    """The sketch of the union of the members' names: the NAMES_CAP smallest hashes of the union are
    the union of their sketches' smallest, so it stays exact as members join (256 bytes at most)."""

    def language_groups(self) -> tuple[LanguageGroup, ...]:
        """``groups``, or the whole story as one group of unknown language when none were kept."""
        return self.groups or (LanguageGroup("", self.size, self.centroid),)


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Where an article goes: ``story_id`` of an existing story, or ``None`` for a new story.
    ``score`` is the best story's combined score (``0.0`` when no story was in the window)."""

    story_id: int | None
    score: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """A batch's outcome: ``(article_id, story_id)`` per article, and every story state after it."""

    assignments: tuple[tuple[int, int], ...]
    stories: tuple[StoryState, ...]


def title_terms(title: str) -> frozenset[str]:
    """Capitalised words and numbers of a title, lower-cased, minus common headline words."""
    found = (match.group(0).strip(".,").lower() for match in _TERM.finditer(title))
    return frozenset(term for term in found if term and term not in _STOP)


def term_overlap(item_terms: frozenset[str], story_terms: frozenset[str]) -> float:
    """Share of the article's terms that the story has (0 when the article has none)."""
    return len(item_terms & story_terms) / len(item_terms) if item_terms else 0.0


def cosine(vector: Vector, centroid: Vector) -> float:
    norm = float(np.linalg.norm(centroid)) * float(np.linalg.norm(vector))
    return float(np.dot(vector, centroid)) / norm if norm > 0 else 0.0


def mean_cosine(vector: Vector, centroid: Vector) -> float:
    """The mean cosine of ``vector`` to a story's members, read off their running-mean ``centroid`` (the
    members are unit rows, so ``v · mean(m) = mean(v · m)``). Never above :func:`cosine`."""
    norm = float(np.linalg.norm(vector))
    return float(np.dot(vector, centroid)) / norm if norm > 0 else 0.0


def time_gap_hours(when: datetime, story: StoryState) -> float:
    """Hours from ``when`` to the story's [first_seen, last_seen] span (0 inside it)."""
    if story.first_seen <= when <= story.last_seen:
        return 0.0
    edge = story.first_seen if when < story.first_seen else story.last_seen
    return abs((when - edge).total_seconds()) / 3600.0


def score_story(
    item: StoryInput,
    terms: frozenset[str],
    story: StoryState,
    when: datetime,
    calibration: Calibration = IDENTITY,
) -> tuple[float, tuple[Reason, ...]]:
    """The combined score of ``item`` against ``story`` and its three reasons."""
    cos, calibrated, crossed = calibrated_cosine(item, story, calibration)
    overlap = term_overlap(terms, story.title_terms)
    gap = time_gap_hours(when, story)
    penalty = TIME_WEIGHT * (1.0 - math.exp(-gap / TIME_SCALE_HOURS))
    shared = ", ".join(sorted(terms & story.title_terms)[:8])
    said = f"mean cosine {cos:.3f} to story {story.story_id}'s {story.size} articles"
    if crossed:
        said += f"; {calibrated:.3f} calibrated across languages ({', '.join(crossed)})"
    reasons = (
        Reason("cosine", COSINE_WEIGHT * calibrated, said),
        Reason("terms", TERM_WEIGHT * overlap, f"shared: {shared}" if shared else "no shared terms"),
        Reason("time", -penalty, f"{gap:.1f} h from the story"),
        *_names_reason(item, story, calibration),
    )
    return sum(r.value for r in reasons), reasons


def _names_reason(item: StoryInput, story: StoryState, calibration: Calibration) -> tuple[Reason, ...]:
    """The names term, when the calibration weighs names (none for a custom embedder)."""
    if not calibration.weighs_names:
        return ()
    share = names_overlap(item.names, story.names)
    said = (
        f"{share:.0%} of the article's names in the story"
        if item.names.size and story.names.size
        else "no names"
    )
    return (Reason("names", names_weight(item, story, calibration) * share, said),)


def names_weight(item: StoryInput, story: StoryState, calibration: Calibration) -> float:
    """The names weight of ``item`` against ``story``: each language group's relation's weight
    (``Calibration.names_weight_for``: names count more across languages), weighted by member count as
    the calibrated cosine is."""
    groups = story.language_groups()
    total = sum(g.size * calibration.names_weight_for(relation(item.language, g.language)) for g in groups)
    return total / max(sum(g.size for g in groups), 1)


def lowest_cosine(threshold: float, calibration: Calibration) -> float:
    """The least plain cosine to a story's unit centroid with which an article can still reach
    ``threshold``: the terms and names add at most their weights, the time only subtracts, and the
    calibration may map a lower cosine up (``Calibration.lowest_cosine``). Pre-filters use it."""
    rest = TERM_WEIGHT + calibration.most_names_weight
    return calibration.lowest_cosine((threshold - rest) / COSINE_WEIGHT)


def calibrated_cosine(
    item: StoryInput, story: StoryState, calibration: Calibration
) -> tuple[float, float, tuple[str, ...]]:
    """``item``'s mean cosine to the story's members, the same mean with each language group's cosine
    calibrated for the two languages (``similarity.py``), and the relations a map applied to."""
    raw = mean_cosine(item.vector, story.centroid)
    total, crossed = 0.0, []
    for group in story.language_groups():
        rel = relation(item.language, group.language)
        total += group.size * calibration.score(mean_cosine(item.vector, group.centroid), rel)
        if calibration.applies(rel):
            crossed.append(_relation_label(item.language, group.language, rel))
    return raw, total / max(story.size, 1), tuple(crossed)


def _relation_label(first: str | None, second: str, rel: Relation) -> str:
    return f"{language_code(first)}–{language_code(second)}: {rel.value}"


def assign_story(
    item: StoryInput,
    stories: Sequence[StoryState],
    *,
    now: datetime,
    threshold: float = THRESHOLD,
    window: timedelta = WINDOW,
    calibration: Calibration = IDENTITY,
) -> StoryDecision:
    """Pick the story ``item`` joins: the best-scoring story within ``window`` of the article's time
    (``now`` when it has no date) whose score reaches ``threshold``; ties go to the lower story id.
    ``calibration`` is the embedder's (``similarity.calibration_for``). Returns a decision with
    ``story_id=None`` when the article starts a new story."""
    when = item.published_at or now
    terms = _item_terms(item)
    best: tuple[float, int, tuple[Reason, ...]] | None = None
    for story in stories:
        if time_gap_hours(when, story) * 3600.0 > window.total_seconds():
            continue
        score, reasons = score_story(item, terms, story, when, calibration)
        if best is None or (score, -story.story_id) > (best[0], -best[1]):
            best = (score, story.story_id, reasons)
    if best is None:
        return StoryDecision(None, 0.0, (Reason("new-story", 0.0, "no story in the time window"),))
    if best[0] < threshold:
        return StoryDecision(None, best[0], (*best[2], Reason("new-story", 0.0, f"below {threshold:.2f}")))
    return StoryDecision(best[1], best[0], best[2])


def _item_terms(item: StoryInput) -> frozenset[str]:
    """Names and numbers of the title and the first LEAD_WORDS words of the text."""
    lead = " ".join(item.lead.split()[:LEAD_WORDS])
    return title_terms(f"{item.title} {lead}" if lead else item.title)


def new_story(story_id: int, item: StoryInput, *, now: datetime) -> StoryState:
    """A one-article story started by ``item``."""
    when = item.published_at or now
    return StoryState(
        story_id=story_id,
        centroid=np.asarray(item.vector, dtype=np.float32).copy(),
        first_seen=when,
        last_seen=when,
        size=1,
        providers=(item.provider_domain,) if item.provider_domain else (),
        title_terms=frozenset(sorted(_item_terms(item))[:MAX_TERMS]),
        title=item.title,
        groups=(LanguageGroup(language_code(item.language), 1, np.asarray(item.vector, np.float32).copy()),),
        names=np.asarray(item.names, dtype=np.uint32)[:NAMES_CAP].copy(),
    )


def update_story(state: StoryState, item: StoryInput, *, now: datetime | None = None) -> StoryState:
    """``state`` with ``item`` folded in: running-mean centroid, widened time span, size + 1, the
    provider added, new title terms added up to MAX_TERMS. Pure: returns a new state."""
    when = item.published_at or now or state.last_seen
    vector = np.asarray(item.vector, dtype=np.float32)
    if vector.shape != state.centroid.shape:
        raise EnrichmentError(
            f"vector has shape {vector.shape}, story {state.story_id} has {state.centroid.shape}"
        )
    centroid = (state.centroid * state.size + vector) / (state.size + 1)
    providers = state.providers
    if item.provider_domain and item.provider_domain not in providers:
        providers = tuple(sorted((*providers, item.provider_domain)))
    extra = sorted(_item_terms(item) - state.title_terms)[: max(MAX_TERMS - len(state.title_terms), 0)]
    return StoryState(
        story_id=state.story_id,
        centroid=centroid.astype(np.float32),
        first_seen=min(state.first_seen, when),
        last_seen=max(state.last_seen, when),
        size=state.size + 1,
        providers=providers,
        title_terms=state.title_terms | frozenset(extra),
        title=state.title,
        groups=_join_group(state.language_groups(), language_code(item.language), vector),
        names=np.union1d(state.names, item.names).astype(np.uint32)[:NAMES_CAP],
    )


def _join_group(
    groups: tuple[LanguageGroup, ...], language: str, vector: Vector
) -> tuple[LanguageGroup, ...]:
    """``groups`` with ``vector`` folded into its language's running mean (a new group if none)."""
    out, placed = [], False
    for group in groups:
        if group.language == language and not placed:
            mean = (group.centroid * group.size + vector) / (group.size + 1)
            group, placed = LanguageGroup(language, group.size + 1, mean.astype(np.float32)), True
        out.append(group)
    if not placed:
        out.append(LanguageGroup(language, 1, vector.astype(np.float32).copy()))
    return tuple(out)


def pack_centroids(state: StoryState) -> tuple[bytes, list[tuple[str, int]]]:
    """What a store keeps of a story's vectors: the centroid as little-endian float32 bytes, followed by
    each language group's when there is more than one, and the groups' languages and sizes in order."""
    groups = state.language_groups()
    parts = [state.centroid, *(g.centroid for g in groups)] if len(groups) > 1 else [state.centroid]
    blob = b"".join(np.asarray(v, dtype="<f4").tobytes() for v in parts)
    return blob, [(g.language, g.size) for g in state.groups]


def unpack_centroids(
    blob: bytes, languages: Sequence[Sequence[object]], dim: int
) -> tuple[Vector, tuple[LanguageGroup, ...]] | None:
    """:func:`pack_centroids` undone for vectors of ``dim``; ``None`` when the bytes do not fit (a story
    whose vectors came from another model)."""
    groups = [(str(language), int(str(size))) for language, size in languages]
    parts = 1 + len(groups) if len(groups) > 1 else 1
    if len(blob) != parts * dim * 4:
        return None
    vectors = np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(parts, dim)
    centroid = vectors[0].copy()
    if len(groups) == 1:
        return centroid, (LanguageGroup(groups[0][0], groups[0][1], centroid),)
    found = tuple(LanguageGroup(g[0], g[1], v.copy()) for g, v in zip(groups, vectors[1:], strict=True))
    return centroid, found


def cluster(
    items: Sequence[StoryInput],
    stories: Sequence[StoryState],
    *,
    next_story_id: int,
    now: datetime,
    threshold: float = THRESHOLD,
    window: timedelta = WINDOW,
    calibration: Calibration = IDENTITY,
) -> ClusterResult:
    """Assign a batch of articles in ``(published_at, article_id)`` order (undated ones at ``now``).
    New stories get ids from ``next_story_id`` upwards. Deterministic for the same input."""
    states = {story.story_id: story for story in stories}
    assignments: list[tuple[int, int]] = []
    ordered = sorted(items, key=lambda it: (it.published_at or now, it.article_id))
    for item in ordered:
        decision = assign_story(
            item, list(states.values()), now=now, threshold=threshold, window=window, calibration=calibration
        )
        if decision.story_id is None:
            states[next_story_id] = new_story(next_story_id, item, now=now)
            assignments.append((item.article_id, next_story_id))
            next_story_id += 1
        else:
            states[decision.story_id] = update_story(states[decision.story_id], item, now=now)
            assignments.append((item.article_id, decision.story_id))
    return ClusterResult(tuple(assignments), tuple(states.values()))


# ------------------------------------------------------------------------------------ story lead

NEWS_CATEGORIES = frozenset({"news"})
"""Categories of a news report: the first choice to lead a story."""
COMMENT_CATEGORIES = frozenset({"opinion", "blog", "review"})
"""Categories that comment on a story rather than report it: the last choice to lead one. Everything else
(press release, analysis, research, interview, unknown) sits between."""
LEAD_TYPES = frozenset({"article"})
"""Types that lead before others (a video or podcast page rarely has the text a reader scans first)."""


COMPLETE_SHARE = 0.75
"""A report with at least three quarters of the fullest report's text counts as complete, and among
complete reports the earliest leads. In the demo world the news reports of one story differ by up to a
quarter in length (277-364 words for the rate decision), while a feed-only summary has a fifth of a
page's words: the first is a fair choice, the second is not."""


@dataclass(frozen=True, slots=True)
class LeadCandidate:
    """What choosing a story's lead reads from an article. ``completeness`` is any measure where more is
    a fuller report (words of text, or the quality score's depth points); ``None`` dates sort last."""

    category: str
    type: str
    completeness: float
    published_at: datetime | None


def choose_lead(candidates: Sequence[LeadCandidate]) -> int:
    """Index of the article that should lead a story: the earliest complete report of the best kind.

    Kind: a news report before analysis, research or a press release, and those before a column or blog
    post; an article before a video or podcast. Among that kind, reports with COMPLETE_SHARE of the
    fullest one's completeness count as complete; the earliest of them leads (then the fuller, then the
    first given). A front page leads with the report of the event, not a comment on it nor a stub.
    Raises ``ValueError`` for no candidates."""
    if not candidates:
        raise ValueError("a story needs at least one article to lead it")
    kinds = [_lead_kind(c) for c in candidates]
    pool = [i for i, kind in enumerate(kinds) if kind == min(kinds)]
    fullest = max(candidates[i].completeness for i in pool)
    return min(pool, key=lambda i: _lead_key(candidates[i], fullest, i))


def _lead_kind(candidate: LeadCandidate) -> tuple[int, bool]:
    category = candidate.category.lower()
    kind = 0 if category in NEWS_CATEGORIES else 2 if category in COMMENT_CATEGORIES else 1
    return kind, candidate.type.lower() not in LEAD_TYPES


def _lead_key(
    candidate: LeadCandidate, fullest: float, index: int
) -> tuple[bool, bool, datetime, float, int]:
    complete = candidate.completeness >= COMPLETE_SHARE * fullest
    when = candidate.published_at or datetime.max.replace(tzinfo=UTC)
    return not complete, candidate.published_at is None, when, -candidate.completeness, index
