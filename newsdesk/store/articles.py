"""The store's articles: saving and finding them (by any URL they answer to), listing, searching and
counting them, and the topic and image rows written with them.

Articles are keyed on their canonical URL: saving the same article twice changes nothing (not even
``updated_at``). Not written here: the editorial state (``editorial.py``), the sightings under other
URLs (``alternates.py``), what enrichment adds (``enrichment.py``), what key rotation swaps
(``sealing.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError

from ..errors import StorageError
from ..model import Article, ReviewState, now, utc
from . import listing, rows, search
from . import tables as t
from .base import StoreBase, _chunks, _inserted_id, note_change


@dataclass(frozen=True, slots=True)
class Saved:
    """What :meth:`Store.save_article` did: the id, and whether the row was created or changed."""

    id: int
    created: bool
    changed: bool
    same_content: bool = False  # a new article's text was already stored (``id``): nothing was written


@dataclass(frozen=True, slots=True)
class ArticleQuery:
    """Filters for :meth:`Store.list_articles`. ``cursor`` comes from the previous page."""

    topic: str | None = None
    provider: str | None = None  # provider domain
    published: bool | None = None
    review_state: ReviewState | None = None
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


_ANSWERS_TO = (
    (t.articles.c.id, t.articles.c.canonical_url, t.articles.c.id),
    (t.alternates.c.article_id, t.alternates.c.url, t.alternates.c.id),
    (t.articles.c.id, t.articles.c.original_url, t.articles.c.id),
)
"""The URLs an article answers to, in order of preference: (article id, URL column, tie-break order)."""


def _find_article_statement() -> Select[Any]:
    """A UNION ALL of three indexed lookups, ranked; one OR over the three columns made the planner
    scan. Built once: building it per call cost more than running it (docs/benchmarks.md)."""
    url = bindparam("url", type_=String())
    hits = union_all(
        *(
            select(article_id.label("id"), literal(rank).label("rank"), order.label("seq")).where(
                column == url
            )
            for rank, (article_id, column, order) in enumerate(_ANSWERS_TO)
        )
    ).subquery()
    a = t.articles
    return select(a).join(hits, a.c.id == hits.c.id).order_by(hits.c.rank, hits.c.seq).limit(1)


_FIND_ARTICLE = _find_article_statement()
_KNOWN_URLS = union_all(
    *(select(column).where(column.in_(bindparam("urls", expanding=True))) for _, column, _ in _ANSWERS_TO)
)
_OWN_CANONICAL = select(t.articles.c.canonical_url).where(
    t.articles.c.source_id == bindparam("source_id"),
    t.articles.c.canonical_url.in_(bindparam("urls", expanding=True)),
)
URL_BATCH = 300  # URLs per query (three IN lists of this size stay far below any driver's parameter limit)
_BY_CANONICAL_URL = select(t.articles).where(t.articles.c.canonical_url == bindparam("url"))
_BY_CONTENT_HASH = select(t.articles).where(t.articles.c.content_hash == bindparam("hash"))
_BY_CONTENT_HASH = _BY_CONTENT_HASH.order_by(t.articles.c.id).limit(1)  # the first article with the text

_CONTENT_LOCK = sql_text("SELECT pg_advisory_xact_lock(:key)")
_INSERT_RETURNING_ID = insert(t.articles).returning(t.articles.c.id, sort_by_parameter_order=True)
_FIRST_WITH_HASH = (  # each text's first article: hash -> lowest id
    select(t.articles.c.content_hash, func.min(t.articles.c.id))
    .where(t.articles.c.content_hash.in_(bindparam("hashes", expanding=True)))
    .group_by(t.articles.c.content_hash)
)


class _SameContent(Exception):
    """Raised inside an insert's transaction to roll it back: ``article_id`` already holds the text."""

    def __init__(self, article_id: int) -> None:
        super().__init__(article_id)
        self.article_id = article_id


