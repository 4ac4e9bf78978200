"""The store's enrichment data: what the enrichment stages add to an article after it is saved —
embeddings, near-duplicate signatures, related records, the enriched mark — and the candidates they read.

Stories (the clustering stage's output) are an entity of their own (``stories.py``); sealed payloads
belong to key rotation (``sealing.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from ..model import Article, RelatedRef, epoch_micros, now, utc
from . import rows
from . import tables as t
from .articles import articles_by_id
from .base import StoreBase, _chunks, note_change

if TYPE_CHECKING:  # numpy is imported where vectors are read or written: the CLI's store-only commands
    # (`source list`, `export`) do not pay its import (tests/test_cli_imports.py, docs/benchmarks.md)
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

TIMES_CHUNK = 5_000  # rows of (id, time) read at a time by times_between
_UPDATE_ARTICLE = update(t.articles).where(t.articles.c.id == bindparam("article_id_"))
"""Built once, run with each row's values (the column names) and its id (``article_id_``)."""

VECTOR_RECIPE = 3
"""How an article vector is made from the model's output (``enrich/similarity.article_vectors``) and
from which text (``embed.EMBED_TEXT_CHARS``); bump it when either changes. 1 was the lead's vector alone,
2 adds half the title's, 3 reads a 700-character window instead of 500. Vectors of an older recipe are
stale for re-embedding (``reembed.py``) even though the model's name did not change."""


def vector_key(model: str) -> str:
    """The ``model`` column's value for vectors ``model`` makes with the current recipe. Callers pass the
    model's name; only this module sees the key, so every reader of ``load_embeddings(name)`` keeps working
    and reads current-recipe vectors alone. Recipe 1 stored the bare name, which stays stale forever."""
    return f"{model}#r{VECTOR_RECIPE}"


