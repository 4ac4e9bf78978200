"""Re-embedding after a model change: vectors are only comparable within one model.

Each stored vector carries the name of the model that made it, and related articles, stories, topic
refinement and semantic search read only the current model's vectors. When ``embed_model`` changes, the
articles embedded before would silently drop out of all of them; this module brings them back:

    stale ids (enriched, vector missing or from another model) ─► batch of BATCH ─► text ─► embed
        ─► size check ─► save (the ANN index beside the store rebuilds itself on the next run: its count
           no longer matches the store's)

Enrichment re-embeds up to ``reembed_batch`` stale articles a run and the desk does the same while idle,
so a switch costs no long pause; ``newsdesk reembed`` does them all at once. Once a pass finds nothing
stale, the caller may stop asking (:class:`Reembedder` does): only the current model writes vectors.

The size check: a supervised (sentence-transformers hub) model or a trained topic model of another
size would otherwise fail deep inside numpy or usearch; here it is an :class:`EnrichmentError` that names
the model and both sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .enrich.base import Embedder, Vectors
from .enrich.similarity import article_vectors
from .errors import EnrichmentError
from .model import Article
from .store import Store

log = logging.getLogger(__name__)

BATCH = 64
"""Articles embedded per call of the model: the embedders' own batch size, so a pass holds at most this
many texts in memory and commits each batch before reading the next."""


def check_vectors(vectors: Vectors, embedder: Embedder) -> Vectors:
    """``vectors`` when each has the ``embedder``'s declared size; else a clear error. A hub model's
    config can declare one size and its pooling return another; stored under one model name, vectors
    of two sizes cannot be read back as one matrix."""
    matrix = np.asarray(vectors)
    if matrix.ndim != 2 or (matrix.shape[0] and matrix.shape[1] != embedder.dim):
        raise EnrichmentError(
            f"embedding model {embedder.name!r} declares {embedder.dim} dimensions but returned vectors "
            f"of shape {matrix.shape}"
        )
    return vectors


def check_topic_model(dim: int, embedder: Embedder, path: Path) -> None:
    """A trained topic model reads vectors of the size it was trained on: after a model change it must
    be trained again (its features are the old model's)."""
    if dim != embedder.dim:
        raise EnrichmentError(
            f"{path}: the topic model was trained on {dim}-dimensional vectors but embed_model "
            f"{embedder.name!r} makes {embedder.dim}; train it again with `newsdesk topics train`"
        )


class Reembedder:
    """Re-embeds stale articles with one embedder. ``text_of`` gives the text an article is embedded
    from (the enricher's: title and lead, the sealed text opened); the vector is made as enrichment
    makes it (``similarity.article_vectors``: the title weighed apart). Remembers when nothing is left."""

    def __init__(self, store: Store, embedder: Callable[[], Embedder], text_of: Callable[[Article], str]):
        self.store = store
        self._embedder = embedder  # called only when there is work: the model loads lazily
        self._text_of = text_of
        self.clean = False

    def run(self, limit: int | None = None, *, batch: int = BATCH) -> int:
        """Re-embed up to ``limit`` stale articles (all when ``None``), ``batch`` at a time; how many."""
        if self.clean or limit == 0:
            return 0
        done = 0
        while limit is None or done < limit:
            want = batch if limit is None else min(batch, limit - done)
            embedder = self._embedder()
            ids = self.store.stale_embedding_ids(embedder.name, want)
            if not ids:
                self.clean = True
                break
            done += self._batch(embedder, ids)
        if done:
            log.info("re-embedded", extra={"count": done})
        return done

    def _batch(self, embedder: Embedder, ids: list[int]) -> int:
        articles = [a for a in self.store.get_articles(ids).values() if a.id is not None]
        leads = [self._text_of(a) for a in articles]
        vectors = article_vectors(embedder.embed, [a.title for a in articles], leads)
        check_vectors(vectors, embedder)
        for article, vector in zip(articles, vectors, strict=True):
            assert article.id is not None
            self.store.save_embedding(article.id, embedder.name, vector)
        return len(articles)


__all__ = ["BATCH", "Reembedder", "check_topic_model", "check_vectors"]
