"""articles.names: a sketch of each article's names, read at pair time (issue 15 item 1)

The same-story score of two articles adds the overlap of their names (``enrich/similarity.py``,
``Calibration.score_pair``), and the full text it comes from is sealed after enrichment, so the sketch
is kept beside the near-duplicate signature: at most 64 sorted CRC-32 hashes, little-endian uint32.
Nullable: articles enriched before it have none and score as before.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch_op:
        batch_op.add_column(sa.Column("names", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch_op:
        batch_op.drop_column("names")
