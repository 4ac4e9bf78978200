"""Full-text search, the one dialect-specific piece of the store.

SQLite: an external-content FTS5 table (``articles_fts``) kept in step by triggers, ranked by bm25.
PostgreSQL: a GIN index on ``to_tsvector('english', search_text)``, ranked by ``ts_rank``.
Both index ``articles.search_text`` — title, excerpt, topics and provider; the article text only when the
``index_full_text`` setting allows it (with encryption on, the text is otherwise never in the clear).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, bindparam, text

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16  # longer queries are cut: each term is one more posting list to intersect


def terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


def search_ids(connection: Connection, query: str, limit: int) -> list[tuple[int, float]]:
    """(article id, score) best first; higher score is better on both engines."""
    words = terms(query)
    if not words:
        return []
    if connection.dialect.name == "sqlite":
        return _sqlite(connection, words, limit)
    return _postgres(connection, words, limit)


def _sqlite(connection: Connection, words: list[str], limit: int) -> list[tuple[int, float]]:
    # Every term quoted: FTS5 query syntax (NEAR, AND, column filters, *) never comes from a user.
    match = " ".join(f'"{w}"*' if i == len(words) - 1 else f'"{w}"' for i, w in enumerate(words))
    rows = connection.execute(
        text(
            "SELECT rowid, bm25(articles_fts) AS r FROM articles_fts WHERE articles_fts MATCH :m ORDER BY r LIMIT :n"
        ),
        {"m": match, "n": limit},
    )
    return [(int(row[0]), -float(row[1])) for row in rows]


def _postgres(connection: Connection, words: list[str], limit: int) -> list[tuple[int, float]]:
    query = " & ".join([*words[:-1], words[-1] + ":*"])
    rows = connection.execute(
        text(
            "SELECT id, ts_rank(to_tsvector('english', search_text), q) AS r "
            "FROM articles, to_tsquery('english', :q) AS q "
            "WHERE to_tsvector('english', search_text) @@ q ORDER BY r DESC, id DESC LIMIT :n"
        ),
        {"q": query, "n": limit},
    )
    return [(int(row[0]), float(row[1])) for row in rows]


def among_ids(connection: Connection, query: str, ids: list[int]) -> set[int]:
    """Which of ``ids`` match ``query`` (all its terms, the last as a prefix, as :func:`search_ids`):
    how a saved search tests a run's new articles without ranking the whole store."""
    words = terms(query)
    if not words or not ids:
        return set()
    if connection.dialect.name == "sqlite":
        match = " ".join(f'"{w}"*' if i == len(words) - 1 else f'"{w}"' for i, w in enumerate(words))
        sql = "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q AND rowid IN :ids"
    else:
        match = " & ".join([*words[:-1], words[-1] + ":*"])
        sql = "SELECT id FROM articles WHERE to_tsvector('english', search_text) @@ to_tsquery('english', :q) AND id IN :ids"
    statement = text(sql).bindparams(bindparam("ids", expanding=True))
    return {int(row[0]) for row in connection.execute(statement, {"q": match, "ids": ids})}