class EnrichmentMixin(StoreBase):
    """Vectors, signatures and related records. A method here is one transaction, as everywhere."""

    def save_embedding(self, article_id: int, model: str, vector: npt.NDArray[np.float32]) -> None:
        self.save_embeddings(model, [(article_id, vector)])

    def save_embeddings(self, model: str, vectors: Sequence[tuple[int, npt.NDArray[np.float32]]]) -> None:
        """Store (article id, vector) pairs made by ``model``, replacing an article's earlier vector, in
        one transaction: an enrichment batch's vectors are one INSERT (one per article was most of the
        embed step's store time)."""
        import numpy as np

        if not vectors:
            return
        key, e = vector_key(model), t.embeddings
        values = {
            article_id: {"model": key, "dim": int(v.shape[-1]), "vector": np.asarray(v, "<f4").tobytes()}
            for article_id, v in vectors
        }
        with self._begin() as c:
            note_change(c, vectors=values)  # what semantic search finds moves, nothing else (change log)
            stored: set[int] = set()
            for chunk in _chunks(sorted(values), 500):
                stored |= {
                    int(i) for (i,) in c.execute(select(e.c.article_id).where(e.c.article_id.in_(chunk)))
                }
            for article_id in sorted(stored):
                c.execute(update(e).where(e.c.article_id == article_id).values(**values[article_id]))
            fresh = [{"article_id": i, **v} for i, v in values.items() if i not in stored]
            if fresh:
                c.execute(insert(e), fresh)

    def load_embeddings(
        self, model: str, ids: Sequence[int] | None = None
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """(ids, matrix) of the stored vectors made by ``model``, in id order."""
        import numpy as np

        query = select(t.embeddings.c.article_id, t.embeddings.c.dim, t.embeddings.c.vector).where(
            t.embeddings.c.model == vector_key(model)
        )
        found: list[Any] = []
        with self._read() as c:
            if ids is None:
                found = list(c.execute(query.order_by(t.embeddings.c.article_id)))
            else:
                for chunk in _chunks(sorted(ids), 500):
                    found += c.execute(query.where(t.embeddings.c.article_id.in_(chunk))).all()
        found.sort(key=lambda r: r[0])
        if not found:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [int(r[0]) for r in found], _matrix(found)

    def embedding_chunks(
        self, model: str, batch: int = 2_000
    ) -> Iterator[tuple[list[int], npt.NDArray[np.float32]]]:
        """Every stored vector made by ``model``, as (ids, matrix) chunks of at most ``batch``, in id
        order: a reader that keeps them in a smaller form (semantic search's int8 copy) never holds
        them all as rows and as float32 at once, as :meth:`load_embeddings` of them all does. A query
        a chunk, each after the last id of the one before: PostgreSQL's driver would fetch the whole
        result of one query into memory."""
        e = t.embeddings
        query = (
            select(e.c.article_id, e.c.dim, e.c.vector)
            .where(e.c.model == vector_key(model))
            .order_by(e.c.article_id)
            .limit(batch)
        )
        after = -1
        while True:
            with self._read() as c:
                rows = c.execute(query.where(e.c.article_id > after)).all()
            if not rows:
                return
            yield [int(r[0]) for r in rows], _matrix(rows)
            after = int(rows[-1][0])

    def stale_embedding_ids(self, model: str, limit: int) -> list[int]:
        """Up to ``limit`` enriched articles (oldest id first) whose vector is missing or was made by
        another model than ``model`` (or by an older recipe of it, :data:`VECTOR_RECIPE`): what
        ``reembed.py`` brings back into related, stories and search."""
        a, e = t.articles, t.embeddings
        query = (
            select(a.c.id)
            .select_from(a.outerjoin(e, e.c.article_id == a.c.id))
            .where(
                a.c.enriched_at.is_not(None), (e.c.article_id.is_(None)) | (e.c.model != vector_key(model))
            )
            .order_by(a.c.id)
            .limit(limit)
        )
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query)]

    def embedded_ids_between(self, model: str, after: int, upto: int, limit: int) -> list[int]:
        """Up to ``limit`` ids in (``after``, ``upto``] (lowest first) that have a current vector of
        ``model``: the articles whose related lists a finished re-embedding pass computes again."""
        e = t.embeddings
        query = (
            select(e.c.article_id)
            .where(e.c.model == vector_key(model), e.c.article_id > after, e.c.article_id <= upto)
            .order_by(e.c.article_id)
            .limit(limit)
        )
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query)]

    def last_embedded_id(self, model: str) -> int:
        """The highest article id with a current vector of ``model`` (0 when none)."""
        e = t.embeddings
        query = select(func.max(e.c.article_id)).where(e.c.model == vector_key(model))
        with self._read() as c:
            return int(c.execute(query).scalar_one() or 0)

    def iter_embeddings(
        self, model: str, *, batch: int = 1000
    ) -> Iterator[tuple[list[int], npt.NDArray[np.float32]]]:
        """The stored vectors made by ``model`` as (ids, matrix) chunks of at most ``batch``, in id order:
        a rebuild of the vector index reads them without holding the whole table at once."""
        e = t.embeddings
        after = 0
        while True:
            query = (
                select(e.c.article_id, e.c.dim, e.c.vector)
                .where(e.c.model == vector_key(model), e.c.article_id > after)
                .order_by(e.c.article_id)
                .limit(batch)
            )
            with self._read() as c:
                found = c.execute(query).all()
            if not found:
                return
            after = int(found[-1][0])
            yield [int(r[0]) for r in found], _matrix(found)

    def times_between(
        self, since: datetime, until: datetime
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The ids of the articles whose time (``sort_at``) lies in ``[since, until]``, lowest first, and
        their times in microseconds since the epoch: the vectors a large run's related scan reads
        (enrich/scan.py). Two ``int64`` arrays, 16 bytes an article, read a few thousand rows at a time:
        a list of (id, datetime) for the 100,000 articles of a one-go run was ≈ 14 MB, and the rows it
        was made from as much again, the related stage's high-water mark from then on."""
        import numpy as np

        a = t.articles
        ids: list[npt.NDArray[np.int64]] = []
        times: list[npt.NDArray[np.int64]] = []
        query = select(a.c.id, a.c.sort_at).where(a.c.sort_at.between(since, until))
        with self._read() as c:
            for rows in c.execute(query).partitions(TIMES_CHUNK):  # fetched a chunk at a time
                ids.append(np.fromiter((row[0] for row in rows), np.int64, len(rows)))
                times.append(np.fromiter((epoch_micros(utc(row[1])) for row in rows), np.int64, len(rows)))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        found, at = np.concatenate(ids), np.concatenate(times)
        order = np.argsort(found, kind="stable")
        return found[order], at[order]

    def embeddings_between(
        self, model: str, since: datetime, until: datetime, *, batch: int = 1000
    ) -> Iterator[tuple[list[int], npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """The stored vectors made by ``model`` of the articles whose time lies in ``[since, until]``, with
        those times (microseconds since the epoch, as :meth:`times_between` gives them), as (ids, times,
        matrix) chunks of at most ``batch`` articles, lowest id first: what a large run's related scan
        spills and what the kept related index holds from its horizon on."""
        import numpy as np

        found, at = self.times_between(since, until)
        for start in range(0, len(found), batch):
            wanted = found[start : start + batch]
            ids, matrix = self.load_embeddings(model, ids=wanted.tolist())
            if ids:  # both in id order: the stored ones' times are picked out of the chunk's
                yield ids, at[start : start + batch][np.isin(wanted, ids)], matrix

    def times_of(self, ids: Sequence[int]) -> dict[int, datetime]:
        """The time (``sort_at``) of each of ``ids`` that is stored."""
        a = t.articles
        found: dict[int, datetime] = {}
        with self._read() as c:
            for chunk in _chunks(sorted(set(ids)), 500):
                found |= {
                    int(i): utc(at)
                    for i, at in c.execute(select(a.c.id, a.c.sort_at).where(a.c.id.in_(chunk)))
                }
        return found

    def time_range(self, ids: Sequence[int]) -> tuple[datetime, datetime] | None:
        """The earliest and latest time (``sort_at``) of ``ids``; None when none is stored."""
        a = t.articles
        lows, highs = [], []
        with self._read() as c:
            for chunk in _chunks(sorted(set(ids)), 500):
                low, high = c.execute(
                    select(func.min(a.c.sort_at), func.max(a.c.sort_at)).where(a.c.id.in_(chunk))
                ).one()
                if low is not None:
                    lows.append(utc(low))
                    highs.append(utc(high))
        return (min(lows), max(highs)) if lows else None

    def enrich_order(self, ids: Sequence[int]) -> list[int]:
        """``ids`` (those still stored) in the order enrichment takes them: publication time (first seen
        when undated), then URL, then id — sorted here rather than in SQL, as PostgreSQL's collation may
        order URLs differently from SQLite's bytes. Reads three columns, never whole articles."""
        a = t.articles
        keys: list[tuple[datetime, str, int]] = []
        with self._read() as c:
            for chunk in _chunks(sorted(set(ids)), 500):
                query = select(a.c.id, a.c.published_at, a.c.first_seen_at, a.c.canonical_url)
                for i, published, seen, url in c.execute(query.where(a.c.id.in_(chunk))):
                    keys.append((utc(published or seen), str(url), int(i)))
        return [key[2] for key in sorted(keys)]

    def recent_article_ids(self, since: datetime, until: datetime, limit: int) -> list[int]:
        """The ids of the ``limit`` latest articles of a time range (latest first; ties: higher id)."""
        a = t.articles
        query = (
            select(a.c.id)
            .where(a.c.sort_at.between(since, until))
            .order_by(a.c.sort_at.desc(), a.c.id.desc())
            .limit(limit)
        )
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query)]

    def count_embeddings(self, model: str) -> int:
        query = (
            select(func.count()).select_from(t.embeddings).where(t.embeddings.c.model == vector_key(model))
        )
        with self._read() as c:
            return int(c.execute(query).scalar_one())

    def related_candidates(
        self, since: datetime, until: datetime, ids: Sequence[int] | None = None
    ) -> list[tuple[int, int | None, datetime, str, str | None, bytes | None]]:
        """(id, story id, time, provider domain, language, names sketch) of the articles in a time range
        (of those among ``ids`` when given: a whole range can be every article of a large run): what the
        related stage needs to diversify and score its neighbours, without loading whole articles."""
        a = t.articles
        query = select(a.c.id, a.c.story_id, a.c.sort_at, a.c.provider_domain, a.c.language, a.c.names).where(
            a.c.sort_at.between(since, until)
        )
        queries = (
            [query] if ids is None else [query.where(a.c.id.in_(c)) for c in _chunks(sorted(set(ids)), 500)]
        )
        with self._read() as c:
            return [
                (int(i), s, utc(at), str(d), lang, bytes(n) if n is not None else None)
                for q in queries
                for i, s, at, d, lang, n in c.execute(q).all()
            ]

    def save_minhash(self, article_id: int, signature: bytes, *, names: bytes | None = None) -> None:
        """Keep an article's near-duplicate signature and, when given, its names sketch
        (``similarity.article_names``): both are read from the text before it is sealed."""
        values = {"minhash": signature} | ({"names": names} if names is not None else {})
        with self._begin() as c:
            note_change(c, articles=[article_id])
            c.execute(update(t.articles).where(t.articles.c.id == article_id).values(**values))

    def save_minhashes(self, signatures: Sequence[tuple[int, bytes, bytes]]) -> None:
        """(article id, signature, names sketch) of several articles in one transaction, one statement
        run for each: enrichment keeps a batch's signatures at once (a transaction each was most of the
        near-duplicate step's store time)."""
        if not signatures:
            return
        values = [{"article_id_": i, "minhash": sig, "names": names} for i, sig, names in signatures]
        with self._begin() as c:
            note_change(c, articles=[i for i, _, _ in signatures])
            c.execute(_UPDATE_ARTICLE, values)

    def load_minhashes(
        self, *, since: datetime | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Stored near-duplicate signatures, of articles from ``since`` on and with ids above ``after_id``,
        in id order (the first ``limit`` of them when given: a page)."""
        a = t.articles
        query = select(a.c.id, a.c.minhash).where(a.c.minhash.is_not(None), a.c.id > after_id)
        if since is not None:
            query = query.where(a.c.sort_at >= since)
        query = query.order_by(a.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as c:
            return [(int(i), bytes(m)) for i, m in c.execute(query)]

    def minhashes_by_id(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored signatures of ``ids`` (those that have one)."""
        return self._blobs_by_id(t.articles.c.minhash, ids)

    def names_by_id(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored names sketches of ``ids`` (those that have one)."""
        return self._blobs_by_id(t.articles.c.names, ids)

    def _blobs_by_id(self, column: Column[bytes], ids: Sequence[int]) -> dict[int, bytes]:
        """One article column of binary values by id, 500 ids a query; ids whose value is NULL left out."""
        a = t.articles
        found: dict[int, bytes] = {}
        with self._read() as c:
            for chunk in _chunks(list(ids), 500):
                query = select(a.c.id, column).where(a.c.id.in_(chunk), column.is_not(None))
                found |= {int(i): bytes(v) for i, v in c.execute(query)}
        return found

    def mark_enriched(self, article_id: int) -> None:
        self.mark_enriched_many([article_id])

    def mark_enriched_many(self, ids: Sequence[int]) -> None:
        """Mark ``ids`` enriched in one transaction (the related stage marks a batch at once)."""
        a = t.articles
        when = now()
        with self._begin() as c:
            note_change(c, articles=list(ids))
            for chunk in _chunks(list(ids), 500):
                c.execute(update(a).where(a.c.id.in_(chunk)).values(enriched_at=when))

    def unenriched_among(self, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` not enriched yet, ascending: what is left of a batch for an enricher that
        waited for another (``one_at_a_time("enrich")``), which may have enriched some of them."""
        a = t.articles
        found: list[int] = []
        with self._read() as c:
            for chunk in _chunks(sorted(set(ids)), 500):
                query = select(a.c.id).where(a.c.id.in_(chunk), a.c.enriched_at.is_(None))
                found += [int(i) for i in c.execute(query).scalars()]
        return sorted(found)

    def unenriched_ids(self) -> list[int]:
        query = (
            select(t.articles.c.id)
            .where(t.articles.c.enriched_at.is_(None))
            .order_by(t.articles.c.sort_at, t.articles.c.id)
        )
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query)]

    def set_related(self, article_id: int, related: Sequence[tuple[int, float]]) -> None:
        self.set_related_many({article_id: related})

    def set_related_many(self, lists: Mapping[int, Sequence[tuple[int, float]]]) -> None:
        """Replace the related lists of several articles (article id → (related id, similarity), best
        first) in one transaction: one DELETE and one INSERT for them all."""
        r = t.related
        rows = [
            {"article_id": article_id, "related_id": other, "rank": rank, "similarity": similarity}
            for article_id, related in lists.items()
            for rank, (other, similarity) in enumerate(related)
        ]
        with self._begin() as c:
            note_change(c, articles=list(lists))
            for chunk in _chunks(list(lists), 500):
                c.execute(delete(r).where(r.c.article_id.in_(chunk)))
            if rows:
                c.execute(insert(r), rows)

    def related_refs(self, article_id: int) -> tuple[RelatedRef, ...]:
        """The related records of an article as the record shows them, from the related articles' current state."""
        return tuple(ref for ref, _ in self.related_refs_flagged(article_id))

    def related_refs_flagged(self, article_id: int) -> tuple[tuple[RelatedRef, bool], ...]:
        """:meth:`related_refs`, each with whether its article is published (the public sees only
        those), in one statement: the related rows joined to their articles. An article page read the
        list, then the articles, then their published flags: three round trips."""
        r, a = t.related, t.articles
        query = (
            select(r.c.similarity, a).join(a, a.c.id == r.c.related_id).where(r.c.article_id == article_id)
        )
        with self._read() as c:
            found = c.execute(query.order_by(r.c.rank)).mappings().all()
        return tuple(
            (_ref(rows.article_from_row(row), row["similarity"]), bool(row["published"])) for row in found
        )

    def related_refs_many(self, article_ids: Sequence[int]) -> dict[int, tuple[RelatedRef, ...]]:
        """:meth:`related_refs` of several articles (id → refs; an article without related records is
        left out), in one query for the lists and one per 500 related articles, each loaded once however
        many of the lists name it: an export of every record asked once per article, and loaded each
        related article again for every record naming it."""
        r = t.related.c
        lists: dict[int, list[tuple[int, float]]] = {}
        with self._read() as c:
            for chunk in _chunks(list(article_ids), 500):
                query = select(r.article_id, r.related_id, r.similarity).where(r.article_id.in_(chunk))
                for article_id, related_id, similarity in c.execute(query.order_by(r.article_id, r.rank)):
                    lists.setdefault(article_id, []).append((related_id, similarity))
            found = articles_by_id(c, sorted({i for pairs in lists.values() for i, _ in pairs}))
        return {a: tuple(_ref(found[i], s) for i, s in pairs if i in found) for a, pairs in lists.items()}


def _ref(article: Article, similarity: float) -> RelatedRef:
    return RelatedRef(
        title=article.title,
        web_url=article.web_url,
        provider=article.provider,
        excerpt=article.excerpt,
        published_at=article.published_at,
        type=article.type,
        quality=article.quality,
        images=article.images,
        similarity=similarity,
        article_id=article.id,
    )


def _matrix(rows: Sequence[Any]) -> npt.NDArray[np.float32]:
    """The vectors of (id, dim, little-endian float32 bytes) rows as one matrix."""
    import numpy as np

    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), rows[0][1])
    return matrix.astype(np.float32)
