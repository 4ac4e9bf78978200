"""PostgreSQL keeps each article's tsvector in a stored column; full-text search ranks that (issue 14, goal 4)

Until now PostgreSQL's full-text index was a GIN index on the expression
``to_tsvector('english', search_text)``. The index finds the matching rows, but ranking them
(``ts_rank``) needs each match's tsvector, and an expression index does not hand it back: PostgreSQL
parsed and stemmed ``search_text`` again for every matching row, twice (the bitmap recheck and the
rank). A common word matches thousands of the 100,000 articles of the API benchmark: 1.0–1.3 s of
PostgreSQL's CPU for one ranking of "oil" or "bank", against 70–130 ms from a stored column
(docs/benchmarks.md, "PostgreSQL (2026-12-07, h1)").

``articles.search_vector`` is a generated column (``GENERATED ALWAYS AS … STORED``): PostgreSQL
computes it on every insert and on every update of ``search_text``, so no write path changes, and the
GIN index moves to it. Not in ``store/tables.py``: nothing but the search reads it, and a row read
through the table must not carry it. Adding it rewrites the table once (≈ 40 s at 100k articles on a
loaded two-core machine). SQLite is untouched (FTS5 keeps its own index).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE articles ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED"
    )
    op.execute("CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)")
    op.execute("DROP INDEX IF EXISTS ix_articles_search")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_articles_search ON articles USING gin (to_tsvector('english', search_text))")
    op.execute("DROP INDEX IF EXISTS ix_articles_search_vector")
    op.execute("ALTER TABLE articles DROP COLUMN search_vector")
