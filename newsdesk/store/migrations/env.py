"""Alembic environment: newsdesk always passes an open connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from newsdesk.store.tables import metadata_for

connection = context.config.attributes["connection"]


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave the SQLite FTS5 shadow tables (created by hand in 0001) out of autogenerate."""
    return not (type_ == "table" and name is not None and name.startswith("articles_fts"))


context.configure(
    connection=connection,
    target_metadata=metadata_for(connection.dialect.name),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
