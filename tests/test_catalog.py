"""The read side (newsdesk.catalog) and the store queries it stands on, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience, as_told_by, find_topic, providers_of, slug, topic_tree
from newsdesk.errors import EnrichmentError, StorageError
from newsdesk.model import Article, Provider, Reason, Source, Story
from newsdesk.store import ArticleQuery, Store
from tests.test_api import article, make_desk

PUBLIC, TRUSTED = Audience.PUBLIC, Audience.TRUSTED
DAY = datetime(2026, 11, 20, tzinfo=UTC)
UTC_PLUS_14 = "Pacific/Kiritimati"  # the farthest-ahead zone: a local day differs from UTC's all evening


def dated(n: int, at: datetime, topics: tuple[str, ...], *, published: bool = False) -> Article:
    return article(n, published_at=at, topics=topics, published=published)


@pytest.fixture
def far_east_store(store_url: str) -> Iterator[Store]:
    """The store, with PostgreSQL's session time zone at UTC+14: UTC days must not move with it."""
    url = store_url if store_url.startswith("sqlite") else store_url + quote(f" -ctimezone={UTC_PLUS_14}")
    opened = Store.open(url)
    yield opened
    opened.close()


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url)
    yield nd
    nd.close()


def publish(store: Store, *ids: int) -> None:
    for article_id in ids:
        store.set_review_state(article_id, "published")


# ------------------------------------------------------------------------------------- store queries


def test_topic_day_counts_group_by_utc_day(far_east_store: Store) -> None:
    store = far_east_store
    store.save_article(dated(1, DAY + timedelta(hours=23, minutes=30), ("AI",)))
    store.save_article(dated(2, DAY + timedelta(days=1, minutes=30), ("AI", "Payments"), published=True))
    store.save_article(dated(3, DAY + timedelta(days=1, hours=10), ("AI",)))
    store.save_article(dated(4, DAY + timedelta(days=2), ("AI",)))  # at `until`: outside the window
    store.save_article(dated(5, DAY - timedelta(seconds=1), ("AI",)))  # before `since`
    until = DAY + timedelta(days=2)
    assert sorted(store.topic_day_counts(DAY, until)) == [
        ("AI", date(2026, 11, 20), 1),
        ("AI", date(2026, 11, 21), 2),
        ("Payments", date(2026, 11, 21), 1),
    ]
    assert store.topic_day_counts(DAY, until, topics=["Payments"]) == [("Payments", date(2026, 11, 21), 1)]
    assert sorted(store.topic_day_counts(DAY, until, published_only=True)) == [
        ("AI", date(2026, 11, 21), 1),
        ("Payments", date(2026, 11, 21), 1),
    ]
    assert store.topic_day_counts(DAY, until, topics=[]) == []


def test_totals_count_what_each_audience_sees(store: Store) -> None:
    for n in range(1, 5):
        store.save_article(dated(n, DAY + timedelta(days=n), ("AI", "Payments") if n % 2 else ("AI",)))
    publish(store, 1, 2)
    assert store.topic_totals() == store.topic_counts() == {"AI": 4, "Payments": 2}
    assert store.topic_totals(published_only=True) == {"AI": 2, "Payments": 1}
    assert store.article_total() == 4 and store.article_total(published_only=True) == 2
    window = {"since": DAY + timedelta(days=2), "until": DAY + timedelta(days=4)}
    assert store.article_total(**window) == 2  # days 2 and 3; day 4 is `until`
    assert store.article_total(**window, published_only=True) == 1


def test_rankings_and_published_flags_without_loading_articles(store: Store) -> None:
    ids = [store.save_article(article(n, title=f"Quarterly lending report {n}")).id for n in range(1, 5)]
    store.save_article(article(9, title="Something else entirely"))
    publish(store, ids[1], ids[3])
    ranked = store.search_ranking("lending report", limit=10)
    assert sorted(i for i, _ in ranked) == ids
    assert [i for i, _ in ranked] == [a.id for a, _ in store.search("lending report", limit=10)]
    assert len(store.search_ranking("lending report", limit=2)) == 2
    assert store.search_ranking("zeppelin", limit=5) == store.search_ranking("", limit=5) == []
    assert store.published_among([*ids, 999]) == {ids[1], ids[3]}
    assert store.published_among([]) == set()


def test_top_stories_and_their_articles(store: Store) -> None:
    ids = [store.save_article(article(n)).id for n in range(1, 5)]
    warm = store.create_story(Story(None, "Warm", DAY, DAY, 2, (), 40), None, {})
    hot = store.create_story(Story(None, "Hot", DAY, DAY + timedelta(days=1), 2, (), 90), None, {})
    for article_id, story_id in zip(ids, (warm, warm, hot, hot), strict=True):
        store.save_article(store.get_article(article_id).replace(story_id=story_id))
    publish(store, ids[1])
    assert [s.id for s in store.top_stories()] == [s.id for s in store.list_stories()] == [hot, warm]
    assert [s.id for s in store.top_stories(published_only=True)] == [warm]
    assert [s.id for s in store.top_stories(since=DAY + timedelta(hours=1))] == [hot]
    members = store.articles_of_stories([warm, hot, 999])
    assert {k: [a.id for a in v] for k, v in members.items()} == {warm: ids[:2], hot: ids[2:]}
    published = store.articles_of_stories([warm, hot], published_only=True)
    assert {k: [a.id for a in v] for k, v in published.items()} == {warm: [ids[1]]}


