"""What every part of the store shares: the engine, one transaction helper, small utilities."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.sql.dml import UpdateBase

from ..errors import StorageError
from . import tables as t

STAMPED_TABLES = frozenset(
    {
        "articles",
        "article_topics",
        "article_images",
        "alternates",
        "stories",
        "related",
        "decisions",
        "embeddings",
    }
)
"""The tables a record, a list, a page or a search is read from (embeddings: semantic search): a
transaction that writes one of them moves the change stamp. Not here: runs (what a run changes —
enrichment, heat, related, rules — is written to these tables; a cycle of 304s must leave the stamp
alone, or the desk would export after each),
sources (their health moves on every poll and has its own stamp), reader state (per user; nothing
shared is cached for a signed-in user), tokens, events, webhooks, alerts, meta."""
_WROTE = "newsdesk_wrote_stamped"  # Connection.info key: this transaction wrote a stamped table
_NOTES = "newsdesk_change_notes"  # Connection.info key: what the transaction said it touched (_Notes)
_local_bumps = 0  # stamped transactions this process committed (see local_bumps)


def local_bumps() -> int:
    """How many transactions that moved the change stamp this process has committed: free to read, so
    a reader in the process that wrote (the API after a publish, the desk's own server) can tell at
    once that the stamp it holds is old, without asking the database."""
    return _local_bumps


class StoreBase:
    """The engine and the transaction helper every mixin is written against. It holds no entity's
    methods: a mixin that needs another entity's rows calls that module's connection-level function
    (``articles.articles_by_id``), not a method of a sibling mixin it cannot see."""

    engine: Engine
    index_full_text: bool

    def _begin(self) -> Any:
        return _Transaction(self.engine)

    def _read(self) -> Connection:
        """A connection for reads only: on PostgreSQL in autocommit, so each statement is one round trip
        instead of three (``BEGIN``, the statement, and the ``ROLLBACK`` that ends a read's transaction
        when the connection goes back to the pool). Nothing is lost: at PostgreSQL's READ COMMITTED each
        statement of a transaction already reads its own snapshot, and a read writes nothing to keep or
        undo. SQLite is unchanged (its transactions are not round trips)."""
        return self._reader.connect()

    @functools.cached_property
    def _reader(self) -> Engine:
        if self.engine.dialect.name == "postgresql":
            return self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self.engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def watch_writes(engine: Engine) -> None:
    """Note on the connection each INSERT, UPDATE or DELETE of a stamped table, so that the transaction
    bumps the change stamp before it commits (:class:`_Transaction`)."""
    event.listen(engine, "before_execute", _note_write)


def _note_write(connection: Connection, statement: Any, *_args: Any) -> None:
    if isinstance(statement, UpdateBase) and getattr(statement.table, "name", None) in STAMPED_TABLES:
        connection.info[_WROTE] = True


_BUMP = (
    update(t.change_stamp)
    .where(t.change_stamp.c.id == 1)
    .values(seq=t.change_stamp.c.seq + 1)
    .returning(t.change_stamp.c.seq)
)
"""Built once: building it anew in every writing transaction cost more than running it (a first poll
commits one transaction per feed; bench/desk.py)."""
MAX_NOTED = 1_000
"""Article or story ids one change-log row names; a transaction that touched more (a heat pass over
every warm story, a key rotation) logs "everything" instead: a reader would mark all its answers
stale for it anyway, and the row stays small."""
LOG_KEPT = 10_000
"""Change-log rows kept: at 5 committed changes a second, half an hour. A reader whose last stamp is
older than the oldest row left treats the gap as "everything changed" (api/cache.py)."""
PRUNE_EVERY = 100  # one transaction in this many deletes the rows past LOG_KEPT: one cheap range delete


@dataclass(slots=True)
class _Notes:
    """What a transaction said it touched (:func:`note_change`)."""

    articles: set[int] = field(default_factory=set)
    stories: set[int] = field(default_factory=set)
    lists: bool = False
    vectors: set[int] = field(default_factory=set)


def note_change(
    connection: Connection,
    *,
    articles: Iterable[int] = (),
    stories: Iterable[int | None] = (),
    lists: bool = False,
    vectors: Iterable[int] = (),
) -> None:
    """Say what this transaction touches, for the change log the stamp's bump writes: ``articles`` (their
    rows, topics, images, related rows, decisions or alternates), ``stories`` (the story rows), and
    ``lists`` when a published list could read differently for a reason the articles' published
    flags after the commit do not show (an article leaving the published set, or deleted), and
    ``vectors``: articles whose stored vector it wrote (only semantic search reads those). A
    transaction that writes a stamped table without a note logs "everything" (``change_log``): a
    write path that forgets costs cache hits, never a stale answer."""
    notes = connection.info.get(_NOTES)
    if notes is None:
        notes = connection.info[_NOTES] = _Notes()
    notes.articles.update(int(i) for i in articles)
    notes.stories.update(int(i) for i in stories if i is not None)
    notes.lists = notes.lists or lists
    notes.vectors.update(int(i) for i in vectors)


def bump_stamp(connection: Connection) -> int:
    """Move the change stamp: one row update, atomic on both engines (``seq = seq + 1``), visible
    exactly when the transaction's other writes are; the new value. Run last in the transaction (with
    its change-log row), so the row lock it takes on PostgreSQL is held only until the commit and never
    waited on while holding another."""
    return int(connection.execute(_BUMP).scalar_one())


def log_change(connection: Connection, seq: int, notes: _Notes | None) -> None:
    """Write the change-log row of the transaction that moved the stamp to ``seq``: the articles it
    noted, which of them are published after it (a published list may show them), the stories it
    noted and those the noted articles belong to after it, ``lists`` when it said so, and the
    articles whose vectors it wrote. Without notes, or with too many, the row says "everything"."""
    row: dict[str, Any] = {"seq": seq, "lists": True, "everything": True}
    if notes is not None and max(len(notes.articles), len(notes.stories), len(notes.vectors)) <= MAX_NOTED:
        stories, published = set(notes.stories), set()
        if notes.articles:
            a = t.articles
            query = select(a.c.id, a.c.story_id, a.c.published).where(a.c.id.in_(notes.articles))
            for article_id, story_id, shown in connection.execute(query):
                stories |= {int(story_id)} if story_id is not None else set()
                published |= {int(article_id)} if shown else set()
        if len(stories) <= MAX_NOTED:
            row |= {"articles": _ids_text(notes.articles), "published": _ids_text(published)}
            row |= {"stories": _ids_text(stories), "lists": notes.lists, "vectors": _ids_text(notes.vectors)}
            row["everything"] = False
    connection.execute(insert(t.change_log).values(**row))
    if seq % PRUNE_EVERY == 0:
        connection.execute(delete(t.change_log).where(t.change_log.c.seq <= seq - LOG_KEPT))


def _ids_text(ids: Iterable[int]) -> str:
    """Ids as the log keeps them: sorted, comma-separated (one text column on both engines)."""
    return ",".join(map(str, sorted(ids)))


class _Transaction:
    """``engine.begin()`` that turns database failures into :class:`StorageError` (a StorageError raised
    inside passes through unchanged). The transaction is rolled back either way. One that wrote a
    stamped table bumps the change stamp just before it commits."""

    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()
        self._connection: Connection | None = None

    def __enter__(self) -> Connection:
        try:
            self._connection = self._context.__enter__()
        except (OperationalError, SQLAlchemyError) as e:
            raise StorageError(f"database unavailable: {_first_line(e)}") from e
        self._connection.info[_WROTE] = False  # info outlives the checkout: start clean
        self._connection.info.pop(_NOTES, None)
        return self._connection

    def __exit__(self, *exc: Any) -> None:
        global _local_bumps
        bumped = exc[1] is None and self._connection is not None and self._connection.info.pop(_WROTE, False)
        if bumped:
            assert self._connection is not None
            try:
                seq = bump_stamp(self._connection)
                log_change(self._connection, seq, self._connection.info.pop(_NOTES, None))
            except SQLAlchemyError as e:
                self._context.__exit__(type(e), e, e.__traceback__)  # rolls the transaction back
                raise StorageError(f"database error: {_first_line(e)}") from e
        try:
            self._context.__exit__(*exc)
            if bumped:
                _local_bumps += 1
        except SQLAlchemyError as e:
            raise StorageError(f"database error: {_first_line(e)}") from e
        if exc[1] is not None and isinstance(exc[1], SQLAlchemyError):
            raise StorageError(f"database error: {_first_line(exc[1])}") from exc[1]


def _as_date(value: Any) -> date:
    """A day from the database: a ``date`` (PostgreSQL) or ``YYYY-MM-DD`` text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _dialect_insert(dialect: str) -> Any:
    """The engine's own INSERT, which has ON CONFLICT (both dialects spell it the same way): what a
    write that two processes may make at once needs to stay one statement. The dialect's module is
    imported here, when first needed: the PostgreSQL one costs a SQLite process ≈ 40 CPU-ms to load."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


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
