"""The migrations build exactly the schema that ``store/tables.py`` declares, on both engines."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from newsdesk.store import Store
from newsdesk.store.tables import metadata

HAND_MADE = ("articles_fts", "ix_articles_search")  # full-text search objects, created by hand in 0001


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name is not None and name.startswith(HAND_MADE))


def test_migrated_database_matches_the_declared_tables(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": _declared, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()
