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

The file is a cache of the store and a restart's head start: saved with the stamp it is in step with
(its manifest) at most every :data:`SAVE_EVERY_S` unless :data:`SAVE_AFTER_ADDED` vectors went in since,
and at a clean stop (:meth:`KeptIndex.flush`, the desk's). A crash costs a catch-up from the last saved
stamp; a missing or unreadable file costs a rebuild, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.vectors import RELATED_HNSW, AnnIndex, VectorIndex, open_index, read_manifest
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


CATCH_UP_MAX_MOVES = 50_000
"""Past this many stamp moves since the index was in step, its ids are reconciled with the stored
vectors (one read of them all) instead of reading the log a page at a time."""


class KeptIndex:
    """The related index of every stored vector of one model, kept between runs (see the module)."""

    def __init__(self, store: Store, path: Path) -> None:
        self._store = store
        self.path = path
        self._index: VectorIndex | None = None
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
        if self._index is None or self._model != model:
            self._open(model, dim, stamp, mine, batch)
        else:
            self._catch_up(model, self._stamp, stamp, mine, batch)
        self._stamp = stamp
        self._put_run(model, run)
        self._save_if_due()
        assert self._index is not None
        return self._index

    def flush(self) -> None:
        """Save what is not saved yet (a clean stop): the next start reads it instead of catching up."""
        if self._index is not None and self._dirty:
            self._save()

    # ---------------------------------------------------------------------------------- keeping up

    def _open(self, model: str, dim: int, stamp: int, mine: set[int], batch: int) -> None:
        """The saved file caught up from its stamp; a file of an older version (no model, no stamp) has
        its ids reconciled with the stored vectors; nothing to start from (missing, another model's,
        unreadable) is a rebuild: every stored vector put in."""
        manifest = read_manifest(self.path) or {}
        named = manifest.get("model")
        reusable = named is None or named == model
        self._index = (
            open_index(self.path, dim, params=RELATED_HNSW) if reusable else AnnIndex(dim, RELATED_HNSW)
        )
        self._model, self._added, self._dirty = model, 0, False
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
        put = [n for n, i in enumerate(ids) if i in written]
        if put:
            self._put([ids[n] for n in put], matrix[put])
        if gone := sorted(set(asked) - set(ids)):
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
        for ids, matrix in self._store.iter_embeddings(model, batch=batch):
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
        self._index.save(self.path, extra={"model": self._model, "stamp": self._stamp, "saved_at": saved_at})
        self._saved_at, self._added, self._dirty = saved_at, 0, False


__all__ = ["SAVE_AFTER_ADDED", "SAVE_EVERY_S", "KeptIndex"]
