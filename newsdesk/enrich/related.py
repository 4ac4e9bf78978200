"""Related articles: the nearest neighbours of an article in embedding space, diversified.

The rules, in the order they are applied to the index's candidates (best cosine first):

1. never the article itself, nor any of its near-duplicates (they are the same text, not "related");
2. only articles published within ``±window`` of this one (old neighbours are background, not news);
3. not the article's own story unless ``same_story_ok`` (those are other reports of the same event);
4. at most one article per story — the most similar one stands for its story; an article without a
   story counts as a story of its own;
5. optionally at most ``max_per_domain`` articles from one provider domain;
6. nothing below ``min_similarity``.

Similarity is the product's pair score (``similarity.Calibration.score_pair``) when the caller passes a
calibration: the cosine calibrated for the two articles' languages when both are known, plus what their
shared names add when both have a names sketch. The candidates are re-ranked by it, so an English and
a Chinese report of one event rank as an English pair with the same judgement would (the index itself
ranks plain cosines, which the over-fetch below leaves room for).

Candidates the caller has no metadata for are skipped. The index is over-fetched (``k`` × a factor,
growing until ``k`` survive or the index is exhausted) because the filters discard many neighbours:
in a busy story most of the nearest vectors belong to that one story.

:func:`relate` is pure apart from reading ``index``; the orchestrator loads metadata and stores the result.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.similarity import (
    IDENTITY,
    Calibration,
    read_sketch,
    relation,
    stored_overlaps,
)
from newsdesk.enrich.vectors import Searchable

DEFAULT_K = 5
DEFAULT_WINDOW = timedelta(days=14)
# First fetch is k × this; each retry multiplies the fetch by GROWTH until MAX_CANDIDATES. A story
# rarely has more than a few dozen close neighbours, so 10 × 5 = 50 candidates usually suffice at once.
OVERFETCH_FACTOR = 10
GROWTH = 4
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class RelatedMeta:
    """What the diversification rules need to know about a candidate article."""

    story_id: int | None
    published_at: datetime
    domain: str
    language: str | None = None
    names: bytes | None = None  # the stored names sketch (similarity.names_to_bytes: its key's tag too)


@dataclass(frozen=True)
class RelatedChoice:
    """One related article and its similarity to the article it is related to (the cosine, calibrated
    for the two languages when a calibration applied)."""

    article_id: int
    similarity: float


@dataclass(frozen=True)
class _Rules:
    published_at: datetime
    window: timedelta
    own_story: int | None
    same_story_ok: bool
    max_per_domain: int | None
    min_similarity: float


def relate(
    article_id: int,
    vector: Vectors,
    published_at: datetime,
    index: Searchable,
    meta: Mapping[int, RelatedMeta],
    *,
    k: int = DEFAULT_K,
    window: timedelta = DEFAULT_WINDOW,
    same_story_ok: bool = False,
    near_dups: Collection[int] = (),
    max_per_domain: int | None = None,
    min_similarity: float = 0.0,
    calibration: Calibration = IDENTITY,
) -> tuple[RelatedChoice, ...]:
    """Up to ``k`` related articles for ``article_id``, best first (see the module docstring).

    Datetimes must all be timezone-aware (UTC, as the store keeps them) or all naive.
    """
    if k <= 0:
        return ()
    own = meta.get(article_id)
    rules = _Rules(
        published_at=published_at,
        window=window,
        own_story=own.story_id if own else None,
        same_story_ok=same_story_ok,
        max_per_domain=max_per_domain,
        min_similarity=min_similarity,
    )
    exclude = {article_id, *near_dups}
    fetch = k * OVERFETCH_FACTOR
    while True:
        candidates = index.search(vector, fetch, exclude=exclude)
        _read_ahead(meta, [candidate_id for candidate_id, _ in candidates])
        chosen = _choose(_calibrated(candidates, meta, own, calibration), meta, rules, k)
        if len(chosen) >= k or len(candidates) < fetch or fetch >= MAX_CANDIDATES:
            return chosen
        fetch = min(fetch * GROWTH, MAX_CANDIDATES)


def _read_ahead(meta: Mapping[int, RelatedMeta], ids: list[int]) -> None:
    """Let a ``meta`` that reads from the store as it is asked (the enricher's, which has ``read``) read a
    search's candidates in one go: scoring and the rules then look each one up, and a wider search's
    new ids were read one query per id (≈ 60% of a 10,000-article run's related stage, by a py-spy
    profile). With a calibration every candidate is looked up anyway (its pair score); without one the
    rules stop at ``k``, so a few more rows may be read. The choices are the same either way."""
    read = getattr(meta, "read", None)
    if callable(read):
        read(ids)


def _calibrated(
    candidates: list[tuple[int, float]],
    meta: Mapping[int, RelatedMeta],
    own: RelatedMeta | None,
    calibration: Calibration,
) -> list[tuple[int, float]]:
    """``candidates`` with their pair scores, best first (as given when nothing is calibrated)."""
    if not (calibration.maps or calibration.weighs_names) or own is None:
        return candidates
    infos = [meta.get(candidate_id) for candidate_id, _ in candidates]
    shared = stored_overlaps(read_sketch(own.names), [info.names if info else None for info in infos])
    scored = []
    for (candidate_id, cosine), info, names in zip(candidates, infos, shared, strict=True):
        rel = relation(own.language, info.language if info else None)
        scored.append((candidate_id, calibration.score_pair(cosine, rel, names)))
    return sorted(scored, key=lambda pair: -pair[1])


def _choose(
    candidates: Iterable[tuple[int, float]], meta: Mapping[int, RelatedMeta], rules: _Rules, k: int
) -> tuple[RelatedChoice, ...]:
    """Walk candidates best first and keep those that pass every rule, until ``k`` are kept."""
    stories: set[int] = set()
    domains: dict[str, int] = {}
    chosen: list[RelatedChoice] = []
    for candidate_id, similarity in candidates:
        info = meta.get(candidate_id)
        if info is None or not _admissible(info, similarity, rules, stories, domains):
            continue
        if info.story_id is not None:
            stories.add(info.story_id)
        domains[info.domain] = domains.get(info.domain, 0) + 1
        chosen.append(RelatedChoice(candidate_id, similarity))
        if len(chosen) == k:
            break
    return tuple(chosen)


def _admissible(
    info: RelatedMeta, similarity: float, rules: _Rules, stories: set[int], domains: dict[str, int]
) -> bool:
    if similarity < rules.min_similarity:
        return False
    if abs(info.published_at - rules.published_at) > rules.window:
        return False
    if info.story_id is not None:
        if info.story_id in stories:
            return False
        if info.story_id == rules.own_story and not rules.same_story_ok:
            return False
    return rules.max_per_domain is None or domains.get(info.domain, 0) < rules.max_per_domain
