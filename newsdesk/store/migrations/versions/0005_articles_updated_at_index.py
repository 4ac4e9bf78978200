"""articles.updated_at index: the desk asks "what changed since" every few seconds

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_updated_at", "articles", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_updated_at", table_name="articles")
