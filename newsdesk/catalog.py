"""The read side of the facade: what the REST API and the web UI show, written once for both.

The edges stay thin: a handler parses its input, asks the :class:`Catalog` (topic tree with counts, a
topic by name or slug, hot stories with their providers, story siblings, source health, daily topic
counts, feed articles, text/semantic/hybrid search) and shapes the answer. No SQL lives here — counting
and filtering are :class:`~newsdesk.store.Store` queries — and nothing here knows about HTTP.

Visibility (product rule) — every call that returns articles, or numbers about them, names its
:class:`Audience`, so no edge can forget the rule:

- ``PUBLIC`` (an anonymous caller) sees published articles only: lists, search hits, topic counts,
  story members and related records leave the others out, and a single unpublished article is
  "no such article" (a 404 at the edges, indistinguishable from an id that does not exist). A story is
  shown only when it holds a published article, and then as its published articles tell it (title,
  size, providers); its heat and times stay the story's own.
- ``TRUSTED`` (a valid API token of any scope, or a signed-in editor) sees everything.
- Feeds are published-only for everybody.
- A cached image (by the SHA-256 of its bytes) is shown to ``PUBLIC`` only when a published article
  lists it; otherwise it is "no such image", as for a hash the cache does not hold.

Search modes:

- ``text``     full-text search (FTS5 bm25 on SQLite, ``ts_rank`` on PostgreSQL);
- ``semantic`` the query embedded with the same model as the articles, exact (or HNSW for big stores)
  nearest neighbours over the stored vectors;
- ``hybrid``   both lists merged by reciprocal-rank fusion: score = Σ 1 / (k + rank), so an article near
  the top of either list ranks high without calibrating bm25 against cosine.

For a ``PUBLIC`` search each ranking is read deeper until it yields enough published articles (see
:meth:`Catalog._visible`), so hiding unpublished hits does not shorten a page that could be full.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CryptoError, StorageError
from .finishing import decrypt_text
from .model import Alternate, Article, Provider, Reason, Source, Story, Taxonomy, Topic
from .record import dump_record
from .secure import KeyRing
from .semantic import Ranking, SemanticSearch
from .sources.sanitize import LINK_REL, URL_SCHEMES
from .stamped import Reads, StampedMemo, note, reading
from .store import ArticleQuery, Page, Store
from .tally import TopicTally

if TYPE_CHECKING:  # numpy (clustering) and Pillow (the image cache) load on use: `newsdesk show` is light
    from .app import Newsdesk
    from .enrich import cluster
    from .enrich.base import Embedder as Embedder  # what use_embedder takes, named for the edges

# fmt: skip below: sixteen names, one a line, would push the module's settings off the first screen.
__all__ = [
    "LINK_REL", "URL_SCHEMES", "ArticleQuery", "Audience", "Catalog", "DailyCounts", "FullText", "Hit",
    "HotStory", "Page", "SemanticSearch", "SourceView", "TopicNode", "find_topic", "slug", "topic_tree",
]  # fmt: skip

log = logging.getLogger(__name__)

RRF_K = 60  # Cormack, Clarke & Büttcher (SIGIR 2009): k = 60 worked across their TREC runs; not retuned
RRF_DEPTH = 100  # candidates taken from each list before fusing; deeper lists barely move a top-20
FEED_ITEMS = 50  # items per feed: what feed readers fetch each poll; keeps a feed small (docs/benchmarks.md)
SOURCE_EVENTS = 3  # recent errors shown per source: enough to tell a one-off from a pattern
RANK_GROWTH = 4  # a public semantic page of 20 reads the best 120, then 480, then 1,000 (4× deeper a round)
MIN_RANK_DEPTH = 120
"""A ranking is read at least this deep: the UI's page of 30 and the API's default 20 then read the
same text ranking, which the two answers share (``stamped.py``); reading deeper costs nothing, as the
matches are all ranked anyway."""
MAX_RANK_DEPTH = 1_000
"""How deep a public semantic search reads one ranking (ids only, then one ``IN`` query for their
published flags). Past it the reader gets a shorter page rather than a slower one."""
_SLUG = re.compile(r"[^a-z0-9]+")


class Audience(Enum):
    """Who is reading, as far as visibility goes (see the module docstring)."""

    PUBLIC = "public"  # anonymous: published articles only
    TRUSTED = "trusted"  # a valid token or an editor session: everything

    @classmethod
    def of(cls, identified: bool) -> Audience:
        """``TRUSTED`` for a caller the edge has identified (token, session), else ``PUBLIC``."""
        return cls.TRUSTED if identified else cls.PUBLIC

    @property
    def published_only(self) -> bool:
        return self is Audience.PUBLIC


# ------------------------------------------------------------------------------------- view records


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the article, its score (higher is better) and which lists found it."""

    article: Article
    score: float
    matched_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HotStory:
    """A story on the front page: its lead article (``cluster.choose_lead``), the others (best quality
    first), and who covers it."""

    story: Story
    lead: Article
    others: tuple[Article, ...]
    providers: tuple[Provider, ...]


