"""The store's alternates: the other URLs an article was seen under, each a sighting with its source,
time, provider and reason (the same URL again, the same text, or a near-duplicate of it).

An article is found by any of its alternates (``articles.find_article``); recording one sighting twice
adds nothing, even from two workers at once.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import StorageError
from ..model import Alternate
from . import rows
from . import tables as t
from .base import StoreBase


class AlternatesMixin(StoreBase):
    """Alternate URLs of articles. A method here is one transaction, as everywhere."""

    def add_alternate(self, article_id: int, alternate: Alternate) -> bool:
        """Record another sighting; False when this URL is already known for the article."""
        row = {
            "article_id": article_id,
            "url": alternate.url,
            "source_id": alternate.source_id,
            "seen_at": alternate.seen_at,
            "reason": alternate.reason,
            "provider_name": alternate.provider.name if alternate.provider else None,
            "provider_domain": alternate.provider.domain if alternate.provider else None,
        }
        try:
            with self._begin() as c:
                known = select(t.alternates.c.id).where(
                    t.alternates.c.article_id == article_id, t.alternates.c.url == alternate.url
                )
                if c.execute(known).first():
                    return False
                c.execute(insert(t.alternates).values(**row))
        except StorageError as e:  # a concurrent worker recorded the same sighting first
            if isinstance(e.__cause__, IntegrityError):
                return False
            raise
        return True

    def alternates(self, article_id: int) -> list[Alternate]:
        query = (
            select(t.alternates).where(t.alternates.c.article_id == article_id).order_by(t.alternates.c.id)
        )
        with self.engine.connect() as c:
            return [rows.alternate_from_row(r) for r in c.execute(query).mappings()]
