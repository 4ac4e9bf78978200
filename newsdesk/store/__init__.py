"""Storage: one schema, two engines (SQLite by default, PostgreSQL by URL)."""

from .store import ArticleQuery, Page, Saved, Store, make_engine

__all__ = ["ArticleQuery", "Page", "Saved", "Store", "make_engine"]
