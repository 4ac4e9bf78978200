"""Read and write operations the API needs that the facade does not offer (yet), built only on the public
``Store`` / ``Newsdesk`` methods — no SQL here. Candidates to move into the facade: :func:`search`,
:class:`SemanticSearch`, :func:`topic_tree`, :func:`find_topic`, :func:`feed_articles`.

Search modes:

- ``text``     full-text search (FTS5 bm25 on SQLite, ``ts_rank`` on PostgreSQL), ``Store.search``;
- ``semantic`` the query embedded with the same model as the articles, exact (or HNSW for big stores)
  nearest neighbours over the stored vectors;
- ``hybrid``   both lists merged by reciprocal-rank fusion: score = Σ 1 / (k + rank), so an article near
  the top of either list ranks high without calibrating bm25 against cosine.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..app import Newsdesk
from ..enrich.base import Embedder
from ..enrich.vectors import VectorIndex, build_index
from ..model import Article, Taxonomy, Topic
from ..store import ArticleQuery, Store

log = logging.getLogger(__name__)

RRF_K = 60  # Cormack, Clarke & Büttcher (SIGIR 2009): k = 60 worked across their TREC runs; not retuned
RRF_DEPTH = 100  # candidates taken from each list before fusing; deeper lists barely move a top-20
VECTOR_REFRESH_S = 60.0  # how stale the in-memory vector copy may get; new articles arrive by polled runs
# Above this many vectors use HNSW: exact search is 8-9 ms a query at 100k × 384 (DESIGN.md) and grows
# linearly, while an HNSW build costs seconds once per refresh.
ANN_MIN_VECTORS = 200_000
FEED_ITEMS = 50  # items per feed: what feed readers fetch each poll; keeps a feed well under 200 kB
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the article, its score (higher is better) and which lists found it."""

    article: Article
    score: float
    matched_by: tuple[str, ...]


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

    def nearest(self, q: str, k: int) -> list[tuple[int, float]]:
        """``(article id, cosine)`` best first; empty when no article has a vector from this model."""
        embedder = self.embedder()
        index = self._current_index(embedder.name)
        if index is None or len(index) == 0:
            return []
        return index.search(embedder.embed([q]), k)

    def _current_index(self, model: str) -> VectorIndex | None:
        with self._lock:
            fresh = self._loaded_at is not None and self._clock() - self._loaded_at < self._refresh_s
            if not fresh:
                self._index = self._build(model)
                self._loaded_at = self._clock()
            return self._index

    def _build(self, model: str) -> VectorIndex | None:
        started = time.perf_counter()
        ids, vectors = self._store().load_embeddings(model)
        if not ids:
            return None
        index = build_index(ids, vectors, ann=len(ids) >= ANN_MIN_VECTORS)
        log.info("vector index loaded", extra={"vectors": len(ids), "model": model,
                                               "duration_ms": round((time.perf_counter() - started) * 1000)})  # fmt: skip
        return index


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of id lists (each best first): ``(id, Σ 1/(k + rank))`` best first, ties
    broken by the id's first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def search(nd: Newsdesk, semantic: SemanticSearch, q: str, mode: str, limit: int) -> list[Hit]:
    """Search ``q`` in ``mode`` (text | semantic | hybrid); at most ``limit`` hits, best first."""
    if mode == "text":
        return [Hit(a, score, ("text",)) for a, score in nd.store.search(q, limit=limit)]
    if mode == "semantic":
        return _hits(nd.store, semantic.nearest(q, limit), {"semantic": set()})
    text = [a.id for a, _ in nd.store.search(q, limit=RRF_DEPTH) if a.id is not None]
    near = [i for i, _ in semantic.nearest(q, RRF_DEPTH)]
    fused = rrf([text, near])[:limit]
    return _hits(nd.store, fused, {"text": set(text), "semantic": set(near)})


def _hits(store: Store, scored: list[tuple[int, float]], lists: dict[str, set[int]]) -> list[Hit]:
    found = store.get_articles([i for i, _ in scored])
    return [
        Hit(found[i], score, tuple(name for name, ids in lists.items() if not ids or i in ids))
        for i, score in scored
        if i in found
    ]


# ---------------------------------------------------------------------------------------------- topics


def slug(name: str) -> str:
    """``"AI in Finance"`` → ``"ai-in-finance"``: a topic's name as it can appear in a URL path."""
    return _SLUG.sub("-", name.lower()).strip("-")


def find_topic(taxonomy: Taxonomy, key: str) -> Topic | None:
    """The topic named ``key`` exactly, or whose slug is ``key``."""
    for topic in taxonomy.topics:
        if key in (topic.name, slug(topic.name)):
            return topic
    return None


def topic_tree(taxonomy: Taxonomy, counts: dict[str, int], feed_prefix: str) -> list[dict[str, object]]:
    """The taxonomy as nested nodes with article counts, roots first in taxonomy order."""

    def node(topic: Topic) -> dict[str, object]:
        return {
            "name": topic.name,
            "description": topic.description,
            "count": counts.get(topic.name, 0),
            "feed": f"{feed_prefix}/{slug(topic.name)}.rss",
            "children": [node(child) for child in taxonomy.children(topic.name)],
        }

    return [node(root) for root in taxonomy.children(None)]


def feed_articles(nd: Newsdesk, topic: str | None) -> list[Article]:
    """The newest published articles (of ``topic`` when given) for a feed."""
    page = nd.articles(ArticleQuery(topic=topic, published=True, limit=FEED_ITEMS))
    return list(page.items)
