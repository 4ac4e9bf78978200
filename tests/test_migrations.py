"""The migrations build exactly the schema that ``store/tables.py`` declares, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, insert, table

from newsdesk.model import Article, Image, Provider
from newsdesk.store import Store, make_engine, rows
from newsdesk.store import tables as t
from newsdesk.store.migrate import upgrade
from newsdesk.store.tables import metadata_for

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HAND_MADE = (
    "articles_fts",
    "ix_articles_search",
    "search_vector",
)  # full-text objects made by hand (0001, 0017, 0018)


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name is not None and name.startswith(HAND_MADE))


def test_migrated_database_matches_the_declared_tables(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": _declared, "compare_type": True}
            )
            assert compare_metadata(context, metadata_for(connection.dialect.name)) == []
    finally:
        store.close()


def test_0003_backfills_the_cached_images_of_stored_articles(store_url: str) -> None:
    """A store at 0002 holding an article with one cached and one uncached image: after the upgrade the
    cached one is public (the article is published), the uncached one is not."""
    cached, uncached = "a" * 64, "b" * 64
    article = Article(
        title="Backfilled",
        web_url="https://example.com/backfilled",
        original_url="https://example.com/backfilled",
        provider=Provider("Example", "example.com"),
        images=(
            Image("https://example.com/a.png", is_cached=True, sha256=cached, width=10, height=10),
            Image("https://example.com/b.png", sha256=uncached),
        ),
    )
    engine = make_engine(store_url)
    try:
        upgrade(engine, "0002")
        stamps = {
            "published": True,
            "review_state": "published",
            "first_seen_at": NOW,
            "updated_at": NOW,
            "sort_at": NOW,
        }
        with engine.begin() as connection:
            connection.execute(
                insert(t.articles), {**rows.article_row(article, full_text_index=False), **stamps}
            )
    finally:
        engine.dispose()
    store = Store.open(store_url)  # upgrades to head
    try:
        assert store.image_published(cached) and not store.image_published(uncached)
    finally:
        store.close()


def test_head_constant_is_the_newest_script_and_a_current_database_skips_alembic(tmp_path: Any) -> None:
    from alembic.script import ScriptDirectory

    from newsdesk.store.migrate import HEAD, MIGRATIONS, stored_revision

    scripts = ScriptDirectory(str(MIGRATIONS))
    assert scripts.get_current_head() == HEAD
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert stored_revision(engine) is None  # a new file: the first open migrates
    Store.open(f"sqlite:///{tmp_path / 'fresh.db'}").close()
    assert stored_revision(engine) == HEAD
    engine.dispose()


def test_0006_counts_existing_names_as_chosen(store_url: str) -> None:
    """A store at 0005 with a named and an unnamed source: after the upgrade the named one keeps its name
    for good (nothing tells a stand-in from a chosen name), the unnamed one takes its feed's title."""
    engine = make_engine(store_url)
    try:
        upgrade(engine, "0005")
        at_0005 = [c for c in t.sources.c if c.name != "name_given"]  # the table as 0005 left it
        with engine.begin() as connection:
            for url, name in (("https://a.example/feed", "Chosen"), ("https://b.example/feed", None)):
                connection.execute(
                    insert(table("sources", *(column(c.name, c.type) for c in at_0005))),
                    {
                        "url": url,
                        "kind": "feed",
                        "name": name,
                        "topics": [],
                        "allow_loopback": False,
                        "created_at": NOW,
                        "error_count": 0,
                    },
                )
    finally:
        engine.dispose()
    store = Store.open(store_url)  # upgrades to head
    try:
        named, unnamed = store.list_sources()
        assert (named.name_given, unnamed.name_given) == (True, False)
        for source in (named, unnamed):
            assert source.id is not None
            store.save_health(source.id, source.health, feed_title="The Feed's Own Title")
        assert [s.name for s in store.list_sources()] == ["Chosen", "The Feed's Own Title"]
    finally:
        store.close()
