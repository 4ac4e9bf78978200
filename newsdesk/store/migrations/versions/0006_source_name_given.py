"""sources.name_given: whether a person chose the source's name (else the feed's title replaces it)

Existing named sources count as named by a person: nothing tells a stand-in from a chosen name, and
overwriting a name someone chose is worse than keeping a stand-in (which they can clear through the API).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.add_column(sa.Column("name_given", sa.Boolean(), nullable=False, server_default=sa.false()))
    sources = sa.table("sources", sa.column("name", sa.String()), sa.column("name_given", sa.Boolean()))
    op.execute(sources.update().where(sources.c.name.is_not(None)).values(name_given=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_column("name_given")
