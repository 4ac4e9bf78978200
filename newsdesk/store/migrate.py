"""Run the Alembic migrations that ship inside the package, on start and from ``newsdesk init``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; a no-op when it is there already."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the difference between ``tables.py`` and the database."""
    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True, rev_id=None)
