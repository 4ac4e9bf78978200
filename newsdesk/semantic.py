"""Semantic search: the articles nearest in meaning to a query text, for the catalog's ``semantic`` and
``hybrid`` modes.

The query is embedded with the same model as the articles (the ``embed_model`` setting unless the
caller hands over a loaded one) and searched over a copy of the stored vectors: exact nearest
neighbours, or HNSW above :data:`ANN_MIN_VECTORS`. The copy is refreshed every :data:`VECTOR_REFRESH_S`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first semantic query, not with the catalog
    from .enrich.base import Embedder
    from .enrich.vectors import VectorIndex
    from .store import Store

log = logging.getLogger(__name__)

VECTOR_REFRESH_S = 60.0  # how stale the in-memory vector copy may get; new articles arrive by polled runs
# Above this many vectors use HNSW: exact search grows linearly with the vectors, while an HNSW build
# costs seconds once per refresh (latencies: docs/benchmarks.md).
ANN_MIN_VECTORS = 200_000

Ranking = list[tuple[int, float]]


class SemanticSearch:
    """Nearest articles to a query text. The embedder is loaded on first use (start-up stays fast when
    nobody searches semantically) and the stored vectors are copied into an index refreshed every
    ``refresh_s`` seconds. Thread-safe: handlers run in a thread pool."""

    def __init__(
        self,
        store: Callable[[], Store],
        load: Callable[[], Embedder],
        *,
        refresh_s: float = VECTOR_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._load = load
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._loaded_at: float | None = None

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
        embedder = self.embedder()
        index = self._current_index(embedder.name)
        if index is None or len(index) == 0:
            return lambda k: []
        vector = embedder.embed([q])
        return lambda k: index.search(vector, k)

    def _current_index(self, model: str) -> VectorIndex | None:
        with self._lock:
            fresh = self._loaded_at is not None and self._clock() - self._loaded_at < self._refresh_s
            if not fresh:
                self._index = self._build(model)
                self._loaded_at = self._clock()
            return self._index

    def _build(self, model: str) -> VectorIndex | None:
        from .enrich.vectors import build_index

        started = time.perf_counter()
        ids, vectors = self._store().load_embeddings(model)
        if not ids:
            return None
        index = build_index(ids, vectors, ann=len(ids) >= ANN_MIN_VECTORS)
        log.info(
            "vector index loaded",
            extra={
                "vectors": len(ids),
                "model": model,
                "duration_ms": round((time.perf_counter() - started) * 1000),
            },
        )
        return index
