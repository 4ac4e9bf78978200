"""The store: every read and write newsdesk makes, on SQLite or PostgreSQL through the same code.

Each public method is one transaction, so a crash loses at most the operation in flight and a later run
resumes from what was committed. Articles are keyed on their canonical URL: saving the same article twice
changes nothing (not even ``updated_at``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..errors import StorageError
from ..model import Alternate, Article, RelatedRef, Source, SourceHealth, Story, now, utc
from . import rows, search
from . import tables as t
from .migrate import upgrade

log = logging.getLogger(__name__)

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)  # how stale a token's last_used_at may get


@dataclass(frozen=True, slots=True)
class Saved:
    """What :meth:`Store.save_article` did: the id, and whether the row was created or changed."""

    id: int
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class ArticleQuery:
    """Filters for :meth:`Store.list_articles`. ``cursor`` comes from the previous page."""

    topic: str | None = None
    provider: str | None = None  # provider domain
    published: bool | None = None
    review_state: str | None = None
    min_quality: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    story_id: int | None = None
    source_id: int | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[Article, ...]
    next_cursor: str | None


def make_engine(url: str) -> Engine:
    """An engine with the pragmas newsdesk relies on: WAL and foreign keys on SQLite."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """One store, one engine. Open with :meth:`open`, which runs the migrations."""

    def __init__(self, engine: Engine, *, index_full_text: bool = False) -> None:
        self.engine = engine
        self.index_full_text = index_full_text

    @classmethod
    def open(cls, url: str, *, index_full_text: bool = False, migrate: bool = True) -> Store:
        try:
            engine = make_engine(url)
            if migrate:
                upgrade(engine)
        except (SQLAlchemyError, OSError) as e:
            raise StorageError(f"cannot open the database {_redact(url)}: {_first_line(e)}") from e
        return cls(engine, index_full_text=index_full_text)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _begin(self) -> Any:
        return _Transaction(self.engine)

    # ------------------------------------------------------------------------------------ sources

    def add_source(self, source: Source) -> Source:
        """Insert a new source; a source with the same URL is a :class:`StorageError`."""
        with self._begin() as c:
            if c.execute(select(t.sources.c.id).where(t.sources.c.url == source.url)).first():
                raise StorageError(f"source already exists: {source.url}")
            row = rows.source_row(source) | {"created_at": now(), "error_count": 0}
            new_id = _inserted_id(c.execute(insert(t.sources).values(**row)))
        return self.get_source(int(new_id))

    def update_source(self, source_id: int, source: Source) -> Source:
        with self._begin() as c:
            c.execute(update(t.sources).where(t.sources.c.id == source_id).values(**rows.source_row(source)))
        return self.get_source(source_id)

    def get_source(self, key: int | str) -> Source:
        column = t.sources.c.id if isinstance(key, int) else t.sources.c.url
        with self.engine.connect() as c:
            row = c.execute(select(t.sources).where(column == key)).mappings().first()
        if row is None:
            raise StorageError(f"no such source: {key}")
        return rows.source_from_row(row)

    def list_sources(self) -> list[Source]:
        with self.engine.connect() as c:
            result = c.execute(select(t.sources).order_by(t.sources.c.id)).mappings()
            return [rows.source_from_row(r) for r in result]

    def remove_source(self, key: int | str) -> Source:
        source = self.get_source(key)
        with self._begin() as c:
            c.execute(delete(t.sources).where(t.sources.c.id == source.id))
        return source

    def save_health(self, source_id: int, health: SourceHealth) -> None:
        with self._begin() as c:
            c.execute(update(t.sources).where(t.sources.c.id == source_id).values(**rows.health_row(health)))

    def due_sources(self, at: datetime) -> list[Source]:
        """Sources whose next poll is due (or that were never polled)."""
        due = or_(t.sources.c.next_poll_at.is_(None), t.sources.c.next_poll_at <= at)
        with self.engine.connect() as c:
            result = c.execute(select(t.sources).where(due).order_by(t.sources.c.id)).mappings()
            return [rows.source_from_row(r) for r in result]

    # ----------------------------------------------------------------------------------- articles

    def save_article(self, article: Article) -> Saved:
        """Insert or update by canonical URL. Unchanged content writes nothing. Two workers inserting the
        same new URL at once: the loser's unique-key violation is retried once, as an update."""
        try:
            return self._save_article(article)
        except StorageError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            return self._save_article(article)

    def _save_article(self, article: Article) -> Saved:
        row = rows.article_row(article, full_text_index=self.index_full_text)
        with self._begin() as c:
            existing = c.execute(
                select(t.articles).where(t.articles.c.canonical_url == article.web_url)
            ).mappings()
            found = existing.first()
            if found is None:
                return self._insert_article(c, article, row)
            changed = {k: v for k, v in row.items() if _differs(found[k], v)}
            if changed:
                stamp = now()
                changed |= {"updated_at": stamp, "sort_at": article.published_at or found["first_seen_at"]}
                c.execute(update(t.articles).where(t.articles.c.id == found["id"]).values(**changed))
                if "topics" in changed:
                    _write_topics(c, found["id"], article.topics)
            return Saved(found["id"], created=False, changed=bool(changed))

    def _insert_article(self, c: Connection, article: Article, row: dict[str, Any]) -> Saved:
        first_seen = article.first_seen_at or now()
        stamps = {
            "published": article.published,
            "review_state": "published" if article.published else article.review_state,
            "first_seen_at": first_seen,
            "updated_at": now(),
            "sort_at": article.published_at or first_seen,
        }
        new_id = _inserted_id(c.execute(insert(t.articles).values(**row, **stamps)))
        _write_topics(c, new_id, article.topics)
        return Saved(new_id, created=True, changed=True)

    def get_article(self, article_id: int) -> Article:
        with self.engine.connect() as c:
            row = c.execute(select(t.articles).where(t.articles.c.id == article_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such article: {article_id}")
        return rows.article_from_row(row)

    def find_article(self, url: str) -> Article | None:
        """The article whose canonical URL, original URL or an alternate URL is ``url``."""
        # Three indexed lookups, most likely first: one OR over them made the planner scan the table.
        a = t.articles
        alternate = (
            select(t.alternates.c.article_id).where(t.alternates.c.url == url).order_by(t.alternates.c.id)
        )
        lookups = (
            select(a).where(a.c.canonical_url == url),
            select(a).where(a.c.id == alternate.limit(1).scalar_subquery()),
            select(a).where(a.c.original_url == url).order_by(a.c.id),
        )
        with self.engine.connect() as c:
            for query in lookups:
                row = c.execute(query.limit(1)).mappings().first()
                if row is not None:
                    return rows.article_from_row(row)
        return None

    def find_by_content_hash(self, content_hash: str) -> Article | None:
        query = select(t.articles).where(t.articles.c.content_hash == content_hash).order_by(t.articles.c.id)
        with self.engine.connect() as c:
            row = c.execute(query.limit(1)).mappings().first()
        return rows.article_from_row(row) if row else None

    def get_articles(self, ids: Sequence[int]) -> dict[int, Article]:
        out: dict[int, Article] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(list(ids), 500):
                for row in c.execute(select(t.articles).where(t.articles.c.id.in_(chunk))).mappings():
                    out[row["id"]] = rows.article_from_row(row)
        return out

    def iter_articles(self, *, batch: int = 500, where: Any = None) -> Iterator[Article]:
        """Every article (optionally filtered), oldest id first, streamed in batches by keyset."""
        last = 0
        while True:
            query = select(t.articles).where(t.articles.c.id > last)
            if where is not None:
                query = query.where(where)
            with self.engine.connect() as c:
                page = [
                    rows.article_from_row(r)
                    for r in c.execute(query.order_by(t.articles.c.id).limit(batch)).mappings()
                ]
            yield from page
            if len(page) < batch:
                return
            last = page[-1].id or last

    def count_articles(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.articles)).scalar_one())

    def list_articles(self, query: ArticleQuery) -> Page:
        """A page of articles newest first (by publication, else first sighting), with a cursor for the next."""
        statement = _filtered(select(t.articles), query)
        if query.cursor:
            at, last_id = _decode_cursor(query.cursor)
            older = or_(
                t.articles.c.sort_at < at, and_(t.articles.c.sort_at == at, t.articles.c.id < last_id)
            )
            statement = statement.where(older)
        statement = statement.order_by(t.articles.c.sort_at.desc(), t.articles.c.id.desc()).limit(
            query.limit + 1
        )
        with self.engine.connect() as c:
            found = list(c.execute(statement).mappings())
        items = tuple(rows.article_from_row(r) for r in found[: query.limit])
        more = len(found) > query.limit
        cursor = (
            _encode_cursor(found[query.limit - 1]["sort_at"], items[-1].id or 0) if more and items else None
        )
        return Page(items, cursor)

    def search(self, q: str, *, limit: int = 20) -> list[tuple[Article, float]]:
        with self.engine.connect() as c:
            hits = search.search_ids(c, q, limit)
        found = self.get_articles([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def delete_article(self, article_id: int) -> None:
        with self._begin() as c:
            c.execute(delete(t.articles).where(t.articles.c.id == article_id))

    # ---------------------------------------------------------------------------------- alternates

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

    # ---------------------------------------------------------------------------------- enrichment

    def save_embedding(self, article_id: int, model: str, vector: npt.NDArray[np.float32]) -> None:
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
    ) -> list[tuple[int, int | None, datetime, str]]:
        """(id, story id, time, provider domain) of the articles in a time range: what the related stage
        needs to diversify its neighbours, without loading whole articles."""
        a = t.articles
        query = select(a.c.id, a.c.story_id, a.c.sort_at, a.c.provider_domain).where(
            a.c.sort_at.between(since, until)
        )
        with self.engine.connect() as c:
            return [(int(i), s, utc(at), str(d)) for i, s, at, d in c.execute(query)]

    def secured_payloads(self) -> list[tuple[int, str, str]]:
        """(id, secured, key id) of every sealed article: what a key rotation re-encrypts."""
        a = t.articles
        query = select(a.c.id, a.c.secured, a.c.key_id).where(a.c.secured.is_not(None)).order_by(a.c.id)
        with self.engine.connect() as c:
            return [(int(i), str(s), str(k or "")) for i, s, k in c.execute(query)]

    def update_secured(self, article_id: int, secured: str, key_id: str) -> None:
        """Swap one payload for its re-encrypted form, in its own transaction (rotation resumes per row)."""
        with self._begin() as c:
            c.execute(
                update(t.articles).where(t.articles.c.id == article_id).values(secured=secured, key_id=key_id)
            )

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

    # ------------------------------------------------------------------------- decisions and events

    def record_decision(
        self, article_id: int, action: str, actor: str, reason: str = "", data: dict[str, Any] | None = None
    ) -> None:
        with self._begin() as c:
            c.execute(
                insert(t.decisions).values(
                    article_id=article_id,
                    action=action,
                    actor=actor,
                    reason=reason,
                    at=now(),
                    data=data or {},
                )
            )

    def decisions(self, article_id: int) -> list[dict[str, Any]]:
        query = select(t.decisions).where(t.decisions.c.article_id == article_id).order_by(t.decisions.c.id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def set_review_state(self, article_id: int, state: str, *, expect: str | None = None) -> bool:
        """Move an article to ``state`` (and ``published`` with it); with ``expect``, only from that state —
        two editors publishing at once: one wins, the other learns it was already done."""
        values = {"review_state": state, "published": state == "published", "updated_at": now()}
        condition = t.articles.c.id == article_id
        if expect is not None:
            condition = and_(condition, t.articles.c.review_state == expect)
        with self._begin() as c:
            return bool(c.execute(update(t.articles).where(condition).values(**values)).rowcount)

    def record_event(
        self,
        kind: str,
        message: str,
        *,
        source_id: int | None = None,
        article_id: int | None = None,
        url: str | None = None,
        run_id: int | None = None,
        level: str = "error",
    ) -> None:
        row = {"kind": kind, "message": message[:4000], "source_id": source_id, "article_id": article_id,
               "url": url, "run_id": run_id, "level": level, "at": now()}  # fmt: skip
        with self._begin() as c:
            c.execute(insert(t.events).values(**row))

    def events(
        self, *, source_id: int | None = None, run_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(t.events)
        if source_id is not None:
            query = query.where(t.events.c.source_id == source_id)
        if run_id is not None:
            query = query.where(t.events.c.run_id == run_id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(t.events.c.id.desc()).limit(limit)).mappings()]

    def start_run(self) -> int:
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.runs).values(started_at=now(), stats={})))

    def finish_run(self, run_id: int, stats: dict[str, Any]) -> None:
        with self._begin() as c:
            c.execute(update(t.runs).where(t.runs.c.id == run_id).values(finished_at=now(), stats=stats))

    # -------------------------------------------------------------------------------------- tokens

    def create_token(self, name: str, scope: str, token_hash: str) -> int:
        with self._begin() as c:
            values = {"name": name, "scope": scope, "token_hash": token_hash, "created_at": now()}
            return _inserted_id(c.execute(insert(t.tokens).values(**values)))

    def find_token(self, token_hash: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this hash; marks it used."""
        query = select(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
        with self.engine.connect() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            return None
        last = row["last_used_at"]
        if last is None or now() - utc(last) > TOKEN_TOUCH_INTERVAL:  # not a write per request
            with self._begin() as c:
                c.execute(update(t.tokens).where(t.tokens.c.id == row["id"]).values(last_used_at=now()))
        return dict(row)

    def list_tokens(self) -> list[dict[str, Any]]:
        query = select(t.tokens.c.id, t.tokens.c.name, t.tokens.c.scope, t.tokens.c.created_at,
                       t.tokens.c.revoked_at, t.tokens.c.last_used_at)  # fmt: skip
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(t.tokens.c.id)).mappings()]

    def revoke_token(self, token_id: int) -> bool:
        live = and_(t.tokens.c.id == token_id, t.tokens.c.revoked_at.is_(None))
        with self._begin() as c:
            return bool(c.execute(update(t.tokens).where(live).values(revoked_at=now())).rowcount)

    # ---------------------------------------------------------------------------------------- meta

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as c:
            row = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._begin() as c:
            if c.execute(update(t.meta).where(t.meta.c.key == key).values(value=value)).rowcount == 0:
                c.execute(insert(t.meta).values(key=key, value=value))

    def topic_counts(self) -> dict[str, int]:
        query = select(t.article_topics.c.topic, func.count()).group_by(t.article_topics.c.topic)
        with self.engine.connect() as c:
            return {str(topic): int(n) for topic, n in c.execute(query)}

    # --------------------------------------------------------------- read models (newsdesk.catalog)
    # What the API and the web UI show, counted and filtered in SQL: each is one query whatever the
    # store holds. ``published_only`` is the anonymous reader's view (see newsdesk.catalog.Audience).

    def topic_totals(self, *, published_only: bool = False) -> dict[str, int]:
        """Articles per topic (as :meth:`topic_counts`), only the published ones with ``published_only``."""
        at, a = t.article_topics, t.articles
        query = select(at.c.topic, func.count()).select_from(at.join(a, a.c.id == at.c.article_id))
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            return {str(topic): int(n) for topic, n in c.execute(query.group_by(at.c.topic))}

    def topic_day_counts(
        self,
        since: datetime,
        until: datetime,
        *,
        topics: Sequence[str] | None = None,
        published_only: bool = False,
    ) -> list[tuple[str, date, int]]:
        """``(topic, UTC day, articles)`` for the articles whose ``sort_at`` (publication, else first
        sighting) is in ``[since, until)``, grouped by topic and day; days without articles are absent."""
        at, a = t.article_topics, t.articles
        day = self._utc_day(a.c.sort_at).label("day")
        query = (
            select(at.c.topic, day, func.count())
            .select_from(at.join(a, a.c.id == at.c.article_id))
            .where(a.c.sort_at >= since, a.c.sort_at < until)
        )
        if topics is not None:
            query = query.where(at.c.topic.in_(list(topics)))
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            found = c.execute(query.group_by(at.c.topic, day))
            return [(str(topic), _as_date(when), int(n)) for topic, when, n in found]

    def _utc_day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column. SQLite keeps UTC text (``YYYY-MM-DD HH:MM:SS``);
        PostgreSQL's ``timestamptz`` is shifted to UTC first so the session time zone cannot move a day.
        'UTC' is inlined, not bound: with server-side binding the SELECT and GROUP BY copies of a bound
        value are different parameters, and PostgreSQL would refuse the grouping."""
        if self.dialect == "sqlite":
            return func.date(column)
        return func.date(func.timezone(literal_column("'UTC'"), column))

    def article_total(
        self, *, since: datetime | None = None, until: datetime | None = None, published_only: bool = False
    ) -> int:
        """How many articles (``sort_at`` in ``[since, until)`` when given; published only if asked)."""
        a = t.articles
        query = select(func.count()).select_from(a)
        if since is not None:
            query = query.where(a.c.sort_at >= since)
        if until is not None:
            query = query.where(a.c.sort_at < until)
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            return int(c.execute(query).scalar_one())

    def published_among(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are published articles: filters a ranking without loading whole rows."""
        out: set[int] = set()
        a = t.articles
        with self.engine.connect() as c:
            for chunk in _chunks(list(ids), 500):
                query = select(a.c.id).where(a.c.id.in_(chunk), a.c.published.is_(True))
                out.update(int(i) for (i,) in c.execute(query))
        return out

    def search_ranking(self, q: str, *, limit: int = 20) -> list[tuple[int, float]]:
        """``(article id, score)`` best first, as :meth:`search` ranks them, without loading the articles."""
        with self.engine.connect() as c:
            return search.search_ids(c, q, limit)

    def top_stories(
        self, *, limit: int = 50, since: datetime | None = None, published_only: bool = False
    ) -> list[Story]:
        """Stories hottest first (as :meth:`list_stories`); with ``published_only`` only the stories
        holding at least one published article."""
        s, a = t.stories, t.articles
        query = select(s)
        if since is not None:
            query = query.where(s.c.last_seen_at >= since)
        if published_only:
            shown = select(a.c.id).where(a.c.story_id == s.c.id, a.c.published.is_(True)).exists()
            query = query.where(shown)
        query = query.order_by(s.c.heat.desc(), s.c.last_seen_at.desc()).limit(limit)
        with self.engine.connect() as c:
            return [rows.story_from_row(r) for r in c.execute(query).mappings()]

    def articles_of_stories(
        self, story_ids: Sequence[int], *, published_only: bool = False
    ) -> dict[int, list[Article]]:
        """Each story's articles, oldest first (as :meth:`story_articles`), for many stories in one
        query per 500; a story without (published) articles is absent."""
        a = t.articles
        out: dict[int, list[Article]] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(list(story_ids), 500):
                query = select(a).where(a.c.story_id.in_(chunk))
                if published_only:
                    query = query.where(a.c.published.is_(True))
                for row in c.execute(query.order_by(a.c.sort_at, a.c.id)).mappings():
                    out.setdefault(int(row["story_id"]), []).append(rows.article_from_row(row))
        return out


def _as_date(value: Any) -> date:
    """A day from the database: a ``date`` (PostgreSQL) or ``YYYY-MM-DD`` text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class _Transaction:
    """``engine.begin()`` that turns database failures into :class:`StorageError` (a StorageError raised
    inside passes through unchanged). The transaction is rolled back either way."""

    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()

    def __enter__(self) -> Connection:
        try:
            return self._context.__enter__()
        except (OperationalError, SQLAlchemyError) as e:
            raise StorageError(f"database unavailable: {_first_line(e)}") from e

    def __exit__(self, *exc: Any) -> None:
        try:
            self._context.__exit__(*exc)
        except SQLAlchemyError as e:
            raise StorageError(f"database error: {_first_line(e)}") from e
        if exc[1] is not None and isinstance(exc[1], SQLAlchemyError):
            raise StorageError(f"database error: {_first_line(exc[1])}") from exc[1]


def _write_topics(c: Connection, article_id: int, topics: Sequence[str]) -> None:
    c.execute(delete(t.article_topics).where(t.article_topics.c.article_id == article_id))
    for rank, topic in enumerate(topics):
        c.execute(insert(t.article_topics).values(article_id=article_id, topic=topic, rank=rank))


def _filtered(statement: Select[Any], q: ArticleQuery) -> Select[Any]:
    a = t.articles
    conditions: list[Any] = []
    if q.topic:
        # EXISTS, not IN: the planner then walks the sort_at index and stops at the page size, instead of
        # collecting and sorting every article of the topic (100 ms → 1.4 ms at 30k rows on SQLite).
        at = t.article_topics
        conditions.append(
            select(at.c.article_id).where(at.c.article_id == a.c.id, at.c.topic == q.topic).exists()
        )
    if q.provider:
        conditions.append(a.c.provider_domain == q.provider)
    if q.published is not None:
        conditions.append(a.c.published == q.published)
    if q.review_state:
        conditions.append(a.c.review_state == q.review_state)
    if q.min_quality is not None:
        conditions.append(a.c.quality >= q.min_quality)
    if q.since is not None:
        conditions.append(a.c.sort_at >= q.since)
    if q.until is not None:
        conditions.append(a.c.sort_at <= q.until)
    if q.story_id is not None:
        conditions.append(a.c.story_id == q.story_id)
    if q.source_id is not None:
        conditions.append(a.c.source_id == q.source_id)
    if q.q:
        conditions.append(a.c.search_text.ilike(f"%{_escape_like(q.q)}%", escape="\\"))
    return statement.where(*conditions) if conditions else statement


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(at: datetime, article_id: int) -> str:
    return base64.urlsafe_b64encode(f"{utc(at).isoformat()}|{article_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, article_id = raw.rsplit("|", 1)
        return utc(datetime.fromisoformat(at)), int(article_id)
    except (ValueError, UnicodeDecodeError) as e:
        raise StorageError("cursor: not a cursor this server issued") from e


def _differs(stored: Any, new: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(new, datetime):
        return utc(stored) != utc(new)
    return bool(stored != new)


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


def _inserted_id(result: Any) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise StorageError("insert returned no primary key")
    return int(key[0])


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _redact(url: str) -> str:
    """Hide a password in a database URL before it reaches a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url
