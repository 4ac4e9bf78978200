"""What a poll cycle needs to do work in proportion to change (issue 13)

- ``sources.body_hash``: the sha256 of the feed body last parsed; a 200 with the same bytes (a server
  that sends no validators) is not parsed again.
- ``ix_events_run_id``: a run's closing count of its events read the whole events table.
- ``ix_articles_unenriched``: partial index on articles.id where ``enriched_at`` is null, so finding
  the enrichment stage's pending work is not a scan of all articles.
- ``meta.finished_through``: the stages after ingestion now take the articles stored since they last
  ran; every article stored before this version has been through them (the old code handed them all
  the unenriched ones), so the mark starts at the newest article.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_UNENRICHED = sa.text("enriched_at IS NULL")
_articles = sa.table("articles", sa.column("id", sa.Integer()))
_meta = sa.table("meta", sa.column("key", sa.String(100)), sa.column("value", sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_events_run_id", "events", ["run_id"])
    op.create_index(
        "ix_articles_unenriched", "articles", ["id"], sqlite_where=_UNENRICHED, postgresql_where=_UNENRICHED
    )
    newest = op.get_bind().execute(sa.select(sa.func.max(_articles.c.id))).scalar()
    if newest:
        op.bulk_insert(_meta, [{"key": "finished_through", "value": int(newest)}])


def downgrade() -> None:
    op.execute(_meta.delete().where(_meta.c.key == "finished_through"))
    op.drop_index("ix_articles_unenriched", table_name="articles")
    op.drop_index("ix_events_run_id", table_name="events")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("body_hash")
