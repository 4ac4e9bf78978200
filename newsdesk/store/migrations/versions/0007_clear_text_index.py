"""Partial index on articles.id where the text is in the clear: the sealing stage's leftovers

With encryption on, texts are sealed before their row is written; rows that still hold clear text were
stored by an older version (which sealed only after enrichment, so a crash or a missing key left them in
the clear). The sealing stage finds them through this index, which stays empty once they are sealed.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CLEAR = sa.text("text IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_articles_clear_text", "articles", ["id"], sqlite_where=_CLEAR, postgresql_where=_CLEAR
    )


def downgrade() -> None:
    op.drop_index("ix_articles_clear_text", table_name="articles")
