"""The store's robots.txt side: rules runs loaded, kept for the next run (``tables.robots_rules``).

The fetch package knows nothing of the store: rows come and go as plain ``(robots.txt URL, rules as
JSON, expiry)`` tuples, which ``fetch.robots.RobotsCache`` seeds from and hands back
(``stages.py`` is the glue). Times are the wall clock's, in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select

from ..model import utc
from . import tables as t
from .base import StoreBase, _dialect_insert

KeptRobots = tuple[str, str, datetime]  # (robots.txt URL, rules as JSON, expires at)


class RobotsMixin(StoreBase):
    """Kept robots.txt rules: one read per run, one write when a run loaded any."""

    def robots_rules(self, user_agent: str, at: datetime) -> list[KeptRobots]:
        """The rules kept for ``user_agent`` that are still good at ``at``; rows read for another agent
        are not (its group of a robots.txt may differ from ours)."""
        r = t.robots_rules
        query = select(r.c.url, r.c.rules, r.c.expires_at).where(
            r.c.user_agent == user_agent, r.c.expires_at > at
        )
        with self._read() as c:
            return [(str(url), str(rules), utc(expires)) for url, rules, expires in c.execute(query)]

    def keep_robots_rules(self, user_agent: str, kept: Sequence[KeptRobots], at: datetime) -> None:
        """Keep ``kept`` for ``user_agent`` (a URL's row is replaced, whichever agent it was for), and
        delete the rows expired at ``at``, so the table holds about one row per origin polled within a
        day. One statement for the rows: two processes keeping the same origin at once do not
        collide on its key."""
        if not kept:
            return
        r = t.robots_rules
        upsert = _dialect_insert(self.dialect)(r)
        statement = upsert.on_conflict_do_update(
            index_elements=[r.c.url],
            set_={name: upsert.excluded[name] for name in ("user_agent", "rules", "expires_at")},
        )
        rows = [
            {"url": url, "user_agent": user_agent, "rules": rules, "expires_at": expires}
            for url, rules, expires in kept
        ]
        with self._begin() as c:
            c.execute(delete(r).where(r.c.expires_at <= at))
            c.execute(statement, rows)
