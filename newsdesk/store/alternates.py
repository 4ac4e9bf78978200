"""The store's alternates: the other URLs an article was seen under, each a sighting with its source,
time, provider and reason (the same URL again, the same text, or a near-duplicate of it).

An article is found by any of its alternates (``articles.find_article``); recording one sighting twice
adds nothing, even from two workers at once. :meth:`~AlternatesMixin.fold_article` folds a copy into the
article it copies, in one transaction (the rule of which keeps what is ``newsdesk/folding.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import StorageError
from ..model import Alternate, Article, ReviewState, now
from . import rows
from . import tables as t
from .articles import write_images
from .base import StoreBase, note_change


class AlternatesMixin(StoreBase):
    """Alternate URLs of articles. A method here is one transaction, as everywhere."""

    def add_alternate(self, article_id: int, alternate: Alternate) -> bool:
        """Record another sighting; False when this URL is already known for the article."""
        row = _values(article_id, alternate)
        try:
            with self._begin() as c:
                known = select(t.alternates.c.id).where(
                    t.alternates.c.article_id == article_id, t.alternates.c.url == alternate.url
                )
                if c.execute(known).first():
                    return False
                c.execute(insert(t.alternates).values(**row))
                note_change(c, articles=[article_id])
        except StorageError as e:  # a concurrent worker recorded the same sighting first
            if isinstance(e.__cause__, IntegrityError):
                return False
            raise
        return True

    def fold_article(
        self,
        copy_id: int | None,
        into_id: int,
        sightings: Sequence[Alternate],
        *,
        identity: Article | None = None,
    ) -> None:
        """Fold the article ``copy_id`` into ``into_id``, in one transaction: the copy's row goes; its
        alternates, editors' decisions and (when ``into_id`` is still pending) review state move to
        ``into_id``, which also records ``sightings``. With ``identity``, ``into_id`` takes that
        article's identity (URL, source, provider, headline, dates, text, images; :data:`IDENTITY`) and
        keeps its own id, story, scores, topics and review state: the row an editor may have acted on
        survives, showing the original. ``copy_id`` None: the other article was never stored (an exact copy at ingestion)."""
        a = t.articles
        with self._begin() as c:
            # the copy leaves (its URL now answers with into_id), and may have been published
            note_change(c, articles=[into_id, *([copy_id] if copy_id is not None else [])], lists=True)
            found = c.execute(_ALTERNATES_OF, {"id": copy_id or 0}).mappings()
            moved = [rows.alternate_from_row(r) for r in found]
            state = c.execute(select(a.c.review_state).where(a.c.id == copy_id)).scalar_one_or_none()
            if copy_id is not None:
                decisions = update(t.decisions).where(t.decisions.c.article_id == copy_id)
                c.execute(decisions.values(article_id=into_id))
                c.execute(delete(a).where(a.c.id == copy_id))  # first: the kept row may take its URL
            if identity is not None:
                c.execute(update(a).where(a.c.id == into_id).values(**self._identity(identity)))
                write_images(c, into_id, identity)
            if state is not None and state != ReviewState.PENDING.value:
                pending = (a.c.id == into_id) & (a.c.review_state == ReviewState.PENDING.value)
                values = rows.review_columns(ReviewState(state)) | {"updated_at": now()}
                c.execute(update(a).where(pending).values(**values))
            for alternate in [*sightings, *moved]:
                _add_in(c, into_id, alternate)

    def _identity(self, article: Article) -> dict[str, Any]:
        row = rows.article_row(article, full_text_index=self.index_full_text)
        sort_at = article.published_at or article.first_seen_at
        stamps = {"updated_at": now()} | ({"sort_at": sort_at} if sort_at else {})
        return {key: row[key] for key in IDENTITY} | stamps

    def alternates(self, article_id: int) -> list[Alternate]:
        query = (
            select(t.alternates).where(t.alternates.c.article_id == article_id).order_by(t.alternates.c.id)
        )
        with self._read() as c:
            return [rows.alternate_from_row(r) for r in c.execute(query).mappings()]


IDENTITY = (
    "canonical_url", "original_url", "source_id", "provider_name", "provider_domain", "title", "excerpt",
    "published_at", "author", "language", "text", "secured", "key_id", "content_hash", "fetched_at",
    "images", "search_text", "extra",
)  # fmt: skip
"""What the kept row takes from the original when they fold: where it was published and by whom, its
words and its images. Not the scores, topics, story or review state: those are the kept row's own work and
decisions (the texts are near-copies, so they hold for the original too)."""

_ALTERNATES_OF = (
    select(t.alternates).where(t.alternates.c.article_id == bindparam("id")).order_by(t.alternates.c.id)
)


def _add_in(c: Connection, article_id: int, alternate: Alternate) -> None:
    """Record ``alternate`` for ``article_id`` inside a transaction, unless its URL is known for it (or is
    the article's own URL now)."""
    a, alt = t.articles, t.alternates
    own = c.execute(select(a.c.canonical_url).where(a.c.id == article_id)).scalar_one_or_none()
    known = select(alt.c.id).where(alt.c.article_id == article_id, alt.c.url == alternate.url)
    if alternate.url == own or c.execute(known).first():
        return
    c.execute(insert(alt).values(**_values(article_id, alternate)))


def _values(article_id: int, alternate: Alternate) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "url": alternate.url,
        "source_id": alternate.source_id,
        "seen_at": alternate.seen_at,
        "reason": alternate.reason,
        "provider_name": alternate.provider.name if alternate.provider else None,
        "provider_domain": alternate.provider.domain if alternate.provider else None,
    }
