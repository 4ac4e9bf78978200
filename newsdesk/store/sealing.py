"""The store's side of encryption at rest: the sealed payload columns of articles, as sealing and key
rotation read and write them (``newsdesk.secure`` does the cryptography; nothing here sees a key).

A payload is swapped one row per transaction, so a rotation stopped halfway resumes where it stopped.
The names sketch is keyed with a key derived from the sealing key (``similarity.SketchKey``): the sketches
not made under the current one are found here and saved again one at a time (``reembed.Resketcher``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import bindparam, func, select, update

from ..model import Article, now
from . import tables as t
from .articles import stream_articles
from .base import StoreBase, note_change


class SealingMixin(StoreBase):
    """Sealed payloads and the texts still in the clear. A method here is one transaction."""

    def secured_payloads(self) -> list[tuple[int, str, str]]:
        """(id, secured, key id) of every sealed article: what a key rotation re-encrypts."""
        a = t.articles
        query = select(a.c.id, a.c.secured, a.c.key_id).where(a.c.secured.is_not(None)).order_by(a.c.id)
        with self._read() as c:
            return [(int(i), str(s), str(k or "")) for i, s, k in c.execute(query)]

    def update_secured(self, article_id: int, secured: str, key_id: str) -> None:
        """Swap one payload for its re-encrypted form, in its own transaction (rotation resumes per row).
        ``updated_at`` moves too: the record file shows the new payload, and the desk rewrites it."""
        values = {"secured": secured, "key_id": key_id, "updated_at": now()}
        with self._begin() as c:
            note_change(c, articles=[article_id])
            c.execute(update(t.articles).where(t.articles.c.id == article_id).values(**values))

    def has_clear_texts(self) -> bool:
        """Whether any article holds its text in the clear (the sealing stage's leftovers; one probe
        of the partial index ``ix_articles_clear_text``)."""
        with self._read() as c:
            query = select(t.articles.c.id).where(t.articles.c.text.is_not(None)).limit(1)
            return c.execute(query).first() is not None

    def iter_clear_texts(self) -> Iterator[Article]:
        """The articles whose full text is stored in the clear, oldest id first (partial index
        ``ix_articles_clear_text``: with encryption on it holds only leftovers of older versions)."""
        return stream_articles(self.engine, where=t.articles.c.text.is_not(None))

    def stale_sketch_ids(self, header: bytes, after_id: int, limit: int) -> list[int]:
        """Ids above ``after_id`` (the first ``limit``, in id order) of the articles that passed the
        near-duplicate fold (they have a signature) whose names sketch is missing or does not begin with
        ``header`` (``similarity.sketch_header``: made under another key, or unkeyed). A scan of the
        articles with a signature: the caller stops asking once it finds none."""
        a = t.articles
        stale = a.c.names.is_(None) | (func.substr(a.c.names, 1, len(header)) != header)
        query = select(a.c.id).where(a.c.minhash.is_not(None), a.c.id > after_id, stale)
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query.order_by(a.c.id).limit(limit))]

    def last_article_id(self) -> int:
        """The highest article id (0 for none): where a pass that found no stale sketch may resume, every
        article above it being sketched by enrichment under the key of its day."""
        with self._read() as c:
            return int(c.execute(select(func.max(t.articles.c.id))).scalar_one() or 0)

    def save_names(self, sketches: Sequence[tuple[int, bytes]]) -> None:
        """Replace articles' names sketches (made again under the current key): ``(id, sketch)`` pairs,
        one transaction (one a transaction cost 1.4 ms of CPU an article, batched 0.3: ``bench/names_sketch.py``)."""
        if not sketches:
            return
        a = t.articles
        statement = update(a).where(a.c.id == bindparam("article_id")).values(names=bindparam("sketch"))
        with self._begin() as c:
            note_change(c, articles=[i for i, _ in sketches])
            c.execute(statement, [{"article_id": i, "sketch": names} for i, names in sketches])
