"""Semantic search: the articles nearest in meaning to a query text, for the catalog's ``semantic`` and
``hybrid`` modes.

The query is embedded with the same model as the articles (the ``embed_model`` setting unless the
caller hands over a loaded one) and searched over a copy of the stored vectors: exact nearest
neighbours, or HNSW above :data:`ANN_MIN_VECTORS`. The exact copy keeps each vector rounded to int8
(896 bytes, not 3,584: ≈ 90 MB at 100,000 articles in each API worker instead of ≈ 350, read from
the store a chunk at a time), and the cosines of the answers are computed again from the stored
vectors (``ExactScores``), so a ranking is the exact one but for neighbours within a rounding error of
its last place. The copy follows the store's change stamp: when it
has moved, the change log names the articles whose vectors were written since (``ChangeSet.vectors``)
and just those are read and put in; a gap the log cannot describe loads every vector again. A vector
written by any process is searched from the next query on (it was up to a minute before 2026-12-06).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first semantic query, not with the catalog
    from .enrich.base import Embedder
    from .enrich.vectors import VectorIndex
    from .store import Store

log = logging.getLogger(__name__)

# Above this many vectors use HNSW: exact search grows linearly with the vectors, while an HNSW build
# costs seconds at each full load (latencies: docs/benchmarks.md).
ANN_MIN_VECTORS = 200_000

Ranking = list[tuple[int, float]]


class SemanticSearch:
    """Nearest articles to a query text. The embedder is loaded on first use (start-up stays fast when
    nobody searches semantically) and the stored vectors are copied into an index kept current with
    the change log. Thread-safe: handlers run in a thread pool."""

    def __init__(self, store: Callable[[], Store], load: Callable[[], Embedder]) -> None:
        self._store = store
        self._load = load
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._stamp: int | None = None  # the change stamp read just before the index was last brought up

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load()
            return self._embedder

    def nearest(self, q: str, k: int) -> Ranking:
        """``(article id, cosine)`` best first; empty when no article has a vector from this model."""
        return self.ranker(q)(k)

    def ranker(self, q: str) -> Callable[[int], Ranking]:
        """``k → the nearest k``, embedding ``q`` once however deep the caller reads."""
        from .enrich.vectors import ExactScores

        embedder = self.embedder()
        index = self._current_index(embedder.name)
        if index is None or len(index) == 0:
            return lambda k: []
        vector = embedder.embed([q])
        # The exact cosines of the index's answers, from the stored vectors; a rescorer for each query
        # (it keeps what it read for the deeper rounds of the same query, and no thread shares it).
        exact = ExactScores(index, embedder.dim, partial(self._store().load_embeddings, embedder.name))
        return lambda k: exact.search(vector, k)

    def _current_index(self, model: str) -> VectorIndex | None:
        """The index as of now. The stamp is read before the vectors, so the index is never older
        than the stamp it is filed under (at worst newer: the next catch-up puts a vector in again)."""
        store = self._store()
        with self._lock:
            stamp = int(store.change_stamp()[0])
            if self._stamp is None or self._index is None:
                self._index = self._build(model)
            elif stamp != self._stamp:
                self._catch_up(store, model, self._stamp, stamp)
            self._stamp = stamp
            return self._index

    def _catch_up(self, store: Store, model: str, old: int, new: int) -> None:
        """Put in the vectors written between stamps ``old`` and ``new``, and take out those of articles
        that went (a delete or a fold notes ``lists``: the touched articles with no vector left are
        taken out); all again if the log cannot say."""
        changes = store.changes_between(old, new)
        if changes.everything or self._index is None:
            self._index = self._build(model)
            return
        gone = changes.articles - changes.vectors if changes.lists else frozenset()
        if not (changes.vectors or gone):
            return
        ids, vectors = store.load_embeddings(model, ids=sorted(changes.vectors | gone))
        if ids:
            self._index.add(ids, vectors)  # replaces an article's earlier vector
        if gone := gone - set(ids):
            self._index.remove(sorted(gone))

    def _build(self, model: str) -> VectorIndex | None:
        from .enrich.vectors import build_index

        started, store = time.perf_counter(), self._store()
        ann = store.count_embeddings(model) >= ANN_MIN_VECTORS
        index: VectorIndex | None = None
        for ids, vectors in store.embedding_chunks(model):
            if index is None:
                index = build_index(ids, vectors, ann=ann, int8=True)
            else:
                index.add(ids, vectors)
        if index is None:
            return None
        log.info(
            "vector index loaded",
            extra={
                "vectors": len(index),
                "model": model,
                "duration_ms": round((time.perf_counter() - started) * 1000),
            },
        )
        return index
