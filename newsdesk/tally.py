"""Topic counts kept up to date from the change log instead of counted again at every change (issue 14,
goal 4).

The front page, the topic pages and ``/api/v1/topics`` show articles per topic. Counting them is a
walk over every published article's topic rows (53–74 ms on PostgreSQL at 100k articles, ≈ 20 ms on
SQLite), and while the desk ingests, the change stamp moves several times a second: each server process
counted again after each move (docs/benchmarks.md).

A :class:`TopicTally` counts once, then follows the change log (``store/changes.py``): the articles a
move touched are read again (their topics, and whether they count) and their part of the counts is
replaced. That needs each touched article's part *before* the move, which the log does not hold; the
tally knows it for two kinds of article only:

- those it has read since its count (it keeps what each adds: ``added``);
- those above the highest id stored when it counted (``top``): they did not exist then and add nothing.

A move that touches any other article (an editor publishing an old one, enrichment finishing one saved
before the count), or that the log cannot describe, makes it count again. While the desk ingests, the
moves are new articles and their enrichment, so the counts follow them for two small reads a move.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .store import Store

MAX_ADDED = 10_000
"""Articles followed since the last count before counting again: the map stays small (a few hundred
kB), and a count every half hour of ingesting at 5 articles a second costs nothing."""


@dataclass(slots=True)
class _Kept:
    stamp: int
    counts: Counter[str]
    top: int  # the highest article id when counted: those above it were not counted
    added: dict[int, tuple[str, ...]] = field(default_factory=dict)  # what each followed article adds

    def known(self, ids: Iterable[int]) -> bool:
        return all(i > self.top or i in self.added for i in ids)


class TopicTally:
    """Articles per topic (published ones only with ``published_only``), as of the change stamp last
    read, for one process. Thread-safe: handlers run in a thread pool."""

    def __init__(self, store: Callable[[], Store], *, published_only: bool) -> None:
        self._store = store
        self._published_only = published_only
        self._kept: _Kept | None = None
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        store = self._store()
        stamp = int(store.change_stamp()[0])  # read before the counts: they are at least this new
        with self._lock:
            kept = self._kept
            if kept is None or not self._follow(store, kept, stamp):
                kept = self._kept = self._count(store, stamp)
            return {topic: n for topic, n in kept.counts.items() if n}

    def _count(self, store: Store, stamp: int) -> _Kept:
        counts, top = store.topic_totals_below(published_only=self._published_only)
        return _Kept(stamp, Counter(counts), top)

    def _follow(self, store: Store, kept: _Kept, stamp: int) -> bool:
        """Bring ``kept`` from its stamp to ``stamp`` from the change log; False when it cannot (then
        ``kept`` is left as it was, to be counted afresh)."""
        if stamp <= kept.stamp:
            return True
        changes = store.changes_between(kept.stamp, stamp)
        touched = changes.articles
        if changes.everything or (changes.lists and not touched) or not kept.known(touched):
            return False
        if len(kept.added) + len(touched) > MAX_ADDED:
            return False
        now = store.counted_topics(sorted(touched), published_only=self._published_only)
        for article_id in touched:
            kept.counts.subtract(kept.added.get(article_id, ()))
            kept.counts.update(now.get(article_id, ()))
            kept.added[article_id] = now.get(article_id, ())
        kept.stamp = stamp
        return True
