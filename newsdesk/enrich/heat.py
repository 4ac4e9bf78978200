"""Heat: how hot an article's story is right now, as an integer 0-100 (``-1`` when unknown).

Heat reads the story, not the article: every article of the story as ``(published_at, provider domain)``.
Three parts, each decayed with a half-life so yesterday's story cools by itself:

* ``providers`` — Σ over distinct providers of ``2^(-age of its latest article / half-life)``:
  independent newsrooms covering an event is the strongest sign it matters;
* ``articles``  — Σ over articles of ``2^(-age / half-life)`` × ARTICLE_WEIGHT: volume, weighted less
  because one outlet can publish many updates;
* ``velocity``  — VELOCITY_WEIGHT × log2 of (articles per hour in the last VELOCITY_WINDOW_HOURS) over
  (articles per hour since the story began), when above 1: a story that is speeding up.

``raw = providers + articles + velocity`` is mapped to ``round(100 × (1 - exp(-raw / scale)))``,
saturating: ten fresh providers are hot (≈ 80), one fresh article is lukewarm (≈ 15).

The scale is relative to the beat. A desk that follows a slow field (a few stories a day) would read 0
everywhere with a fixed scale: two days at a 6-hour half-life leave 1/256 of any story. So the caller
passes ``reference``, the raw activity of the hottest story of the beat's recent window
(:func:`beat_reference`), and ``scale = min(HEAT_SCALE, reference / HOTTEST_UNITS)``: on a busy beat
(hottest raw ≥ HEAT_SCALE × HOTTEST_UNITS) nothing changes; on a slow one the hottest story maps to
HOTTEST_HEAT and the others in proportion to their activity, so a front page ranks instead of tying. The
reasons share the final score in proportion to their raw parts, so they add up to it; a fourth reason,
``beat``, says which scale was used. docs/scoring.md has the figures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
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

HOTTEST_HEAT = 80
HOTTEST_UNITS = math.log(100 / (100 - HOTTEST_HEAT))
"""On a slow beat the hottest recent story reads 80 (``raw / scale = ln 5 ≈ 1.61``): high, with room
left for a story hotter than anything lately, and 80 is what ten fresh providers reach on a busy beat
(docs/scoring.md), so "as hot as it gets here" reads the same on both."""


@dataclass(frozen=True, slots=True)
class Activity:
    """A story's decayed activity at one time: the three raw parts and what the reasons tell about them."""

    providers: float
    articles: float
    velocity: float
    ratio: float
    distinct: int
    count: int
    newest_hours: float
    half_life_hours: float = HALF_LIFE_HOURS

    @property
    def raw(self) -> float:
        return self.providers + self.articles + self.velocity


def story_activity(
    story_events: Sequence[tuple[datetime, str]], *, now: datetime, half_life_hours: float = HALF_LIFE_HOURS
) -> Activity | None:
    """The raw activity of a story from its articles' ``(published_at, provider_domain)``; ``None`` when
    there is no article. Dates after ``now`` count as ``now`` (clock skew between publishers must not make
    a story hotter than fresh)."""
    if half_life_hours <= 0:
        raise ValueError(f"half_life_hours must be > 0, got {half_life_hours}")
    if not story_events:
        return None
    now = utc(now)
    ages = [max((now - utc(when)).total_seconds() / 3600.0, 0.0) for when, _ in story_events]
    decay = [0.5 ** (age / half_life_hours) for age in ages]
    velocity, ratio = _velocity(ages)
    return Activity(
        providers=_providers(story_events, decay),
        articles=ARTICLE_WEIGHT * sum(decay),
        velocity=velocity,
        ratio=ratio,
        distinct=len({p for _, p in story_events if p}),
        count=len(story_events),
        newest_hours=min(ages),
        half_life_hours=half_life_hours,
    )


def beat_reference(activities: Sequence[Activity | None]) -> float:
    """The reference for :func:`score_heat`: the raw activity of the hottest of the beat's recent stories
    (0 when none has any)."""
    return max((a.raw for a in activities if a is not None), default=0.0)


def beat_scale(reference: float | None) -> float:
    """The saturation scale for a beat whose hottest recent story has raw activity ``reference``:
    HEAT_SCALE on a busy beat (and without a reference), smaller on a slow one."""
    if reference is None or reference <= 0:
        return HEAT_SCALE
    return min(HEAT_SCALE, reference / HOTTEST_UNITS)


def score_heat(
    story_events: Sequence[tuple[datetime, str]],
    *,
    now: datetime,
    half_life_hours: float = HALF_LIFE_HOURS,
    reference: float | None = None,
) -> tuple[int, tuple[Reason, ...]]:
    """Heat of a story from its articles' ``(published_at, provider_domain)`` at time ``now``.

    ``reference`` is the beat's hottest recent raw activity (:func:`beat_reference`; the story's own is
    used when it is higher); ``None`` keeps the fixed HEAT_SCALE. Returns ``(UNSCORED, ())`` when there is
    no dated article (heat unknown).
    """
    activity = story_activity(story_events, now=now, half_life_hours=half_life_hours)
    if activity is None:
        return UNSCORED, ()
    return heat_of(activity, reference)


def heat_of(activity: Activity, reference: float | None = None) -> tuple[int, tuple[Reason, ...]]:
    """The 0-100 heat of ``activity`` on a beat with hottest raw ``reference``, and its reasons."""
    raw = activity.raw
    scale = beat_scale(None if reference is None else max(reference, raw))
    score = round(100.0 * (1.0 - math.exp(-raw / scale)))
    share = score / raw if raw > 0 else 0.0
    return score, (
        Reason(
            "providers",
            activity.providers * share,
            f"{activity.distinct} providers, {activity.providers:.2f} after decay",
        ),
        Reason(
            "articles",
            activity.articles * share,
            f"{activity.count} articles, newest {activity.newest_hours:.1f} h old",
        ),
        Reason(
            "velocity", activity.velocity * share, f"recent rate {activity.ratio:.1f}x the story's average"
        ),
        Reason("beat", 0.0, _beat_detail(activity, scale)),
    )


def _beat_detail(activity: Activity, scale: float) -> str:
    raw, half_life = activity.raw, f"half-life {activity.half_life_hours:g} h"
    if scale >= HEAT_SCALE:
        return f"activity {raw:.3g} on the fixed scale {HEAT_SCALE:g}, {half_life}"
    share = raw / (scale * HOTTEST_UNITS)
    return f"activity {raw:.3g}, {share:.0%} of the beat's hottest recent story, {half_life}"


def parse_half_lives(entries: Sequence[str], topics: Collection[str]) -> dict[str, float]:
    """The ``heat_half_life_topics`` setting — ``"Topic=hours"`` items — as ``{topic: hours}``. Raises
    ``ValueError`` naming the first item that is not ``name=hours``, names no topic of ``topics``, or
    gives hours that are not a positive number."""
    out: dict[str, float] = {}
    for entry in entries:
        name, sep, hours = entry.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"{entry!r}: expected 'Topic=hours'")
        if name not in topics:
            raise ValueError(f"{entry!r}: no topic {name!r} in the taxonomy")
        try:
            value = float(hours)
        except ValueError:
            raise ValueError(f"{entry!r}: hours must be a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{entry!r}: hours must be > 0")
        out[name] = value
    return out


def story_half_life(topics: Iterable[str], by_topic: Mapping[str, float], default: float) -> float:
    """A story's half-life: the longest configured for any of its articles' topics (a story on a slow beat
    cools at that beat's pace even when it also touches a fast one), else ``default``."""
    return max((by_topic[t] for t in topics if t in by_topic), default=default)


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
