"""Re-embedding after a model or recipe change: vectors are only comparable within one of each.

Each stored vector carries the name of the model that made it and the recipe version
(``store/enrichment.py``, ``VECTOR_RECIPE``), and related articles, stories, topic refinement and semantic
search read only current vectors. When ``embed_model`` (or the recipe) changes, the articles embedded
before would silently drop out of all of them; this module brings them back:

    stale ids (enriched, vector missing, from another model or recipe) ─► batch of BATCH ─► text
        ─► embed ─► size check ─► save (the ANN index file beside the store is removed: rebuilt on read)
    none stale ─► the re-embedded articles, BATCH at a time ─► related lists again (the enricher's stage)

Enrichment does up to ``reembed_batch`` articles of each phase a run and the desk the same while idle,
so a switch costs no long pause; ``newsdesk reembed`` does them all at once. Once a pass finds nothing
to do, the caller may stop asking (:class:`Reembedder` does): only the current model writes vectors.

The names sketch (``similarity.article_names``) is made again the same way when its key changed
(:class:`Resketcher`): its hashes are keyed with a key derived from the store's sealing key, so a key
rotation, a store sketched before keying, or one whose sketches predate them leaves sketches that meet
the new ones on nothing; until made again they count as no names (weaker, never wrong)::

    ids whose sketch lacks the current key's header ─► text opened ─► sketch of title + text ─► save

The size check: a supervised (sentence-transformers hub) model or a trained topic model of another
size would otherwise fail deep inside numpy or usearch; here it is an :class:`EnrichmentError` that names
the model and both sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .enrich import dedupe, similarity
from .enrich.base import Embedder, Vectors
from .enrich.similarity import SketchKey, article_vectors
from .enrich.vectors import ExactIndex, VectorIndex, open_index
from .errors import CryptoError, EnrichmentError
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


RESKETCH_SHARE = 16
"""Sketches made again per article a turn may re-embed (``reembed_batch``): a sketch made again costs
about 0.3 ms of CPU (the sealed text opened, sketched, saved a batch a transaction:
``bench/names_sketch.py``) against ~14 ms for an article vector (``docs/embeddings.md``), so a turn's
sketches cost at most about a third of its re-embedding, and a store of 100,000 articles is sketched
again in about 100 turns."""

RESKETCH_PASS_KEY = "names_sketch_pass"
"""Meta key of the pass that makes sketches again (:class:`Resketcher`): {"key": the sketch key's label,
"after": the last article id looked at under it}."""

RELATE_KEY = "reembed_relate"
"""Meta key of the related pass that follows re-embedding: {"model", "upto", "after"} — the articles up
to ``upto`` were re-embedded, those up to ``after`` have their related lists computed again."""

NAME_KEY = "embed_model_names"
"""Meta key: {embed_model setting: the name the model it loaded gives itself}, for the cheap stale check."""

Relate = Callable[[list[int], VectorIndex], None]
"""Computes and saves the related lists of some articles over an index of every current vector (the
enricher's related stage, which owns the window, the diversity and the calibration)."""


class Reembedder:
    """Re-embeds stale articles with one embedder, then computes their related lists again.

    ``text_of`` gives the text an article is embedded from (the enricher's: title and lead, the sealed text
    opened); the vector is made as enrichment makes it (``similarity.article_vectors``: the title weighed
    apart). ``loaded`` is the loaded model's name (``None`` while it is not loaded) and ``configured`` the
    ``embed_model`` setting: the check for stale vectors needs only a name, so a turn that finds nothing
    stale never loads the model. A model names itself otherwise than its setting ("bundled" is the blend
    of two models, named after both), so the name a setting loaded last is kept in ``meta``
    (:data:`NAME_KEY`); until a model was loaded under that setting, the setting itself is the guess,
    which finds everything stale and loads the model once. The check is remembered per name: should an
    upgrade rename the model, the first run that loads it checks again under the new name.

    Related lists wait until nothing is stale: a list computed while half the articles still hold the old
    model's vectors would miss them, whereas the old list stays a fair answer meanwhile. Then the
    re-embedded articles are related again ``limit`` at a time, over the index beside the store (rebuilt
    from the store: each re-embedding batch removes the file, whose vectors are the old ones). Remembers
    when nothing is left.

    Story centroids are left as they are: a story whose state names another model takes no new members
    (the enricher's ``_story_state``), so it closes and new articles open stories of the new model; one of
    an older recipe keeps a centroid close to the new vectors (the title is part of the lead's text)."""

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        text_of: Callable[[Article], str],
        *,
        loaded: Callable[[], str | None] = lambda: None,
        configured: str = "",
        relate: Relate | None = None,
        index_path: Path | None = None,
    ):
        self.store = store
        self._embedder = embedder  # called only when there is work: the model loads lazily
        self._loaded = loaded
        self._configured = configured
        self._text_of = text_of
        self._relate = relate
        self._index_path = index_path
        self._index: tuple[int, VectorIndex] | None = None  # (vector count it holds, the index)
        self.related = 0  # articles related again by the last run
        self._clean_under: str | None = None  # the model name under which nothing was left

    def _name(self) -> str:
        """The model's name without loading it (see the class docstring)."""
        loaded = self._loaded()
        if loaded is not None:
            return loaded
        known = self.store.get_meta(NAME_KEY)
        if isinstance(known, dict) and isinstance(known.get(self._configured), str):
            return str(known[self._configured])
        return self._configured

    def _remember_name(self, embedder: Embedder) -> None:
        known = self.store.get_meta(NAME_KEY)
        known = dict(known) if isinstance(known, dict) else {}
        if self._configured and known.get(self._configured) != embedder.name:
            self.store.set_meta(NAME_KEY, known | {self._configured: embedder.name})

    def run(self, limit: int | None = None, *, batch: int = BATCH) -> int:
        """Re-embed up to ``limit`` stale articles (all when ``None``), ``batch`` at a time, and once none
        is stale relate up to ``limit`` re-embedded ones again; how many were re-embedded."""
        self.related = 0
        name = self._name()
        if self._clean_under == name or limit == 0:
            return 0
        if not self.store.stale_embedding_ids(name, 1) and not self._relate_pending(name):
            self._clean_under = name  # the cheap check: a name, the model not loaded
            return 0
        embedder = self._embedder()
        self._remember_name(embedder)
        done = 0
        while limit is None or done < limit:
            want = batch if limit is None else min(batch, limit - done)
            ids = self.store.stale_embedding_ids(embedder.name, want)
            if not ids:
                break
            done += self._batch(embedder, ids)
        if not self.store.stale_embedding_ids(embedder.name, 1):
            self.related = self._relate_again(embedder, limit, batch)
        if done or self.related:
            log.info("re-embedded", extra={"count": done, "related": self.related})
        elif not self._relate_pending(embedder.name):
            self._clean_under = embedder.name
        return done

    def _batch(self, embedder: Embedder, ids: list[int]) -> int:
        articles = [a for a in self.store.get_articles(ids).values() if a.id is not None]
        leads = [self._text_of(a) for a in articles]
        vectors = article_vectors(embedder.embed, [a.title for a in articles], leads)
        check_vectors(vectors, embedder)
        for article, vector in zip(articles, vectors, strict=True):
            assert article.id is not None
            self.store.save_embedding(article.id, embedder.name, vector)
        if self._index_path is not None:
            self._index_path.unlink(missing_ok=True)  # its vectors are the old ones: rebuilt when read
        self._index = None
        state = self._state(embedder.name)
        # every article with a current vector: those enriched during the pass related only among the few
        # re-embedded before them
        state["upto"] = max(state["upto"], self.store.last_embedded_id(embedder.name))
        self.store.set_meta(RELATE_KEY, state)
        return len(articles)

    def _state(self, model: str) -> dict[str, Any]:
        state = self.store.get_meta(RELATE_KEY)
        if not isinstance(state, dict) or state.get("model") != model:
            return {"model": model, "upto": 0, "after": 0}
        return dict(state)

    def _relate_pending(self, model: str) -> bool:
        if self._relate is None:
            return False
        state = self._state(model)
        return bool(state["after"] < state["upto"])

    def _relate_again(self, embedder: Embedder, limit: int | None, batch: int) -> int:
        """Related lists of the next re-embedded articles (up to ``limit``), ``batch`` at a time."""
        if self._relate is None:
            return 0
        state, done = self._state(embedder.name), 0
        while state["after"] < state["upto"] and (limit is None or done < limit):
            want = batch if limit is None else min(batch, limit - done)
            ids = self.store.embedded_ids_between(embedder.name, state["after"], state["upto"], want)
            if ids:
                self._relate(ids, self._current_index(embedder))
                done += len(ids)
            state["after"] = ids[-1] if len(ids) == want else state["upto"]
            self.store.set_meta(RELATE_KEY, state)
        return done

    def _current_index(self, embedder: Embedder) -> VectorIndex:
        """The index of every current vector: kept while the store's count stays, else the file beside
        the store when it is in step, else rebuilt from the store a chunk at a time (and saved)."""
        count = self.store.count_embeddings(embedder.name)
        if self._index is not None and self._index[0] == count:
            return self._index[1]
        index: VectorIndex = ExactIndex(embedder.dim)
        if self._index_path is not None:
            index = open_index(self._index_path, embedder.dim, expected_count=count)
        if len(index) != count:
            for ids, matrix in self.store.iter_embeddings(embedder.name, batch=BATCH * 16):
                index.add(ids, matrix)
            if self._index_path is not None:
                index.save(self._index_path)
        self._index = (count, index)
        return index


