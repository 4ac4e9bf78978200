"""The enrich stage's heat step (``enricher.py``): every touched or still-warm story's heat, scored
from its articles (``enrich/heat.py``, pure) and saved with them through the store.

Heat is relative to the hottest of those stories, so it takes two passes over them: the hottest raw
activity first, then each story's score, computed again from its articles and saved. Each pass reads
what heat needs of each article (``store.HeatMember``: time, domain, topics, current heat), never whole
articles, for a chunk of stories holding at most :data:`MEMBERS` articles between them: the chunks were
a fixed number of stories, and a few big stories (a large run's generated articles make about seventy)
put every article of the run, texts included, in memory at once — the step after pass 1 that grew with
the run (docs/benchmarks.md, "Large runs"). Nothing is kept per story between the passes but the
hottest raw activity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from datetime import datetime, timedelta

from .enrich import heat
from .model import UNSCORED, now
from .store import Store
from .store.stories import HeatMember, HeatWrite

log = logging.getLogger(__name__)

RECENT = timedelta(days=3)  # stories touched this recently get their heat recomputed every run
MEMBERS = 2_000  # articles (as HeatMember rows) held at once; a bigger story is read alone
STORIES = 500  # stories asked for at once (one IN list)


class StoryHeat:
    """Scores and saves heat for a run's stories; ``half_lives`` by topic (``heat.parse_half_lives``),
    ``default_half_life`` in hours for a story none of whose topics has one."""

    def __init__(self, store: Store, half_lives: Mapping[str, float], default_half_life: float) -> None:
        self.store = store
        self._half_lives = half_lives
        self._default = default_half_life

    def rescore(self, touched: Set[int]) -> None:
        """Heat for the ``touched`` stories and every recently active one; articles take their story's.
        An untouched story already at 0 stays there: heat only falls while a story gets nothing new."""
        cooling = self.store.warm_story_ids(now() - RECENT)
        story_ids = sorted(set(touched).union(cooling))
        at = now()
        reference = 0.0  # heat.beat_reference over every story, a chunk at a time
        for members in self._chunks(story_ids):
            activities = [self._activity(found, at) for found in members.values()]
            reference = max(reference, heat.beat_reference(activities))
        for members in self._chunks(story_ids):  # one transaction a chunk
            heats = [
                self._heat(story_id, found, self._activity(found, at), reference, story_id in touched)
                for story_id, found in members.items()
            ]
            self.store.save_story_heats(heats)

    def _chunks(self, story_ids: list[int]) -> Iterator[dict[int, list[HeatMember]]]:
        """Each story's members (every story of ``story_ids`` present, maybe with none), for chunks of
        stories holding at most :data:`MEMBERS` articles between them (a bigger story alone)."""
        for chunk in _packed(story_ids, self.store.story_member_counts, MEMBERS, STORIES):
            found = self.store.heat_members(chunk)
            yield {story_id: found.get(story_id, []) for story_id in chunk}

    def _activity(self, members: list[HeatMember], at: datetime) -> heat.Activity | None:
        return heat.story_activity(
            [(m.at, m.domain) for m in members],
            now=at,
            half_life_hours=heat.story_half_life(
                {t for m in members for t in m.topics}, self._half_lives, self._default
            ),
        )

    def _heat(
        self,
        story_id: int,
        members: list[HeatMember],
        found: heat.Activity | None,
        reference: float,
        touched: bool,
    ) -> HeatWrite:
        value, reasons = heat.heat_of(found, reference) if found else (UNSCORED, ())
        # reasons hold ages, so they always differ: an untouched story's articles change on a new value only
        changed = [m.article_id for m in members if m.heat != value or (touched and m.reasons != reasons)]
        log.debug("heat", extra={"story_id": story_id, "heat": value})
        return HeatWrite(story_id, value, tuple(reasons), changed)


def _packed(
    story_ids: list[int], counts_of: Callable[[Sequence[int]], Mapping[int, int]], most: int, width: int
) -> Iterator[list[int]]:
    """``story_ids`` in order, cut into chunks of at most ``width`` stories whose article counts
    (``counts_of``, read ``width`` stories at a time) add up to at most ``most``; a story holding more
    than ``most`` is a chunk of its own."""
    chunk: list[int] = []
    held = 0
    for start in range(0, len(story_ids), width):
        part = story_ids[start : start + width]
        counts = counts_of(part)
        for story_id in part:
            size = counts.get(story_id, 0)
            if chunk and (held + size > most or len(chunk) == width):
                yield chunk
                chunk, held = [], 0
            chunk.append(story_id)
            held += size
    if chunk:
        yield chunk
