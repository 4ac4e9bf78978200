"""Index articles.original_url: finding an article by the URL it was first seen under

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_original_url", "articles", ["original_url"])


def downgrade() -> None:
    op.drop_index("ix_articles_original_url", table_name="articles")
