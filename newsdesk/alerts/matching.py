"""Matching a run's new articles against every saved search: the step that turns them into alerts.

    finished run's new ids ─► for each saved search: filters (topics, source, language, quality, heat)
                                                     └► query: text (FTS among the ids) | semantic (cosine
                                                        of the stored vectors to the query) | hybrid (either)
                           ─► alerts rows (new ones only) + an "alert" event per new alert, one transaction

Called once per run from the facade's finishing stages, after enrichment (topics and scores are set).
The embedder is loaded only when a semantic search exists and there are new articles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import events
from ..enrich.base import Embedder
from ..model import Article, now
from ..store import Store
from .spec import SearchSpec

log = logging.getLogger(__name__)


def match_new(store: Store, ids: Sequence[int], embedder: Callable[[], Embedder]) -> dict[str, Any]:
    """Alerts for ``ids`` across every saved search; counts for the run summary."""
    searches = store.list_saved_searches()
    if not ids or not searches:
        return {"alerts": 0}
    articles = store.get_articles(ids)
    total = 0
    for saved in searches:
        spec = SearchSpec.from_dict(saved["query"])
        candidates = [a for a in articles.values() if a.id is not None and spec.filters_match(a)]
        matched = _query_matches(store, spec, candidates, embedder)
        new = store.add_alerts(saved["id"], sorted(matched), now(), event=_event_for(saved, articles))
        total += len(new)
    return {"alerts": total}


def _query_matches(
    store: Store, spec: SearchSpec, candidates: list[Article], embedder: Callable[[], Embedder]
) -> set[int]:
    ids = [a.id for a in candidates if a.id is not None]
    if not spec.q.strip() or not ids:
        return set(ids)
    found: set[int] = set()
    if spec.mode in ("text", "hybrid"):
        found |= store.text_matches(spec.q, ids)
    if spec.mode in ("semantic", "hybrid"):
        found |= semantic_matches(store, spec, ids, embedder())
    return found


def semantic_matches(store: Store, spec: SearchSpec, ids: list[int], embedder: Embedder) -> set[int]:
    """The ids whose stored vector (from this embedder's model) is within ``min_similarity`` of the
    query's; an article without a vector cannot match semantically."""
    have, vectors = store.load_embeddings(embedder.name, ids)
    if not have:
        return set()
    query = np.asarray(embedder.embed([spec.q])[0], dtype=np.float32)
    scores = vectors @ query  # unit vectors: the dot product is the cosine
    return {i for i, score in zip(have, scores, strict=True) if float(score) >= spec.min_similarity}


def _event_for(saved: dict[str, Any], articles: dict[int, Article]) -> Callable[[int, int], events.Event]:
    """The "alert" event of a new alert of ``saved``, made inside the transaction that adds the alert
    (the outbox: an alert and its webhook event commit together)."""
    search = {"id": saved["id"], "name": saved["name"], "user": saved["user"]}

    def make(alert_id: int, article_id: int) -> events.Event:
        article = events.article_payload(articles[article_id])
        return events.event("alert", {"alert": {"id": alert_id}, "search": search, "article": article})

    return make
