"""The read models the web pages need, built only on public ``Newsdesk`` / ``Store`` methods (no SQL).

Each function returns frozen view records, so templates only format and never query. Candidates for the
facade if the API or CLI want them too: :func:`hot_stories`, :func:`daily_topic_counts`,
:func:`source_health`, :func:`token_live`. :func:`daily_topic_counts` pages through whole articles; a
store method counting ``article_topics`` grouped by topic and day would make it O(1) in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..app import Newsdesk
from ..model import Article, Provider, Source, Story, Taxonomy, Topic
from ..store import ArticleQuery, Store

STATS_PAGE = 200  # articles fetched per page while counting; the store's own page cap for the API
STATS_MAX_ARTICLES = 5_000
"""Upper bound on articles read to draw the stats chart. Measured on these machines (SQLite, 2 shared
cores): counting 5,000 articles takes 0.85-1.07 s, since whole rows are loaded page by page. Past the cap
the chart says it is truncated rather than making the page slower; a grouped count in the store would
lift it (see the module docstring)."""
SOURCE_EVENTS = 3  # recent errors shown per source: enough to tell a one-off from a pattern
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class HotStory:
    """A story on the front page: its lead article (best quality), the others, and who covers it."""

    story: Story
    lead: Article
    others: tuple[Article, ...]
    providers: tuple[Provider, ...]


@dataclass(frozen=True, slots=True)
class TopicNode:
    topic: Topic
    count: int
    children: tuple[TopicNode, ...]


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source with what the sources page shows next to it."""

    source: Source
    latest: Article | None
    events: tuple[dict[str, Any], ...]

    @property
    def state(self) -> str:
        """ok | failing | new — the badge the page shows."""
        health = self.source.health
        if health.error_count:
            return "failing"
        return "ok" if health.last_success_at else "new"


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """Articles per day per topic over ``days`` (oldest first). ``truncated`` when the window held more
    than :data:`STATS_MAX_ARTICLES` articles and only the newest were counted."""

    days: tuple[date, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]
    articles: int
    truncated: bool


def slug(name: str) -> str:
    """``"AI in Finance"`` → ``"ai-in-finance"`` (the API's feed URLs use the same form)."""
    return _SLUG.sub("-", name.lower()).strip("-")


def find_topic(taxonomy: Taxonomy, key: str) -> Topic | None:
    """The topic named ``key``, or whose slug is ``key``."""
    for topic in taxonomy.topics:
        if key in (topic.name, slug(topic.name)):
            return topic
    return None


def topic_tree(taxonomy: Taxonomy, counts: dict[str, int]) -> tuple[TopicNode, ...]:
    """The taxonomy as nested nodes with article counts, roots first, in taxonomy order."""

    def node(topic: Topic) -> TopicNode:
        children = tuple(node(child) for child in taxonomy.children(topic.name))
        return TopicNode(topic, counts.get(topic.name, 0), children)

    return tuple(node(root) for root in taxonomy.children(None))


def hot_stories(store: Store, limit: int) -> list[HotStory]:
    """The hottest stories (by heat, then recency), each with its articles, best quality first."""
    out = []
    for story in store.list_stories(limit=limit):
        if story.id is None:
            continue
        articles = sorted(store.story_articles(story.id), key=lambda a: (-a.quality, a.id or 0))
        if articles:
            out.append(HotStory(story, articles[0], tuple(articles[1:]), _providers(articles)))
    return out


def _providers(articles: Sequence[Article]) -> tuple[Provider, ...]:
    seen: dict[str, Provider] = {}
    for article in articles:
        seen.setdefault(article.provider.domain, article.provider)
    return tuple(seen.values())


def story_siblings(store: Store, article: Article) -> list[Article]:
    """The other articles of ``article``'s story: the same event as other providers tell it."""
    if article.story_id is None:
        return []
    return [a for a in store.story_articles(article.story_id) if a.id != article.id]


def source_health(nd: Newsdesk) -> list[SourceView]:
    """Every source with its newest article and its most recent recorded errors."""
    views = []
    for source in nd.list_sources():
        latest = nd.articles(ArticleQuery(source_id=source.id, limit=1)).items
        events = nd.store.events(source_id=source.id, limit=SOURCE_EVENTS) if source.id else []
        views.append(SourceView(source, latest[0] if latest else None, tuple(events)))
    return views


def daily_topic_counts(nd: Newsdesk, topics: Sequence[str], *, days: int, end: date) -> DailyCounts:
    """Articles per publication day for each of ``topics``, over the ``days`` days ending on ``end``."""
    start = end - timedelta(days=days - 1)
    since = datetime(start.year, start.month, start.day)
    until = datetime(end.year, end.month, end.day) + timedelta(days=1)
    grid = {name: [0] * days for name in topics}
    seen, truncated = _count_days(nd, grid, start, since, until)
    day_list = tuple(start + timedelta(days=i) for i in range(days))
    series = tuple((name, tuple(grid[name])) for name in topics)
    return DailyCounts(day_list, series, seen, truncated)


def _count_days(
    nd: Newsdesk, grid: dict[str, list[int]], start: date, since: datetime, until: datetime
) -> tuple[int, bool]:
    seen, cursor = 0, None
    while seen < STATS_MAX_ARTICLES:
        page = nd.articles(ArticleQuery(since=since, until=until, limit=STATS_PAGE, cursor=cursor))
        for article in page.items:
            _tally(grid, article, start)
        seen += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen, False
    return seen, True


def _tally(grid: dict[str, list[int]], article: Article, start: date) -> None:
    when = article.published_at or article.first_seen_at
    if when is None:
        return
    index = (when.date() - start).days
    for name in article.topics:
        row = grid.get(name)
        if row is not None and 0 <= index < len(row):
            row[index] += 1


def token_live(store: Store, token_id: int) -> bool:
    """False once the token an editor signed in with is revoked: their session ends with it."""
    return any(t["id"] == token_id and t["revoked_at"] is None for t in store.list_tokens())
