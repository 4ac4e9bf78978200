"""The change log names the articles whose vectors a transaction wrote (issue 14, goal 4)

A vector arriving (``store.enrichment.save_embeddings``) changes what a semantic or hybrid search
finds and nothing else a reader sees. ``change_log.vectors`` holds those article ids (sorted,
comma-separated, like the other id columns), so the API's response cache makes stale only its
semantic and hybrid answers, and each process's vector index adds just those vectors
(``semantic.py``). Rows written before this revision hold NULL: no vectors.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.add_column(sa.Column("vectors", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.drop_column("vectors")
