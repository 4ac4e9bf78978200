"""The store: every read and write newsdesk makes, on SQLite or PostgreSQL through the same code.

:class:`Store` is only the composition of the entity mixins over :class:`~.base.StoreBase` (the rule
for what goes where is in the package docstring), plus opening and closing. Each public method is one
transaction, so a crash loses at most the operation in flight and a later run resumes from what was
committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

from ..errors import StorageError
from .alerts import AlertsMixin
from .alternates import AlternatesMixin
from .articles import ArticlesMixin
from .base import _first_line, _redact, watch_writes
from .changes import ChangesMixin
from .editorial import EditorialMixin
from .enrichment import EnrichmentMixin
from .locks import LocksMixin
from .migrate import ensure_current
from .operations import OperationsMixin
from .reading import ReadingMixin
from .robots import RobotsMixin
from .sealing import SealingMixin
from .sources import SourcesMixin
from .stories import StoriesMixin
from .topics import TopicsMixin
from .users import UsersMixin
from .webhooks import WebhooksMixin
from .websub import WebSubMixin


class Store(
    SourcesMixin,
    ArticlesMixin,
    AlternatesMixin,
    TopicsMixin,
    StoriesMixin,
    EditorialMixin,
    EnrichmentMixin,
    SealingMixin,
    OperationsMixin,
    UsersMixin,
    ReadingMixin,
    AlertsMixin,
    WebhooksMixin,
    WebSubMixin,
    RobotsMixin,
    ChangesMixin,
    LocksMixin,
):
    """One store, one engine. Open with :meth:`open`, which runs the migrations."""

    def __init__(self, engine: Engine, *, index_full_text: bool = False) -> None:
        self.engine = engine
        self.index_full_text = index_full_text

    @classmethod
    def open(cls, url: str, *, index_full_text: bool = False, migrate: bool = True) -> Store:
        try:
            engine = make_engine(url)
            if migrate:
                ensure_current(engine)
        except (SQLAlchemyError, OSError) as e:
            raise StorageError(f"cannot open the database {_redact(url)}: {_first_line(e)}") from e
        return cls(engine, index_full_text=index_full_text)

    def close(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    """An engine with the pragmas newsdesk relies on: WAL and foreign keys on SQLite; on a database
    server, a pool sized for a server process's threads (:data:`POOL_SIZE`) whose connections are
    checked after they idled (:data:`PING_IDLE_S`)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        event.listen(engine, "checkin", _idle_from)
        event.listen(engine, "checkout", _pinger(engine.dialect))
    watch_writes(engine)
    return engine


POOL_SIZE = 16
"""Connections a process keeps open to a database server (SQLAlchemy's default is 5). A server process
runs a request's store calls on its threads, one connection each at a time; with more requests at once
than connections kept, every store call past the fifth opened a connection and closed it on return:
at 16 clients over two processes, a new PostgreSQL backend (a fork, its catalog caches filled again)
several times a second, and the request that got it waited. 16 covers the 16 clients of issue 14's
goal 4 even in one process; two processes and a desk keep at most 48, under PostgreSQL's default of
100 (docs/benchmarks.md, "PostgreSQL (2026-12-07, h1)")."""
POOL_OVERFLOW = 10  # past POOL_SIZE: opened when needed, closed on return (SQLAlchemy's default)
PING_IDLE_S = 1.0
"""A pooled connection that sat unused this long is pinged before it is handed out; one used more
recently is not. SQLAlchemy's ``pool_pre_ping`` pinged on every checkout: one more round trip per store
call (an article page makes five), for a connection the previous request used milliseconds before. The
ping is what lets the store ride out a database restart or an idle timeout: those close connections
that sit in the pool, and a connection that fails in use still marks the whole pool stale, so the
next checkouts reconnect."""
_IDLE_SINCE = "newsdesk_idle_since"  # ConnectionRecord.info key: when it was last returned to the pool


def _idle_from(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _pinger(dialect: Any) -> Callable[[Any, Any, Any], None]:
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """``pool_pre_ping``, for connections idle past :data:`PING_IDLE_S` only; a failed ping makes the
        pool replace the connection (SQLAlchemy retries the checkout on ``DisconnectionError``)."""
        if time.monotonic() - record.info.get(_IDLE_SINCE, time.monotonic()) < PING_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as e:  # whatever the driver raises for a dead connection
            raise DisconnectionError(f"a pooled connection failed its ping: {_first_line(e)}") from e

    return ping_if_idle


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
