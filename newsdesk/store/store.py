"""The store: every read and write newsdesk makes, on SQLite or PostgreSQL through the same code.

:class:`Store` is only the composition of the entity mixins over :class:`~.base.StoreBase` (the rule
for what goes where is in the package docstring), plus opening and closing. Each public method is one
transaction, so a crash loses at most the operation in flight and a later run resumes from what was
committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

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
    """An engine with the pragmas newsdesk relies on: WAL and foreign keys on SQLite."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    watch_writes(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
