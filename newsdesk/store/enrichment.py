"""The store's enrichment data: embeddings, near-duplicate signatures, related records, stories."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)

from ..errors import StorageError
from ..model import Article, RelatedRef, Story, now, utc
from . import rows
from . import tables as t
from .base import StoreBase, _chunks, _inserted_id

if TYPE_CHECKING:  # numpy is imported where vectors are read or written: the CLI's store-only commands
    # (`source list`, `export`) do not pay its ~0.2 s import (tests/test_cli_imports.py)
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)


class EnrichmentData(StoreBase):
    def save_embedding(self, article_id: int, model: str, vector: npt.NDArray[np.float32]) -> None:
        import numpy as np

        data = np.asarray(vector, dtype="<f4").tobytes()
        values = {"model": model, "dim": int(vector.shape[-1]), "vector": data}
        with self._begin() as c:
            done = c.execute(
                update(t.embeddings).where(t.embeddings.c.article_id == article_id).values(**values)
            )
            if done.rowcount == 0:
                c.execute(insert(t.embeddings).values(article_id=article_id, **values))

    def load_embeddings(
        self, model: str, ids: Sequence[int] | None = None
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """(ids, matrix) of the stored vectors made by ``model``, in id order."""
        import numpy as np

        query = select(t.embeddings.c.article_id, t.embeddings.c.dim, t.embeddings.c.vector).where(
            t.embeddings.c.model == model
        )
        found: list[Any] = []
        with self.engine.connect() as c:
            if ids is None:
                found = list(c.execute(query.order_by(t.embeddings.c.article_id)))
            else:
                for chunk in _chunks(sorted(ids), 500):
                    found += c.execute(query.where(t.embeddings.c.article_id.in_(chunk))).all()
        found.sort(key=lambda r: r[0])
        if not found:
            return [], np.zeros((0, 0), dtype=np.float32)
        matrix = np.frombuffer(b"".join(r[2] for r in found), dtype="<f4").reshape(len(found), found[0][1])
        return [int(r[0]) for r in found], matrix.astype(np.float32)

    def count_embeddings(self, model: str) -> int:
        query = select(func.count()).select_from(t.embeddings).where(t.embeddings.c.model == model)
        with self.engine.connect() as c:
            return int(c.execute(query).scalar_one())

    def related_candidates(
        self, since: datetime, until: datetime
    ) -> list[tuple[int, int | None, datetime, str, str | None]]:
        """(id, story id, time, provider domain, language) of the articles in a time range: what the
        related stage needs to diversify and calibrate its neighbours, without loading whole articles."""
        a = t.articles
        query = select(a.c.id, a.c.story_id, a.c.sort_at, a.c.provider_domain, a.c.language).where(
            a.c.sort_at.between(since, until)
        )
        with self.engine.connect() as c:
            return [(int(i), s, utc(at), str(d), lang) for i, s, at, d, lang in c.execute(query)]

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
            c.execute(update(t.articles).where(t.articles.c.id == article_id).values(**values))

    def save_minhash(self, article_id: int, signature: bytes) -> None:
        with self._begin() as c:
            c.execute(update(t.articles).where(t.articles.c.id == article_id).values(minhash=signature))

    def load_minhashes(self, *, since: datetime | None = None, after_id: int = 0) -> list[tuple[int, bytes]]:
        """Stored near-duplicate signatures, of articles from ``since`` on and with ids above ``after_id``."""
        a = t.articles
        query = select(a.c.id, a.c.minhash).where(a.c.minhash.is_not(None), a.c.id > after_id)
        if since is not None:
            query = query.where(a.c.sort_at >= since)
        with self.engine.connect() as c:
            return [(int(i), bytes(m)) for i, m in c.execute(query.order_by(t.articles.c.id))]

    def mark_enriched(self, article_id: int) -> None:
        with self._begin() as c:
            c.execute(update(t.articles).where(t.articles.c.id == article_id).values(enriched_at=now()))

    def unenriched_ids(self) -> list[int]:
        query = (
            select(t.articles.c.id)
            .where(t.articles.c.enriched_at.is_(None))
            .order_by(t.articles.c.sort_at, t.articles.c.id)
        )
        with self.engine.connect() as c:
            return [int(i) for (i,) in c.execute(query)]

    def set_related(self, article_id: int, related: Sequence[tuple[int, float]]) -> None:
        with self._begin() as c:
            c.execute(delete(t.related).where(t.related.c.article_id == article_id))
            for rank, (other, similarity) in enumerate(related):
                c.execute(
                    insert(t.related).values(
                        article_id=article_id, related_id=other, rank=rank, similarity=similarity
                    )
                )

    def related_refs(self, article_id: int) -> tuple[RelatedRef, ...]:
        """The related records of an article as the record shows them, from the related articles' current state."""
        query = select(t.related.c.related_id, t.related.c.similarity).where(
            t.related.c.article_id == article_id
        )
        with self.engine.connect() as c:
            pairs = list(c.execute(query.order_by(t.related.c.rank)))
        found = self.get_articles([p[0] for p in pairs])
        return tuple(_ref(found[i], s) for i, s in pairs if i in found)

    # ------------------------------------------------------------------------------------- stories

    def create_story(self, story: Story, centroid: bytes | None, state: dict[str, Any]) -> int:
        values = _story_values(story, centroid, state) | {"heat": story.heat}
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.stories).values(**values)))

    def update_story(self, story: Story, centroid: bytes | None, state: dict[str, Any]) -> None:
        with self._begin() as c:
            c.execute(
                update(t.stories)
                .where(t.stories.c.id == story.id)
                .values(**_story_values(story, centroid, state))
            )

    def update_story_heat(self, story_id: int, heat: int) -> None:
        with self._begin() as c:
            c.execute(update(t.stories).where(t.stories.c.id == story_id).values(heat=heat))

    def get_story(self, story_id: int) -> Story:
        with self.engine.connect() as c:
            row = c.execute(select(t.stories).where(t.stories.c.id == story_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such story: {story_id}")
        return rows.story_from_row(row)

    def recent_stories(self, since: datetime) -> list[tuple[Story, bytes | None, dict[str, Any]]]:
        query = select(t.stories).where(t.stories.c.last_seen_at >= since).order_by(t.stories.c.id)
        with self.engine.connect() as c:
            return [
                (rows.story_from_row(r), r["centroid"], dict(r["state"] or {}))
                for r in c.execute(query).mappings()
            ]

    def list_stories(self, *, limit: int = 50, since: datetime | None = None) -> list[Story]:
        query = select(t.stories)
        if since is not None:
            query = query.where(t.stories.c.last_seen_at >= since)
        query = query.order_by(t.stories.c.heat.desc(), t.stories.c.last_seen_at.desc()).limit(limit)
        with self.engine.connect() as c:
            return [rows.story_from_row(r) for r in c.execute(query).mappings()]

    def story_articles(self, story_id: int) -> list[Article]:
        query = select(t.articles).where(t.articles.c.story_id == story_id).order_by(t.articles.c.sort_at)
        with self.engine.connect() as c:
            return [rows.article_from_row(r) for r in c.execute(query).mappings()]


def _story_values(story: Story, centroid: bytes | None, state: dict[str, Any]) -> dict[str, Any]:
    """A story's row; heat is left out — only ``update_story_heat`` writes it."""
    return {
        "title": story.title,
        "first_seen_at": story.first_seen_at,
        "last_seen_at": story.last_seen_at,
        "size": story.size,
        "providers": list(story.providers),
        "centroid": centroid,
        "state": state,
    }


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
