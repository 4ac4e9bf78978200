"""The related stage's vector index kept by a long-lived enricher between its runs (issue 14).

Before, every run opened ``vectors.usearch`` and saved it again: at 100k articles ≈ 100 MB read and
written each desk cycle, two thirds of the enrichment CPU of a 5-article cycle (docs/benchmarks.md, "The
desk keeps its related index between cycles"). Now the index stays in memory and follows the store,
as semantic search's copy does (semantic.py):

- at each run, the change log since the stamp the index was last brought to names the articles whose
  vectors were written (put in again, replacing an older vector) and, when a list could read
  differently (a delete, a fold), the articles touched: those the index holds whose vector is gone are
  taken out. Another writer (a ``newsdesk run`` beside the desk), a fold, a delete or a re-embed are
  found so;
- the log is read a page at a time; when it cannot say (far behind, a transaction that noted too much,
  the stamp went back, a file of an older version without its stamp), the ids are reconciled with the
  stored vectors, read a chunk at a time: missing ones put in, gone ones taken out. A vector written again under the same id and model in that gap keeps its old
  place in the graph (its candidates' scores are exact anyway: :class:`~.vectors.ExactScores`);
- the run's own vectors go in last, in enrichment order, as the per-run load did, so the graph and the
  related lists are the ones it made.

It holds the vectors of recent articles only, not the whole store: those whose time (``sort_at``) is at
or after its **horizon**, which lies the related window and one to two :data:`HORIZON_STEP` before now
and moves once a step (:func:`horizon_at`). Related articles come only from within the window of an
article, so a desk relating what it has just fetched needs no older vector, and the index of a desk
that runs for a year holds about four weeks of articles, not the year (at 1.3 KB an article, a year of
a few thousand articles a day would be gigabytes). When the horizon moves, the index is built again
from the stored vectors after it (that is when its memory is handed back). A run whose articles'
windows reach before the horizon (a backfill of old articles, a sitemap's archive) is related by a
scan of the stored vectors instead (:mod:`~newsdesk.enrich.scan`; the enricher asks :meth:`KeptIndex.covers`).

The file is a cache of the store and a restart's head start: saved with the stamp it is in step with
(its manifest) at most every :data:`SAVE_EVERY_S` unless :data:`SAVE_AFTER_ADDED` vectors went in since,
and at a clean stop (:meth:`KeptIndex.flush`, the desk's). A crash costs a catch-up from the last saved
stamp; a missing or unreadable file costs a rebuild, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.vectors import RELATED_HNSW, AnnIndex, VectorIndex, open_index, read_manifest
from newsdesk.model import now
from newsdesk.store.changes import MAX_ROWS

if TYPE_CHECKING:
    from newsdesk.store import Store

log = logging.getLogger(__name__)

SAVE_EVERY_S = 300.0
"""The file is written at most this often (wall clock, from its manifest's ``saved_at``, so a cron of
one-shot runs writes it as seldom as a desk does): each save is the whole index, ≈ 100 MB at 100k."""
SAVE_AFTER_ADDED = 1_000
"""...unless at least this many vectors went in since the last save (a first build, a large run): a
restart then need not put them in again."""


HORIZON_STEP = timedelta(days=7)
"""How far the horizon moves at once. A desk builds its index again once a step (a few minutes of CPU
for four weeks of a busy desk's articles), and an article is related from the index when it is at most
one step older than now (an older one: by a scan)."""
_STEPS_FROM = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: the horizon moves on Mondays at 00:00 UTC
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)


def horizon_at(moment: datetime, window: timedelta) -> datetime:
    """The earliest time of the articles whose vectors the index holds at ``moment``: on a step boundary,
    at least ``window`` and one step before ``moment`` (so an article up to a step old has its whole
    window inside) and less than two steps more."""
    steps = (moment - window - HORIZON_STEP - _STEPS_FROM) // HORIZON_STEP
    return _STEPS_FROM + steps * HORIZON_STEP


CATCH_UP_MAX_MOVES = 50_000
"""Past this many stamp moves since the index was in step, its ids are reconciled with the stored
vectors (one read of them all) instead of reading the log a page at a time."""


class KeptIndex:
    """The related index of the recent stored vectors of one model, kept between runs (see the module).
    ``window``: the related window; ``None`` keeps every stored vector (no horizon)."""

    def __init__(self, store: Store, path: Path, window: timedelta | None = None) -> None:
        self._store = store
        self.path = path
        self._window = window
        self._index: VectorIndex | None = None
        self._horizon: datetime | None = None  # what the index holds: the vectors of articles from here on
        self._model = ""
        self._stamp = 0  # the change stamp the index is in step with (read before its vectors)
        self._saved_at = 0.0  # wall clock of the file's last save (its manifest's)
        self._added = 0  # vectors put in since the last save
        self._dirty = False  # anything put in or taken out since the last save
        self.reconciled = 0  # times the ids were reconciled with the store (the log could not say)

    def current(
        self, model: str, dim: int, run: Sequence[Sequence[int]], *, batch: int = 1000
    ) -> VectorIndex:
        """The index brought up to date with the store, this run's vectors (``run``: its batches of ids,
        in enrichment order, their vectors stored) put in last in that order; saved when due."""
        stamp = int(self._store.change_stamp()[0])
        mine = {i for ids in run for i in ids}
        horizon = self.horizon()
        if self._index is None or self._model != model or self._horizon != horizon:
            self._open(model, dim, stamp, mine, batch, horizon)
        else:
            self._catch_up(model, self._stamp, stamp, mine, batch)
        self._stamp = stamp
        self._put_run(model, run)
        self._save_if_due()
        assert self._index is not None
        return self._index

    def horizon(self) -> datetime | None:
        """The horizon the index holds from now (``None``: every vector)."""
        return None if self._window is None else horizon_at(now(), self._window)

    def covers(self, earliest: datetime) -> bool:
        """Whether the index holds every vector the related of an article of time ``earliest`` (or
        later) can come from: its window begins at or after the horizon."""
        if self._window is None:
            return True
        return earliest - self._window >= horizon_at(now(), self._window)

    def flush(self) -> None:
        """Save what is not saved yet (a clean stop): the next start reads it instead of catching up."""
        if self._index is not None and self._dirty:
            self._save()

    # ---------------------------------------------------------------------------------- keeping up

    def _open(
        self, model: str, dim: int, stamp: int, mine: set[int], batch: int, horizon: datetime | None
    ) -> None:
        """The saved file caught up from its stamp; a file of an older version (no model, no stamp) has
        its ids reconciled with the stored vectors; nothing to start from (missing, another model's or
        another horizon's, unreadable) is a rebuild: every stored vector from the horizon on put in."""
        self._index = None  # a kept index of another horizon goes before the new one is built
        manifest = read_manifest(self.path) or {}
        named = manifest.get("model")
        reusable = (named is None or named == model) and manifest.get("horizon") == _text(horizon)
        self._index = (
            open_index(self.path, dim, params=RELATED_HNSW) if reusable else AnnIndex(dim, RELATED_HNSW)
        )
        self._model, self._horizon, self._added, self._dirty = model, horizon, 0, False
        self._saved_at = float(manifest.get("saved_at", 0.0)) if len(self._index) else 0.0
        saved = manifest.get("stamp") if named == model else None
        if isinstance(saved, int) and len(self._index):
            self._catch_up(model, saved, stamp, mine, batch)
        else:
            self._reconcile(model, mine, batch)

    def _catch_up(self, model: str, old: int, new: int, mine: set[int], batch: int) -> None:
        """Put in the vectors written between stamps ``old`` and ``new`` (but this run's, which go in
        last) and take out those of articles that went; reconcile when the log cannot say."""
        assert self._index is not None
        changed = self._changes(old, new)
        if changed is None:
            self._reconcile(model, mine, batch)
            return
        written, touched = changed
        asked = sorted((written | self._held(sorted(touched - written))) - mine)
        if not asked:
            return
        ids, matrix = self._store.load_embeddings(model, ids=asked)
        inside = self._inside(ids)
        put = [n for n, i in enumerate(ids) if i in written and i in inside]
        if put:
            self._put([ids[n] for n in put], matrix[put])
        outside = self._held([i for i in ids if i not in inside])  # its article's time moved back
        if gone := sorted((set(asked) - set(ids)) | outside):
            self._index.remove(gone)
            self._dirty = True

    def _changes(self, old: int, new: int) -> tuple[set[int], set[int]] | None:
        """(articles whose vectors were written, articles touched where a list could read differently)
        between the two stamps, read :data:`~newsdesk.store.changes.MAX_ROWS` log rows at a time (a
        busy desk's cycle moves the stamp hundreds of times); None when the log cannot say: the stamp
        went back (another database behind the folder, a restored one), a gap past
        :data:`CATCH_UP_MAX_MOVES`, a transaction that noted too much, rows pruned."""
        if new < old or new - old > CATCH_UP_MAX_MOVES:
            return None
        written: set[int] = set()
        touched: set[int] = set()
        for after in range(old, new, MAX_ROWS):
            changes = self._store.changes_between(after, min(after + MAX_ROWS, new))
            if changes.everything:
                return None
            written |= changes.vectors
            if changes.lists:
                touched |= changes.articles
        return written, touched

    def _reconcile(self, model: str, mine: set[int], batch: int) -> None:
        """The stored vectors' ids against the index's, a chunk of vectors at a time: missing ones put
        in (all of them into an empty index: a rebuild), ones whose vector is gone taken out."""
        assert self._index is not None
        self.reconciled += 1
        self._dirty = True  # in step with a stamp the file does not have (saved when due)
        started = time.perf_counter()
        held = set(self._index.ids())
        stored: set[int] = set()
        for ids, matrix in self._stored(model, batch):
            stored.update(ids)
            new = [n for n, i in enumerate(ids) if i not in held and i not in mine]
            if new:
                self._put([ids[n] for n in new], matrix[new])
        if gone := sorted(held - stored):
            self._index.remove(gone)
            self._dirty = True
        log.info(
            "related index reconciled with the store",
            extra={
                "vectors": len(self._index),
                "removed": len(gone),
                "s": round(time.perf_counter() - started, 2),
            },
        )

    def _stored(self, model: str, batch: int) -> Iterator[tuple[list[int], Vectors]]:
        """The stored vectors the index is to hold, ``batch`` at a time: those from the horizon on."""
        if self._horizon is None:
            yield from self._store.iter_embeddings(model, batch=batch)
            return
        for ids, _, matrix in self._store.embeddings_between(model, self._horizon, _LATEST, batch=batch):
            yield ids, matrix

    def _inside(self, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` whose article's time is at or after the horizon."""
        if self._horizon is None:
            return set(ids)
        horizon = self._horizon
        return {i for i, at in self._store.times_of(ids).items() if at >= horizon}

    def _put_run(self, model: str, run: Sequence[Sequence[int]]) -> None:
        """This run's vectors, batch by batch in enrichment order (as one batch would add them)."""
        for batch in run:
            if not batch:
                continue
            ids, matrix = self._store.load_embeddings(model, ids=batch)
            rows = {article_id: n for n, article_id in enumerate(ids)}
            found = [i for i in batch if i in rows]
            if found:
                self._put(found, matrix[[rows[i] for i in found]])

    def _put(self, ids: Sequence[int], matrix: Vectors) -> None:
        assert self._index is not None
        self._index.add(ids, matrix)
        self._added += len(ids)
        self._dirty = True

    def _held(self, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` the index holds."""
        assert self._index is not None
        index = self._index
        return {i for i in ids if i in index}

    # --------------------------------------------------------------------------------------- saving

    def _save_if_due(self) -> None:
        if not self._dirty and self.path.is_file():
            return
        since = time.time() - self._saved_at
        due = not 0 <= since < SAVE_EVERY_S or self._added >= SAVE_AFTER_ADDED
        if due or not self.path.is_file():  # a re-embedding pass deletes it (reembed.py)
            self._save()

    def _save(self) -> None:
        assert self._index is not None
        saved_at = time.time()
        extra = {
            "model": self._model,
            "stamp": self._stamp,
            "saved_at": saved_at,
            "horizon": _text(self._horizon),
        }
        self._index.save(self.path, extra=extra)
        self._saved_at, self._added, self._dirty = saved_at, 0, False


def _text(horizon: datetime | None) -> str | None:
    """A horizon as the file's manifest keeps it."""
    return None if horizon is None else horizon.isoformat()


__all__ = ["HORIZON_STEP", "SAVE_AFTER_ADDED", "SAVE_EVERY_S", "KeptIndex", "horizon_at"]
