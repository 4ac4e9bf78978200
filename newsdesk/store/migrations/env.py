"""Alembic environment: newsdesk always passes an open connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from newsdesk.store.tables import metadata_for

connection = context.config.attributes["connection"]


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave the full-text objects made by hand out of autogenerate: SQLite's FTS5 shadow tables (0001)
    and PostgreSQL's stored tsvector column and its indexes (0017, 0018)."""
    if type_ == "table" and name is not None and name.startswith("articles_fts"):
        return False
    hand_made = ("search_vector", "ix_articles_search_vector", "ix_articles_search_vector_published")
    return not (name in hand_made and type_ in ("column", "index"))


context.configure(
    connection=connection,
    target_metadata=metadata_for(connection.dialect.name),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
