"""A change log beside the change stamp: what each stamped transaction touched (issue 14, goal 4)

``change_log`` holds one row per move of ``change_stamp.seq``, written by the same transaction: the
article ids it touched and which of them are published after it, the story ids it touched, whether a
published list could read differently for another reason (an article unpublished or deleted), or
"everything" when it cannot say. The API's response cache reads the rows between the stamp it holds
and the new one and marks stale only the answers that show what changed (``store.base.log_change``,
``api/cache.py``). Pruned to the newest ``store.base.LOG_KEPT`` rows.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("articles", sa.Text(), nullable=True),
        sa.Column("published", sa.Text(), nullable=True),
        sa.Column("stories", sa.Text(), nullable=True),
        sa.Column("lists", sa.Boolean(), nullable=False),
        sa.Column("everything", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_change_log")),
    )


def downgrade() -> None:
    op.drop_table("change_log")
