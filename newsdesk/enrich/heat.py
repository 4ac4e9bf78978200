"""Heat: how hot an article's story is right now, as an integer 0-100 (``-1`` when unknown).

Heat reads the story, not the article: every article of the story as ``(published_at, provider domain)``.
Three parts, each decayed with a half-life so yesterday's story cools by itself:

* ``providers`` — Σ over distinct providers of ``2^(-age of its latest article / half-life)``:
  independent newsrooms covering an event is the strongest sign it matters;
* ``articles``  — Σ over articles of ``2^(-age / half-life)`` × ARTICLE_WEIGHT: volume, weighted less
  because one outlet can publish many updates;
* ``velocity``  — VELOCITY_WEIGHT × log2 of (articles per hour in the last VELOCITY_WINDOW_HOURS) over
  (articles per hour since the story began), when above 1: a story that is speeding up.

``raw = providers + articles + velocity`` is mapped to ``round(100 × (1 - exp(-raw / HEAT_SCALE)))``,
saturating: ten fresh providers are hot (≈ 80), one fresh article is lukewarm (≈ 15). The reasons share the
final score in proportion to their raw parts, so they add up to it. docs/scoring.md has the figures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime

from newsdesk.model import UNSCORED, Reason, utc

log = logging.getLogger(__name__)

HALF_LIFE_HOURS = 6.0
"""A story's heat halves every 6 hours without new coverage: the news cycle of a wire story (morning
coverage is stale by evening). A setting: a weekly digest would use days."""

ARTICLE_WEIGHT = 0.3
"""One more article from a provider already counted adds 0.3 of what a new provider adds."""

VELOCITY_WEIGHT = 1.0
VELOCITY_WINDOW_HOURS = 2.0
MAX_VELOCITY_RATIO = 16.0
"""Velocity compares the last 2 hours with the story's whole life; the ratio is capped at 16 (4 raw
points) so one burst cannot outweigh breadth of coverage."""

MIN_AGE_HOURS = 1.0
"""A story younger than an hour counts as an hour old: avoids dividing by a near-zero age."""

HEAT_SCALE = 8.0
"""Saturation: ``raw = 8`` (e.g. six fresh providers and seven articles) maps to 63; ``raw = 14`` to 83."""


def score_heat(
    story_events: Sequence[tuple[datetime, str]],
    *,
    now: datetime,
    half_life_hours: float = HALF_LIFE_HOURS,
) -> tuple[int, tuple[Reason, ...]]:
    """Heat of a story from its articles' ``(published_at, provider_domain)`` at time ``now``.

    Returns ``(UNSCORED, ())`` when there is no dated article (heat unknown). Dates after ``now`` count
    as ``now`` (clock skew between publishers must not make a story hotter than fresh).
    """
    if not story_events:
        return UNSCORED, ()
    if half_life_hours <= 0:
        raise ValueError(f"half_life_hours must be > 0, got {half_life_hours}")
    now = utc(now)
    ages = [max((now - utc(when)).total_seconds() / 3600.0, 0.0) for when, _ in story_events]
    decay = [0.5 ** (age / half_life_hours) for age in ages]
    providers = _providers(story_events, decay)
    articles = ARTICLE_WEIGHT * sum(decay)
    velocity, ratio = _velocity(ages)
    raw = providers + articles + velocity
    score = round(100.0 * (1.0 - math.exp(-raw / HEAT_SCALE)))
    share = score / raw if raw > 0 else 0.0
    distinct = len({p for _, p in story_events if p})
    return score, (
        Reason("providers", providers * share, f"{distinct} providers, {providers:.2f} after decay"),
        Reason("articles", articles * share, f"{len(story_events)} articles, newest {min(ages):.1f} h old"),
        Reason("velocity", velocity * share, f"recent rate {ratio:.1f}x the story's average"),
    )


def _providers(events: Sequence[tuple[datetime, str]], decay: Sequence[float]) -> float:
    """Σ over distinct providers of the decay of their latest article (no domain: one provider each)."""
    latest: dict[str, float] = {}
    for index, ((_, provider), weight) in enumerate(zip(events, decay, strict=True)):
        key = provider or f"#{index}"
        latest[key] = max(latest.get(key, 0.0), weight)
    return sum(latest.values())


def _velocity(ages: Sequence[float]) -> tuple[float, float]:
    """(velocity points, ratio of the recent rate to the lifetime rate)."""
    life = max(max(ages), MIN_AGE_HOURS)
    recent = sum(1 for age in ages if age <= VELOCITY_WINDOW_HOURS)
    window = min(VELOCITY_WINDOW_HOURS, life)
    ratio = (recent / window) / (len(ages) / life)
    points = VELOCITY_WEIGHT * math.log2(min(ratio, MAX_VELOCITY_RATIO)) if ratio > 1 else 0.0
    return points, ratio