@dataclass(frozen=True, slots=True)
class TopicNode:
    """A taxonomy topic with its article count and its children, for trees in either edge."""

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
class FullText:
    """An article's full text for an editor: the clear text (empty when the article has none), or
    why its sealed payload could not be opened (no key, a retired key, a payload that does not
    authenticate) — shown instead, so a broken key costs the editor the text and nothing else."""

    text: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """Articles per UTC day per topic over ``days`` (oldest first); ``articles`` counts each article of
    the window once, whatever its topics."""

    days: tuple[date, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]
    articles: int


# ------------------------------------------------------------------------------------ pure functions


def slug(name: str) -> str:
    """``"AI in Finance"`` → ``"ai-in-finance"``: a topic's name as it can appear in a URL path."""
    return _SLUG.sub("-", name.lower()).strip("-")


def find_topic(taxonomy: Taxonomy, key: str) -> Topic | None:
    """The topic named ``key`` exactly, or whose slug is ``key``."""
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


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> Ranking:
    """Reciprocal-rank fusion of id lists (each best first): ``(id, Σ 1/(k + rank))`` best first, ties
    broken by the id's first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def providers_of(articles: Sequence[Article]) -> tuple[Provider, ...]:
    """The distinct providers of ``articles`` (by domain), in the articles' order."""
    seen: dict[str, Provider] = {}
    for article in articles:
        seen.setdefault(article.provider.domain, article.provider)
    return tuple(seen.values())


def lead_candidate(article: Article) -> cluster.LeadCandidate:
    """What choosing a story's lead reads: completeness is the quality score's depth points (its text's
    length and paragraphs; the text itself is sealed), or the quality score before it was scored."""
    from .enrich import cluster

    depth = next((r.value for r in article.quality_reasons if r.name == "depth"), float(article.quality))
    return cluster.LeadCandidate(article.category, article.type, depth, article.published_at)


def as_told_by(story: Story, articles: Sequence[Article]) -> Story:
    """``story`` as ``articles`` (oldest first, non-empty) tell it: the first one's title, their count
    and their providers' domains (sorted, as clustering keeps them). Heat and times are the story's."""
    domains = tuple(sorted({a.provider.domain for a in articles}))
    return dataclasses.replace(story, title=articles[0].title, size=len(articles), providers=domains)


def _opened(article: Article, ring: KeyRing | CryptoError) -> FullText:
    """``article``'s sealed text opened with ``ring``, or why it could not be (``ring`` is the error
    itself when the key ring could not be loaded)."""
    if isinstance(ring, CryptoError):
        return _unopened(article, ring)
    try:
        return FullText(decrypt_text(article, ring))
    except CryptoError as e:
        return _unopened(article, e)


def _unopened(article: Article, error: CryptoError) -> FullText:
    log.warning("full text not opened", extra={"article_id": article.id, "error": str(error)})
    return FullText(error=str(error))


# -------------------------------------------------------------------------------------------- catalog