class ArticlesMixin(StoreBase):
    """Articles with their topic and image rows. A method here is one transaction, as everywhere."""

    def save_article(self, article: Article, *, new: bool = False) -> Saved:
        """Insert or update by canonical URL. Unchanged content writes nothing. Two workers inserting the
        same new URL at once: the loser's unique-key violation is retried once, as an update.

        ``new``: the caller has just found no article under this URL or its content hash, so the insert
        is tried without looking again (that lookup cost the ingest run's parent on every page); if another
        writer stored the URL in between, the violation takes the same update path, and if another writer
        stored the same text in between, nothing is written and ``same_content`` names that article (see
        :meth:`_lock_content`)."""
        try:
            return self._save_article(article, new=new)
        except _SameContent as same:
            return Saved(same.article_id, created=False, changed=False, same_content=True)
        except StorageError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            return self._save_article(article)

    def insert_new_articles(self, articles: Sequence[Article]) -> list[int] | None:
        """Insert every one of ``articles`` in one transaction and return their ids, or insert none and
        return None when any of them meets an article already stored under its URL or its text (or
        another of the batch): the caller then saves them one by one, through the look-ups that decide
        what each is. A first poll's entries are all new, and a transaction each was most of their cost."""
        try:
            with self._begin() as c:
                for content_hash in sorted({a.content_hash for a in articles if a.content_hash}):
                    self._lock_content(c, content_hash)  # in one order: two batches never wait on each other
                return self._insert_batch(c, articles)
        except _SameContent:
            return None
        except StorageError as e:
            if isinstance(e.__cause__, IntegrityError):
                return None
            raise

    def _insert_batch(self, c: Connection, articles: Sequence[Article]) -> list[int]:
        """One multi-row INSERT … RETURNING and one look for texts stored twice (raising :class:`_SameContent`,
        as one insert at a time does): a statement per article was most of a first poll's store work."""
        stamp, index = now(), self.index_full_text
        values = [{**rows.article_row(a, full_text_index=index), **_stamps(a, stamp)} for a in articles]
        ids = [int(i) for i in c.execute(_INSERT_RETURNING_ID, values).scalars()]
        note_change(c, articles=ids)
        claims = {a.content_hash: i for a, i in zip(articles, ids, strict=True) if a.content_hash}
        if claims:
            first = dict(c.execute(_FIRST_WITH_HASH, {"hashes": list(claims)}).all())
            if first != claims:  # a text stored before, or twice in the batch
                raise _SameContent(min(first.values()))
        for article, new_id in zip(articles, ids, strict=True):
            _write_topics(c, new_id, article.topics, new=True)
            write_images(c, new_id, article, new=True)
        return ids

    def save_articles(self, articles: Sequence[Article]) -> None:
        """:meth:`save_article` of each of ``articles`` (stored ones) in one transaction: enrichment saves
        a batch's stories, then its topics and scores, at once (a transaction each was most of its store time)."""
        with self._begin() as c:
            for article in articles:
                self._save_in(c, article)

    def _save_article(self, article: Article, *, new: bool = False) -> Saved:
        with self._begin() as c:
            return self._save_in(c, article, new=new)

    def _save_in(self, c: Connection, article: Article, *, new: bool = False) -> Saved:
        row = rows.article_row(article, full_text_index=self.index_full_text)
        found = None if new else c.execute(_BY_CANONICAL_URL, {"url": article.web_url}).mappings().first()
        if found is None:
            return self._insert_article(c, article, row, claim_content=new)
        changed = {k: v for k, v in row.items() if _differs(found[k], v)}
        if changed:
            stamp = now()
            changed |= {"updated_at": stamp, "sort_at": article.published_at or found["first_seen_at"]}
            c.execute(update(t.articles).where(t.articles.c.id == found["id"]).values(**changed))
            note_change(c, articles=[found["id"]], stories=[found["story_id"]])  # and the story it left
            if "topics" in changed:
                _write_topics(c, found["id"], article.topics)
            if "images" in changed:
                write_images(c, found["id"], article)
        return Saved(found["id"], created=False, changed=bool(changed))

    def _insert_article(
        self, c: Connection, article: Article, row: dict[str, Any], *, claim_content: bool = False
    ) -> Saved:
        claim = article.content_hash if claim_content else None
        if claim:
            self._lock_content(c, claim)
        new_id = _inserted_id(c.execute(insert(t.articles), {**row, **_stamps(article, now())}))
        note_change(c, articles=[new_id])
        if claim:
            first = c.execute(_FIRST_WITH_HASH, {"hashes": [claim]}).one()[1]
            if first != new_id:  # an earlier article holds the text
                raise _SameContent(first)
        _write_topics(c, new_id, article.topics, new=True)
        write_images(c, new_id, article, new=True)
        return Saved(new_id, created=True, changed=True)

    def _lock_content(self, c: Connection, content_hash: str) -> None:
        """Two processes storing the same text at once (an original and its word-for-word copy, polled
        by two workers) both find no row under its hash. After the insert each looks for an earlier row
        with that hash and the later one withdraws. SQLite serialises writers, so the look sees the other
        insert once committed; PostgreSQL needs this transaction lock on the hash to order the two."""
        if self.dialect == "postgresql":
            key = hashlib.blake2b(content_hash.encode(), digest_size=8).digest()
            c.execute(_CONTENT_LOCK, {"key": int.from_bytes(key, "big", signed=True)})

    def get_article(self, article_id: int) -> Article:
        with self._read() as c:
            row = c.execute(select(t.articles).where(t.articles.c.id == article_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such article: {article_id}")
        return rows.article_from_row(row)

    def get_articles(self, ids: Sequence[int]) -> dict[int, Article]:
        with self._read() as c:
            return articles_by_id(c, ids)

    def existing_article_ids(self, ids: Sequence[int]) -> set[int]:
        with self._read() as c:
            return existing_ids(c, ids)

    def published_among(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are published articles: filters a ranking without loading whole rows."""
        out: set[int] = set()
        a = t.articles
        with self._read() as c:
            for chunk in _chunks(list(ids), 500):
                query = select(a.c.id).where(a.c.id.in_(chunk), a.c.published.is_(True))
                out.update(int(i) for (i,) in c.execute(query))
        return out

    def find_article(self, url: str) -> Article | None:
        """The article whose canonical URL, original URL or an alternate URL is ``url``, in that order
        of preference (then the earliest). One prebuilt statement: it runs twice per ingested entry."""
        with self._read() as c:
            row = c.execute(_FIND_ARTICLE, {"url": url}).mappings().first()
        return rows.article_from_row(row) if row else None

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Those of ``urls`` that an article answers to (as canonical, original or alternate URL). A feed's
        entries are checked in one query per :data:`URL_BATCH`, not one lookup each: on a first poll
        most entries are new, and each lookup cost the run's single parent thread (docs/benchmarks.md)."""
        wanted, found = sorted(set(urls)), set[str]()
        with self._read() as c:
            for start in range(0, len(wanted), URL_BATCH):
                batch = {"urls": wanted[start : start + URL_BATCH]}
                found.update(c.execute(_KNOWN_URLS, batch).scalars())
        return found

    def own_canonical_urls(self, source_id: int | None, urls: Sequence[str]) -> set[str]:
        """Those of ``urls`` that are the canonical URL of an article of ``source_id``: a poll's entries
        seen again, checked in one query per :data:`URL_BATCH` instead of loading each article."""
        wanted, found = sorted(set(urls)), set[str]()
        with self._read() as c:
            for start in range(0, len(wanted), URL_BATCH):
                batch = {"source_id": source_id, "urls": wanted[start : start + URL_BATCH]}
                found.update(url for (url,) in c.execute(_OWN_CANONICAL, batch))
        return found

    def find_by_content_hash(self, content_hash: str) -> Article | None:
        with self._read() as c:
            row = c.execute(_BY_CONTENT_HASH, {"hash": content_hash}).mappings().first()
        return rows.article_from_row(row) if row else None

    def iter_articles(self, *, batch: int = 500, where: Any = None) -> Iterator[Article]:
        """Every article (optionally filtered), oldest id first, streamed in batches by keyset."""
        return stream_articles(self.engine, batch=batch, where=where)

    def count_articles(self) -> int:
        return self.article_total()

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
        with self._read() as c:
            return int(c.execute(query).scalar_one())

    def pending_counts(self) -> dict[str, int]:
        """Articles waiting for a stage (``/metrics``): not yet enriched, and waiting for an editor."""
        a = t.articles.c
        waiting = {"enrich": a.enriched_at.is_(None), "review": a.review_state == "pending"}
        count = select(func.count()).select_from(t.articles)
        with self._read() as c:
            return {stage: int(c.execute(count.where(w)).scalar_one()) for stage, w in waiting.items()}

    def list_articles(self, query: ArticleQuery) -> Page:
        """A page of articles newest first (by publication, else first sighting), with a cursor for the next."""
        statement = listing.filtered(select(t.articles), query)
        if query.cursor:
            at, last_id = listing.decode_cursor(query.cursor)
            older = or_(
                t.articles.c.sort_at < at, and_(t.articles.c.sort_at == at, t.articles.c.id < last_id)
            )
            statement = statement.where(older)
        statement = statement.order_by(t.articles.c.sort_at.desc(), t.articles.c.id.desc()).limit(
            query.limit + 1
        )
        with self._read() as c:
            found = list(c.execute(statement).mappings())
        items = tuple(rows.article_from_row(r) for r in found[: query.limit])
        more = len(found) > query.limit
        cursor = (
            listing.encode_cursor(found[query.limit - 1]["sort_at"], items[-1].id or 0)
            if more and items
            else None
        )
        return Page(items, cursor)

    def search(self, q: str, *, limit: int = 20) -> list[tuple[Article, float]]:
        with self._read() as c:
            hits = search.search_ids(c, q, limit)
        found = self.get_articles([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def search_ranking(
        self, q: str, *, limit: int = 20, published_only: bool = False
    ) -> list[tuple[int, float]]:
        """``(article id, score)`` best first, as :meth:`search` ranks them, without loading the articles;
        with ``published_only``, the published matches only (filtered before ranking: the public's)."""
        with self._read() as c:
            return search.search_ids(c, q, limit, published_only=published_only)

    def delete_article(self, article_id: int) -> None:
        with self._begin() as c:
            c.execute(delete(t.articles).where(t.articles.c.id == article_id))
            note_change(c, articles=[article_id], lists=True)  # gone: its published flag cannot say

    # -------------------------------------------------------------------------------------- images

    def image_published(self, sha256: str) -> bool:
        """Whether a published article shows the cached image ``sha256``: the public may see an image
        only through an article it may see. One indexed lookup (``article_images``)."""
        a, ai = t.articles, t.article_images
        query = (
            select(ai.c.article_id)
            .join(a, a.c.id == ai.c.article_id)
            .where(ai.c.sha256 == sha256, a.c.published.is_(True))
            .limit(1)
        )
        with self._read() as c:
            return c.execute(query).first() is not None


def articles_by_id(c: Connection, ids: Sequence[int]) -> dict[int, Article]:
    """The articles of ``ids`` that exist, by id, in one query per 500: for any part of the store that
    holds article ids (related records, search hits) and needs the articles."""
    out: dict[int, Article] = {}
    for chunk in _chunks(list(ids), 500):
        for row in c.execute(select(t.articles).where(t.articles.c.id.in_(chunk))).mappings():
            out[row["id"]] = rows.article_from_row(row)
    return out


def ids_after(c: Connection, since: int, *, unenriched: bool) -> set[int]:
    """Articles stored after id ``since`` and, with ``unenriched``, those not enriched yet: index ranges
    (the primary key, ``ix_articles_unenriched``), so a store of a million articles costs what ten do."""
    a = t.articles.c
    wanted = [a.id > since, a.enriched_at.is_(None)] if unenriched else [a.id > since]
    return {int(i) for where in wanted for (i,) in c.execute(select(a.id).where(where))}


def existing_ids(c: Connection, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that name an article, in one query per 500."""
    out: set[int] = set()
    for chunk in _chunks(sorted(set(ids)), 500):
        out |= {
            int(i) for i in c.execute(select(t.articles.c.id).where(t.articles.c.id.in_(chunk))).scalars()
        }
    return out


def stream_articles(engine: Engine, *, batch: int = 500, where: Any = None) -> Iterator[Article]:
    """Articles (those ``where`` selects, or all) oldest id first, read in batches by keyset, each batch
    on its own connection so a long walk holds none open between batches."""
    last = 0
    while True:
        query = select(t.articles).where(t.articles.c.id > last)
        if where is not None:
            query = query.where(where)
        with engine.connect() as c:
            page = [
                rows.article_from_row(r)
                for r in c.execute(query.order_by(t.articles.c.id).limit(batch)).mappings()
            ]
        yield from page
        if len(page) < batch:
            return
        last = page[-1].id or last


def _stamps(article: Article, stamp: datetime) -> dict[str, Any]:
    """A new row's editorial state and the timestamps the store owns."""
    first_seen = article.first_seen_at or stamp
    at = {"first_seen_at": first_seen, "updated_at": stamp, "sort_at": article.published_at or first_seen}
    return {**rows.review_columns(article.review_state), **at}


def _write_topics(c: Connection, article_id: int, topics: Sequence[str], *, new: bool = False) -> None:
    if not new:
        c.execute(delete(t.article_topics).where(t.article_topics.c.article_id == article_id))
    if topics:
        ranked = [
            {"article_id": article_id, "topic": topic, "rank": rank} for rank, topic in enumerate(topics)
        ]
        c.execute(insert(t.article_topics), ranked)


def write_images(c: Connection, article_id: int, article: Article, *, new: bool = False) -> None:
    """The cached images ``article_id`` shows (``article_images``, which the image route checks): for
    this module's saves and a fold that gives a row another article's images (``alternates.py``)."""
    if not new:
        c.execute(delete(t.article_images).where(t.article_images.c.article_id == article_id))
    shas = sorted({i.sha256 for i in article.images if i.is_cached and i.sha256})
    if shas:
        c.execute(insert(t.article_images), [{"article_id": article_id, "sha256": sha} for sha in shas])


def _differs(stored: Any, new: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(new, datetime):
        return utc(stored) != utc(new)
    return bool(stored != new)