class Resketcher:
    """Makes names sketches again under the current sketch key: those made under another key (before a
    rotation), unkeyed ones (before keying, or while encryption was off) and missing ones (articles
    enriched before sketches were kept). ``open_text`` gives an article's full text (the sealed one
    opened; a :class:`~newsdesk.errors.CryptoError` when it does not open).

    The sketch is the near-duplicate fold's: of the title and the whole text. An article whose text does
    not open (its key gone from the ring) is logged and skipped, its old sketch still counting as none.
    The pass walks the ids and keeps where it is in ``meta`` (:data:`RESKETCH_PASS_KEY`, per key), so
    neither a turn nor a later process asks for the same article twice under one key; a pass that finds
    nothing left moves its mark to the last article (enrichment sketches every newer one under the key
    of its day), so a cron run reads only the articles since, not the whole table (0.07 CPU-s for
    20,000 articles on SQLite, a scan). In this process the key is then remembered clean."""

    def __init__(self, store: Store, open_text: Callable[[Article], str]) -> None:
        self.store = store
        self._open_text = open_text
        self._clean_under: bytes | None = None

    def run(self, key: SketchKey, limit: int | None = None, *, batch: int = BATCH) -> int:
        """Look at up to ``limit`` articles with a stale sketch (all when ``None``), ``batch`` at a time;
        how many sketches were made again."""
        header = similarity.sketch_header(key)
        if self._clean_under == header or limit == 0:
            return 0
        mark = self.store.get_meta(RESKETCH_PASS_KEY)
        after = int(mark["after"]) if isinstance(mark, dict) and mark.get("key") == key.label else 0
        top, seen, made = self.store.last_article_id(), 0, 0
        while limit is None or seen < limit:
            want = batch if limit is None else min(batch, limit - seen)
            ids = self.store.stale_sketch_ids(header, after, want)
            if not ids:
                self._clean_under, after = header, max(after, top)
                break
            made += self._batch(key, ids)
            seen, after = seen + len(ids), ids[-1]
        if mark != (moved := {"key": key.label, "after": after}):
            self.store.set_meta(RESKETCH_PASS_KEY, moved)
        if made:
            log.info("names sketches made again", extra={"count": made})
        return made

    def _batch(self, key: SketchKey, ids: list[int]) -> int:
        """Sketches of ``ids`` made again and saved in one transaction; how many."""
        made: list[tuple[int, bytes]] = []
        for article in self.store.get_articles(ids).values():
            assert article.id is not None
            try:
                text = self._open_text(article)
            except CryptoError as e:
                log.warning("sealed text does not open", extra={"article_id": article.id, "reason": str(e)})
                continue
            names = similarity.article_names(dedupe.fold_text(article.title, text), key=key)
            made.append((article.id, similarity.names_to_bytes(names, key)))
        self.store.save_names(made)
        return len(made)


__all__ = [
    "BATCH",
    "NAME_KEY",
    "RELATE_KEY",
    "RESKETCH_PASS_KEY",
    "RESKETCH_SHARE",
    "Reembedder",
    "Resketcher",
    "check_topic_model",
    "check_vectors",
]