# ------------------------------------------------------------------------------------------- catalog


def test_daily_topic_counts_fill_every_day(desk: Newsdesk) -> None:
    store = desk.store
    store.save_article(dated(1, DAY + timedelta(hours=5), ("AI",), published=True))
    store.save_article(dated(2, DAY + timedelta(hours=6), ("AI", "Payments")))
    store.save_article(dated(3, DAY + timedelta(days=2, hours=1), ("Payments",)))
    catalog = desk.catalog
    daily = catalog.daily_topic_counts(["AI", "Payments", "Crypto"], TRUSTED, days=3, end=date(2026, 11, 22))
    assert daily.days == (date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22))
    assert daily.series == (("AI", (2, 0, 0)), ("Payments", (1, 0, 1)), ("Crypto", (0, 0, 0)))
    assert daily.articles == 3
    public = catalog.daily_topic_counts(["AI", "Payments"], PUBLIC, days=2, end=date(2026, 11, 21))
    assert public.series == (("AI", (1, 0)), ("Payments", (0, 0))) and public.articles == 1


def test_articles_and_single_article_follow_the_audience(desk: Newsdesk) -> None:
    store = desk.store
    ids = [store.save_article(article(n)).id for n in range(1, 4)]
    publish(store, ids[0], ids[2])
    store.set_related(ids[0], [(ids[1], 0.9), (ids[2], 0.7)])
    catalog = desk.catalog
    query = ArticleQuery(limit=10)
    assert [a.id for a in catalog.articles(query, PUBLIC).items] == [ids[2], ids[0]]
    assert [a.id for a in catalog.articles(query, TRUSTED).items] == ids[::-1]
    assert catalog.articles(ArticleQuery(published=False), PUBLIC).items == ()
    assert [r.article_id for r in catalog.article(ids[0], PUBLIC).related] == [ids[2]]
    assert [r.article_id for r in catalog.article(ids[0], TRUSTED).related] == [ids[1], ids[2]]
    with pytest.raises(StorageError, match="no such article"):
        catalog.article(ids[1], PUBLIC)
    assert catalog.article(store.get_article(ids[1]).web_url, TRUSTED).id == ids[1]
    assert "Article number 2" not in catalog.record(ids[0], PUBLIC)
    assert "Article number 2" in catalog.record(ids[0], TRUSTED)
    assert catalog.count_articles(PUBLIC) == 2 and catalog.count_articles(TRUSTED) == 3


def test_stories_hot_first_with_lead_siblings_and_providers(desk: Newsdesk) -> None:
    store = desk.store
    ids = [store.save_article(article(n)).id for n in range(1, 6)]  # quality 10 × n
    story = store.create_story(Story(None, "Article number 1", DAY, DAY, 3, ("x",), 70), None, {})
    lone = store.create_story(Story(None, "Article number 4", DAY, DAY, 1, ("y",), 90), None, {})
    for article_id, story_id in ((ids[0], story), (ids[1], story), (ids[2], story), (ids[3], lone)):
        store.save_article(store.get_article(article_id).replace(story_id=story_id))
    publish(store, ids[0], ids[2])
    catalog = desk.catalog
    trusted = catalog.hot_stories(TRUSTED, 10)
    assert [h.story.id for h in trusted] == [lone, story]
    assert trusted[1].lead.id == ids[2] and [a.id for a in trusted[1].others] == [ids[1], ids[0]]
    assert [p.domain for p in trusted[1].providers] == ["news0.example.com", "news2.example.com",
                                                       "news1.example.com"]  # fmt: skip
    (public,) = catalog.hot_stories(PUBLIC, 10)
    assert (public.story.id, public.lead.id, [a.id for a in public.others]) == (story, ids[2], [ids[0]])
    assert (public.story.size, public.story.providers) == (2, ("news0.example.com", "news1.example.com"))
    assert [s.id for s in catalog.stories(PUBLIC, limit=10)] == [story]
    told, members = catalog.story(story, PUBLIC)
    assert told.title == "Article number 1" and [a.id for a in members] == [ids[0], ids[2]]
    with pytest.raises(StorageError, match="no such story"):
        catalog.story(lone, PUBLIC)
    first = store.get_article(ids[0])
    assert [a.id for a in catalog.story_siblings(first, PUBLIC)] == [ids[2]]
    assert [a.id for a in catalog.story_siblings(first, TRUSTED)] == [ids[1], ids[2]]
    assert catalog.story_siblings(store.get_article(ids[4]), TRUSTED) == []


