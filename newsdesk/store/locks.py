"""Work that one process at a time may do on a database, whichever processes open it: the desk, a
``newsdesk run`` from cron, the queue's workers, a second desk by mistake.

Enrichment is such work. It reads a story, folds an article into it and writes the story row back whole
(size, centroid, state), and it takes the articles not enriched yet: two enrichers at once would each
write a story from what they read before the other wrote (one join lost), or both fold the same new
articles (duplicate stories). The queue's workers took a Redis lock for it (``newsdesk.queue``); the
desk beside a cron run took none. This lock holds for every entry point, on the database itself:

- PostgreSQL: a session-level advisory lock, on a connection kept for the duration; the server lets it
  go if the process dies.
- SQLite: ``flock`` on a file beside the database; the kernel lets it go if the process dies. A
  database in memory belongs to one process: there is nothing to share, so nothing to lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from ..flock import locked_beside
from .base import StoreBase

# One advisory-lock key per kind of work (PostgreSQL's keys are 64-bit and shared by every client of the
# database: these spell "nd" and a number, to stay clear of other applications' small integers).
LOCK_KEYS = {"enrich": 0x6E64_0000_0001}


class LocksMixin(StoreBase):
    """Cross-process locks on the database, for work that must not run twice at once."""

    @contextlib.contextmanager
    def one_at_a_time(self, work: str) -> Iterator[None]:
        """Wait until no other process does ``work`` on this database, then hold it for the block."""
        key = LOCK_KEYS[work]  # a KeyError names a kind of work nobody locks: a bug, not a state
        if self.dialect == "postgresql":
            with _advisory_lock(self.engine, key):
                yield
            return
        database = _database_file(self.engine)
        if database is None:
            yield
            return
        with locked_beside(database, work):  # <database>.<work>.lock
            yield


@contextlib.contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    with engine.connect() as c:
        c.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        c.commit()  # the lock is the session's: no transaction stays open while the work runs
        try:
            yield
        finally:
            c.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            c.commit()


def _database_file(engine: Engine) -> Path | None:
    """The SQLite database's file; None for one in memory."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)
