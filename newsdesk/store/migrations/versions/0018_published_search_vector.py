"""PostgreSQL: a second full-text index over the published articles only, for the public's search

The public's text search now ranks only the published matches (``store/search.py``). Filtered through
the whole-store index, PostgreSQL still had to visit every match's row to learn whether it is
published (or walk every published row to test it against the query): on the 100,000 articles of the
API benchmark, a third of them published, the ten bench words cost 68 ms together that way, and 26 ms
from this partial GIN index, whose entries are the published articles' only (docs/benchmarks.md,
"PostgreSQL while ingesting"). Its predicate is spelt as the search spells it
(``published = true``), so the planner can use it. Only published rows are written to it, so it is a
third of the main index's size; building it at 100k articles took under a second. SQLite is untouched
(FTS5 keeps its own index; there the filter joins the published flag before ``bm25`` runs).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX ix_articles_search_vector_published ON articles USING gin (search_vector) "
        "WHERE published = true"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_articles_search_vector_published")