class Catalog:
    """The read models over one :class:`~newsdesk.app.Newsdesk`, the facade's ``nd.catalog``. One per
    facade: its :class:`SemanticSearch` keeps the vector cache and the loaded embedding model."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd
        self.semantic = SemanticSearch(lambda: nd.store, self._load_embedder)
        self._memo = StampedMemo(lambda: nd.store.change_stamp())  # text rankings
        self._tallies = {only: TopicTally(lambda: nd.store, published_only=only) for only in (True, False)}

    def _load_embedder(self) -> Embedder:
        from .enrich.embed import load_embedder

        settings = self.nd.settings  # the graph `newsdesk init` built, as enrichment uses it
        return load_embedder(settings.embed_model, settings.embed_backend, cache_dir=settings.models_dir)

    def use_embedder(self, embedder: Embedder) -> None:
        """Serve the semantic modes with ``embedder`` (already loaded: a test's, a benchmark's) instead of
        loading the ``embed_model`` setting on the first semantic query. It must be the model that
        embedded the stored articles."""
        self.semantic = SemanticSearch(lambda: self.nd.store, lambda: embedder)

    @property
    def store(self) -> Store:
        return self.nd.store

    # ---------------------------------------------------------------------------------------- topics

    def find_topic(self, key: str) -> Topic | None:
        return find_topic(self.nd.taxonomy, key)

    def topic_counts(self, audience: Audience) -> dict[str, int]:
        """Articles per topic that ``audience`` may see: several pages show them, so they are kept and
        followed through the change log rather than counted again at each change (``tally.py``)."""
        note(lists=True)
        return self._tallies[audience.published_only].counts()

    def topic_tree(self, audience: Audience) -> tuple[TopicNode, ...]:
        return topic_tree(self.nd.taxonomy, self.topic_counts(audience))

    # -------------------------------------------------------------------------------------- articles

    def articles(self, query: ArticleQuery, audience: Audience) -> Page:
        """A page of ``query``'s articles that ``audience`` may see (asking the public view for
        unpublished articles gives an empty page)."""
        if not audience.published_only:
            note(everything=True)  # unpublished articles too: the change log's lists do not cover them
            return self.store.list_articles(query)
        if query.published is False:
            return Page((), None)
        page = self.store.list_articles(dataclasses.replace(query, published=True))
        if query.topic:  # what enters holds the topic; what leaves is shown here or leaves the published set
            note(topic=query.topic, articles=[a.id for a in page.items])
        else:
            note(lists=True)
        return page

    def count_articles(self, audience: Audience) -> int:
        note(lists=True)
        return self.store.article_total(published_only=audience.published_only)

    def article(self, key: int | str, audience: Audience) -> Article:
        """The article (with its related records) by id or URL; a :class:`StorageError` "no such
        article" when there is none — or when ``audience`` may not see it. Two reads: the article, then
        its related records with their published flags (one joined statement)."""
        found: Article | None
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            found = self.store.get_article(int(key))
        else:
            found = self.store.find_article(key)
        if found is None:
            raise StorageError(f"no such article: {key}")
        assert found.id is not None
        note(articles=[found.id], stories=[found.story_id])
        if audience.published_only and not found.published:
            raise StorageError(f"no such article: {key}")
        related = self.store.related_refs_flagged(found.id)
        note(articles=[r.article_id for r, _ in related])  # a hidden one may be published later: then shown
        shown = tuple(r for r, published in related if published or not audience.published_only)
        return found.replace(related=shown)

    def alternates(self, article_id: int) -> list[Alternate]:
        """The other URLs the article was seen under (syndicated copies, moved pages), oldest first."""
        note(articles=[article_id])
        return self.store.alternates(article_id)

    def record(self, key: int | str, audience: Audience) -> str:
        """The record file of :meth:`article` (so its ``related`` obeys the same rule)."""
        return dump_record(self.article(key, audience))

    def image_visible(self, sha256: str, audience: Audience) -> bool:
        """Whether ``audience`` may fetch the cached image ``sha256``. An image is as private as the
        articles that show it: the public learns hashes from published records only, and a hash of an
        unpublished one (leaked, guessed from a known picture) must not open it. The store is asked
        only for the public, so editors and token holders pay nothing."""
        return not audience.published_only or self.store.image_published(sha256)

    def image_file(self, sha256: str, audience: Audience, *, thumbnail: bool = False) -> Path | None:
        """The cached original (or thumbnail) of ``sha256`` for ``audience``; None when the hash is not
        one, the audience may not see it, or the cache does not hold it — one answer for all three, so
        a refusal does not reveal that the file exists. Visibility is decided before the cache is
        touched, so a refused request does not count as a use of the file."""
        from .extract.images import SHA256_RE

        if not SHA256_RE.fullmatch(sha256) or not self.image_visible(sha256, audience):
            return None
        images = self.nd.images
        return images.thumbnail_for(sha256) if thumbnail else images.path_for(sha256)

    def full_texts(self, articles: Sequence[Article]) -> dict[int, FullText]:
        """The full text of each of ``articles`` (by id), opened with the key ring when sealed.

        Not audience-checked like the reads above: the clear text is for editors who may act on the
        article (the UI's write-scope session, the API's admin route), and the edge that asks has
        decided that already. The ring is loaded once, and only when some text is sealed."""
        ring: KeyRing | CryptoError | None = None
        out: dict[int, FullText] = {}
        for article in articles:
            if article.id is None:
                continue
            if article.secured is None:
                out[article.id] = FullText(article.text)
                continue
            if ring is None:
                ring = self._key_ring()
            out[article.id] = _opened(article, ring)
        return out

    def _key_ring(self) -> KeyRing | CryptoError:
        try:
            return self.nd.key_ring
        except CryptoError as e:  # no key file, or an unreadable one
            return e

    def feed_articles(self, topic: str | None) -> list[Article]:
        """The newest published articles (of ``topic`` when given) for a feed."""
        note(lists=True)
        page = self.store.list_articles(ArticleQuery(topic=topic, published=True, limit=FEED_ITEMS))
        return list(page.items)

    # --------------------------------------------------------------------------------------- stories

    def stories(self, audience: Audience, *, limit: int, since: datetime | None = None) -> list[Story]:
        """Stories hottest first, as ``audience`` may see them."""
        note(lists=True, story_lists=True)
        if not audience.published_only:
            return self.store.top_stories(limit=limit, since=since)
        return [story for story, _ in self._told(limit, since, published_only=True)]

    def story(self, story_id: int, audience: Audience) -> tuple[Story, list[Article]]:
        """One story and its articles, oldest first; "no such story" when ``audience`` sees none of them."""
        story = self.store.get_story(story_id)
        articles = self.store.story_articles(story_id)
        note(stories=[story_id], articles=[a.id for a in articles])
        if not audience.published_only:
            return story, articles
        shown = [a for a in articles if a.published]
        if not shown:
            raise StorageError(f"no such story: {story_id}")
        return as_told_by(story, shown), shown

    def hot_stories(self, audience: Audience, limit: int) -> list[HotStory]:
        """The hottest stories (by heat, then recency), each led by its earliest complete news report
        and then its other articles, best quality first."""
        from .enrich import cluster

        out = []
        for story, articles in self._told(limit, None, published_only=audience.published_only):
            ranked = sorted(articles, key=lambda a: (-a.quality, a.id or 0))
            lead = ranked.pop(cluster.choose_lead([lead_candidate(a) for a in ranked]))
            out.append(HotStory(story, lead, tuple(ranked), providers_of([lead, *ranked])))
        return out

    def _told(
        self, limit: int, since: datetime | None, *, published_only: bool
    ) -> list[tuple[Story, list[Article]]]:
        """The top stories with their (visible) articles, two queries in all; stories without any
        are left out, and public stories are retold by their published articles."""
        note(lists=True, story_lists=True)
        stories = self.store.top_stories(limit=limit, since=since, published_only=published_only)
        members = self.store.articles_of_stories(
            [s.id for s in stories if s.id is not None], published_only=published_only
        )
        told = [(s, members[s.id]) for s in stories if s.id is not None and s.id in members]
        return [(as_told_by(s, a), a) for s, a in told] if published_only else told

    def story_siblings(self, article: Article, audience: Audience) -> list[Article]:
        """The other articles of ``article``'s story: the same event as other providers tell it."""
        if article.story_id is None:
            return []
        others = [a for a in self.store.story_articles(article.story_id) if a.id != article.id]
        note(stories=[article.story_id], articles=[a.id for a in others])
        return [a for a in others if a.published] if audience.published_only else others

    # --------------------------------------------------------------------------------- sources, stats

    def source_health(self, audience: Audience) -> list[SourceView]:
        """Every source with its newest (visible) article and its most recent recorded errors."""
        note(everything=True)  # source health moves outside the change stamp
        views = []
        for source in self.nd.sources.list():
            latest = self.articles(ArticleQuery(source_id=source.id, limit=1), audience).items
            events = self.store.events(source_id=source.id, limit=SOURCE_EVENTS) if source.id else []
            views.append(SourceView(source, latest[0] if latest else None, tuple(events)))
        return views

    def daily_topic_counts(
        self, topics: Sequence[str], audience: Audience, *, days: int, end: date
    ) -> DailyCounts:
        """Articles per publication day (UTC) for each of ``topics``, over the ``days`` days ending on
        ``end``: one grouped query, however many articles the window holds."""
        note(lists=True)
        start = end - timedelta(days=days - 1)
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
        until = since + timedelta(days=days)
        only = audience.published_only
        grid = {name: [0] * days for name in topics}
        for topic, day, count in self.store.topic_day_counts(
            since, until, topics=topics, published_only=only
        ):
            index = (day - start).days
            if topic in grid and 0 <= index < days:
                grid[topic][index] += count
        total = self.store.article_total(since=since, until=until, published_only=only)
        day_list = tuple(start + timedelta(days=i) for i in range(days))
        return DailyCounts(day_list, tuple((name, tuple(grid[name])) for name in topics), total)

    def change_stamp(self) -> tuple[Any, ...]:
        """What moves whenever a record, a list or a page of articles could read differently, in any
        process on the database (one primary-key read)."""
        return self.store.change_stamp()

    def local_changes(self) -> int:
        """A count that moves when this process changes what :meth:`change_stamp` covers (free to read)."""
        return self.store.local_bumps()

    def reading(self) -> AbstractContextManager[Reads]:
        """Collect what the answers made inside show (the response cache's half of targeted
        invalidation; ``stamped.Reads``)."""
        return reading()

    def touched(self, before: tuple[Any, ...], after: tuple[Any, ...]) -> Callable[[Reads], bool]:
        """Which answers made under the stamp ``before`` the changes up to ``after`` may touch: one
        read of the change log; when changed articles are published after their change, one query
        for their topics and one per distinct search words (``store.matching``), as answers ask."""
        changes = self.store.changes_between(int(before[0]), int(after[0]))
        published = sorted(changes.published)
        matched: dict[str, bool] = {}
        topics: list[set[str]] = []

        def matches(words: str) -> bool:
            if words not in matched:
                matched[words] = bool(self.store.matching(words, published))
            return matched[words]

        def topics_of_published() -> set[str]:
            if not topics:
                topics.append(self.store.topics_of(published))
            return topics[0]

        return lambda reads: reads.touched_by(changes, matches, topics_of_published)

    def live_stamp(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """What moves whenever a page could read differently: the articles' change stamp (saved,
        decided, enriched) and the sources' (polled, rescheduled). Reading it also proves the store
        answers."""
        return self.store.change_stamp(), self.store.sources_stamp()

    def pending_counts(self) -> dict[str, int]:
        """Articles waiting for each stage (the metrics endpoint reports them)."""
        return self.store.pending_counts()

    # ---------------------------------------------------------------------------------------- search

    def search(self, q: str, mode: str, limit: int, audience: Audience) -> list[Hit]:
        """Search ``q`` in ``mode`` (text | semantic | hybrid); at most ``limit`` hits ``audience`` may
        see, best first. Semantic modes raise when the embedding model cannot be loaded."""

        if mode == "text":
            note(words=q)  # its hits are noted as they load (_hits)
            return self._hits(self._text(q, limit, audience), {"text": set()})
        note(lists=True, semantic=True)  # any published article, or a new vector, may come near in meaning
        near = self.semantic.ranker(q)
        if mode == "semantic":
            return self._hits(self._visible(near, limit, audience), {"semantic": set()})
        by_text = [i for i, _ in self._text(q, RRF_DEPTH, audience)]
        by_meaning = [i for i, _ in self._visible(near, RRF_DEPTH, audience)]
        fused = rrf([by_text, by_meaning])[:limit]
        return self._hits(fused, {"text": set(by_text), "semantic": set(by_meaning)})

    def _text(self, q: str, limit: int, audience: Audience) -> Ranking:
        """The best ``limit`` text matches ``audience`` may see: for the public the store ranks only the
        published matches (``search_ids``), so no round reads deeper to make up for hidden ones. Read
        at least :data:`MIN_RANK_DEPTH` deep, so the API's and the UI's page (and hybrid's list) for
        ``q`` share one ranking while the change stamp stays."""
        only, depth = audience.published_only, max(limit, MIN_RANK_DEPTH)
        ranking = self._memo.get(
            ("text", q, only, depth), lambda: self.store.search_ranking(q, limit=depth, published_only=only)
        )
        return ranking[:limit]

    def _visible(self, rank: Callable[[int], Ranking], limit: int, audience: Audience) -> Ranking:
        """The best ``limit`` entries of a ranking that ``audience`` may see. For the public the
        ranking is read :data:`RANK_GROWTH` × deeper each round (from 4× ``limit``, at least
        :data:`MIN_RANK_DEPTH`, to at most
        :data:`MAX_RANK_DEPTH`) until it yields ``limit`` published articles or runs out."""
        if not audience.published_only:
            return rank(limit)
        depth = min(max(limit * RANK_GROWTH, MIN_RANK_DEPTH), MAX_RANK_DEPTH)
        while True:
            ranked = rank(depth)
            shown = self.store.published_among([i for i, _ in ranked])
            visible = [(i, score) for i, score in ranked if i in shown]
            if len(visible) >= limit or len(ranked) < depth or depth >= MAX_RANK_DEPTH:
                return visible[:limit]
            depth = min(depth * RANK_GROWTH, MAX_RANK_DEPTH)

    def _hits(self, scored: Ranking, lists: dict[str, set[int]]) -> list[Hit]:
        """Load the ranked articles; ``matched_by`` names each list holding the id (an empty set
        stands for "every id": the single-list modes)."""
        found = self.store.get_articles([i for i, _ in scored])
        note(articles=found)
        return [
            Hit(found[i], score, tuple(name for name, ids in lists.items() if not ids or i in ids))
            for i, score in scored
            if i in found
        ]

    # --------------------------------------------------------------------------------------- explain

    def explain(self, key: int | str, audience: Audience) -> dict[str, Any]:
        """Why an article ``audience`` may see has its topics, quality and heat: every stored reason,
        and the editors' decisions on it."""
        article = self.article(key, audience)
        return {
            "id": article.id,
            "title": article.title,
            "quality": article.quality,
            "quality_reasons": [_reason(r) for r in article.quality_reasons],
            "heat": article.heat,
            "heat_reasons": [_reason(r) for r in article.heat_reasons],
            "topics": [
                {"topic": t.name, "score": round(t.score, 3), "signal": t.signal}
                for t in article.topic_scores
            ],
            "story_id": article.story_id,
            "related": [
                {"title": r.title, "similarity": round(r.similarity or 0, 3)} for r in article.related
            ],
            "decisions": [
                {k: str(v) for k, v in d.items() if k in ("action", "actor", "reason", "at")}
                for d in self.store.decisions(article.id or 0)
            ],
        }


def _reason(reason: Reason) -> dict[str, Any]:
    return {"name": reason.name, "points": round(reason.value, 2), "detail": reason.detail}