def test_a_story_is_led_by_its_news_report_not_a_better_scored_column(desk: Newsdesk) -> None:
    store = desk.store
    column = article(5, category="opinion", quality_reasons=(Reason("depth", 18.0, "900 words"),))
    stub = article(1, quality_reasons=(Reason("depth", 2.0, "40 words"),))  # earliest, but a stub
    report = article(2, quality_reasons=(Reason("depth", 14.0, "420 words"),))
    later = article(4, quality_reasons=(Reason("depth", 16.0, "500 words"),))
    ids = [store.save_article(a).id for a in (column, stub, report, later)]
    story = store.create_story(Story(None, "Article number 1", DAY, DAY, 4, ("x",), 70), None, {})
    for article_id in ids:
        store.save_article(store.get_article(article_id).replace(story_id=story))
    (hot,) = desk.catalog.hot_stories(TRUSTED, 10)
    assert hot.lead.id == ids[2]
    assert [a.id for a in hot.others] == [ids[0], ids[3], ids[1]]  # best quality first


def test_topics_feeds_sources_and_tokens(desk: Newsdesk) -> None:
    store = desk.store
    source = desk.sources.add(Source(url="https://news1.example.com/feed.xml", name="News 1"))
    ids = [store.save_article(article(n, source_id=source.id)).id for n in range(1, 4)]
    publish(store, ids[0])
    catalog = desk.catalog
    assert catalog.topic_counts(PUBLIC) == {"AI in Finance": 1, "AI": 1}
    roots = {node.topic.name: node for node in catalog.topic_tree(TRUSTED)}
    assert roots["AI"].count == 2 and roots["Fintech"].count == 1
    assert (
        [a.id for a in catalog.feed_articles(None)] == [ids[0]] == [a.id for a in catalog.feed_articles("AI")]
    )
    assert catalog.feed_articles("Payments") == []
    (public,) = catalog.source_health(PUBLIC)
    (trusted,) = catalog.source_health(TRUSTED)
    assert public.latest is not None and trusted.latest is not None
    assert (public.latest.id, trusted.latest.id, trusted.state) == (ids[0], ids[2], "new")
    token_id = store.create_token("ed", "write", "hash-1")
    assert desk.tokens.live(token_id) and not desk.tokens.live(token_id + 1)
    store.revoke_token(token_id)
    assert not desk.tokens.live(token_id)


def test_semantic_modes_load_the_configured_model_and_say_when_they_cannot(
    desk: Newsdesk, tmp_path: Path
) -> None:
    """The facade's one catalog embeds queries with the ``embed_model`` setting, loaded on the first
    semantic query; a model that cannot be loaded fails those modes (the UI then falls back to text)
    and leaves text search working."""
    desk.store.save_article(article(1))
    missing = tmp_path / "no-such-model"
    with Newsdesk(desk.settings.with_values(embed_model=str(missing))) as nd:
        catalog = nd.catalog
        assert catalog is nd.catalog  # made once: it keeps the vector cache
        assert [h.matched_by for h in catalog.search("article", "text", 5, TRUSTED)] == [("text",)]
        for mode in ("semantic", "hybrid"):
            with pytest.raises(EnrichmentError, match="no model directory"):
                catalog.search("article", mode, 5, TRUSTED)


# -------------------------------------------------------------------------------------- pure helpers


def test_topics_by_name_or_slug(desk: Newsdesk) -> None:
    taxonomy = desk.taxonomy
    assert slug("AI in Finance") == "ai-in-finance" and slug("  M&A / Deals ") == "m-a-deals"
    found = find_topic(taxonomy, "ai-in-finance")
    assert found is not None and found is find_topic(taxonomy, "AI in Finance")
    assert find_topic(taxonomy, "astrology") is None
    tree = topic_tree(taxonomy, {"AI in Finance": 3})
    ai = next(node for node in tree if node.topic.name == "AI")
    assert ai.count == 0 and {c.topic.name: c.count for c in ai.children}["AI in Finance"] == 3
    assert [n.topic.name for n in tree] == [t.name for t in taxonomy.children(None)]


def test_story_as_told_and_providers() -> None:
    a = article(1, provider=Provider("B", "b.example"))
    b = article(2, provider=Provider("A", "a.example"))
    c = article(3, provider=Provider("B again", "b.example"))
    assert [p.name for p in providers_of([a, b, c])] == ["B", "A"]
    story = Story(7, "Unpublished headline", DAY, DAY, 5, ("a.example", "b.example", "z.example"), 60)
    told = as_told_by(story, [a, b, c])
    assert (told.title, told.size, told.providers) == ("Article number 1", 3, ("a.example", "b.example"))
    assert (told.id, told.heat, told.first_seen_at) == (7, 60, DAY)
    assert Audience.of(True) is TRUSTED and Audience.of(False) is PUBLIC
    assert PUBLIC.published_only and not TRUSTED.published_only
