"""What every part of the store shares: the engine, one transaction helper, small utilities."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import StorageError


class StoreBase:
    """The engine and the transaction helper every mixin is written against. It holds no entity's
    methods: a mixin that needs another entity's rows calls that module's connection-level function
    (``articles.articles_by_id``), not a method of a sibling mixin it cannot see."""

    engine: Engine
    index_full_text: bool

    def _begin(self) -> Any:
        return _Transaction(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


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


def _as_date(value: Any) -> date:
    """A day from the database: a ``date`` (PostgreSQL) or ``YYYY-MM-DD`` text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _dialect_insert(dialect: str) -> Any:
    """The engine's own INSERT, which has ON CONFLICT (both dialects spell it the same way): what a
    write that two processes may make at once needs to stay one statement."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


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
