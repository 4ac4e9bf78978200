"""A change stamp every process can read in one primary-key lookup; published ids indexed (issue 14, goal 4)

- ``change_stamp`` holds one row whose ``seq`` moves by one in every committed transaction that wrote
  a table a record or a page is read from (``store.base.STAMPED_TABLES``). It replaces a ``count(*)``
  over all articles: the API's response cache reads it, the desk every few seconds.
- ``ix_articles_published``: partial index on articles.id where ``published``: the public topic counts
  (front page, topic pages, ``/api/v1/topics``) read every article row without it.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "change_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_stamp")),
    )
    op.bulk_insert(table, [{"id": 1, "seq": 0}])
    op.create_index(
        "ix_articles_published",
        "articles",
        ["id"],
        sqlite_where=sa.text("published = 1"),
        postgresql_where=sa.text("published = true"),
    )


def downgrade() -> None:
    op.drop_index("ix_articles_published", table_name="articles")
    op.drop_table("change_stamp")
