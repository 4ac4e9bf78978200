"""article_images: which article shows which cached image, for the public image check

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_images",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id", "sha256"),
    )
    op.create_index("ix_article_images_sha256", "article_images", ["sha256"])
    _backfill()


def _backfill() -> None:
    """One row per (article, cached image) already stored; batched so a large store is not one list."""
    connection = op.get_bind()
    table = sa.table("article_images", sa.column("article_id"), sa.column("sha256"))
    rows: list[dict[str, Any]] = []
    for article_id, images in connection.execute(sa.text("SELECT id, images FROM articles")):
        listed = json.loads(images) if isinstance(images, str) else images or []
        shas = {i.get("sha256") for i in listed if isinstance(i, dict) and i.get("is_cached")}
        rows += [{"article_id": article_id, "sha256": sha} for sha in sorted(s for s in shas if s)]
        if len(rows) >= 1000:
            connection.execute(sa.insert(table), rows)
            rows = []
    if rows:
        connection.execute(sa.insert(table), rows)


def downgrade() -> None:
    op.drop_index("ix_article_images_sha256", table_name="article_images")
    op.drop_table("article_images")
