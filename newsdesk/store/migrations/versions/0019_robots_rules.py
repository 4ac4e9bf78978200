"""robots.txt rules kept between runs

Every cold ``newsdesk run`` (a cron poll) asked each origin for its robots.txt again: the rules were
kept in memory only, for RFC 9309's 24 hours, by the desk. ``robots_rules`` keeps what a run loaded, per
robots.txt URL, with the user agent it was read for and when it expires, so the next run within that
lifetime asks nothing (``stages.py`` seeds the fetcher's cache from it and writes back what it loaded).
Not a stamped table: nothing a reader sees changes with it.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "robots_rules",
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_robots_rules")),
    )


def downgrade() -> None:
    op.drop_table("robots_rules")
