"""Run the Alembic migrations that ship inside the package, on start and from ``newsdesk init``.

Every process opens the store, so the common case — the database is already current — costs one query:
the stored revision is compared with :data:`HEAD`, and Alembic (a slow import in a cold process;
docs/benchmarks.md) is loaded only when a migration is due. ``tests/test_migrations.py`` keeps
:data:`HEAD` equal to the newest script.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0019"  # the newest revision in migrations/versions


def alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def stored_revision(engine: Engine) -> str | None:
    """The revision the database says it is at; None for a new (or foreign) database."""
    try:
        with engine.connect() as connection:
            value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:  # no alembic_version table yet
        return None
    return str(value) if value is not None else None


def ensure_current(engine: Engine) -> None:
    """Migrate to :data:`HEAD` unless the database is there already (one query when it is)."""
    if stored_revision(engine) != HEAD:
        upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; a no-op when it is there already."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the difference between ``tables.py`` and the database."""
    from alembic import command

    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True, rev_id=None)
