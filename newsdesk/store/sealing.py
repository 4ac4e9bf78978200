"""The store's side of encryption at rest: the sealed payload columns of articles, as sealing and key
rotation read and write them (``newsdesk.secure`` does the cryptography; nothing here sees a key).

A payload is swapped one row per transaction, so a rotation stopped halfway resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select, update

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
        with self.engine.connect() as c:
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
        with self.engine.connect() as c:
            query = select(t.articles.c.id).where(t.articles.c.text.is_not(None)).limit(1)
            return c.execute(query).first() is not None

    def iter_clear_texts(self) -> Iterator[Article]:
        """The articles whose full text is stored in the clear, oldest id first (partial index
        ``ix_articles_clear_text``: with encryption on it holds only leftovers of older versions)."""
        return stream_articles(self.engine, where=t.articles.c.text.is_not(None))
