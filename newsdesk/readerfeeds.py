"""What reader apps see as feeds and folders, shared by the Google Reader and Fever APIs.

Reader apps file every item under exactly one feed, and show feeds in folders. newsdesk has topics
(folders, and labels on items) and sources (private: a feed URL can carry its credentials), so:

- a **reader** gets one feed per topic that has published records, holding the records whose most
  specific topic it is, in the folders of that topic and its ancestors — so the folder "AI" shows
  everything about AI; records without a topic go to one "More from the desk" feed;
- an **editor** gets one feed per source instead, in the folders of the topics its published records
  carry; records whose source was removed go to the catch-all feed.

Feed ids are numbers (Fever needs integers): a source feed is its source id, a topic feed
:data:`TOPIC_FEED_BASE` plus the topic's place in the taxonomy, so ids stay put as records come and go.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Article, Source, Taxonomy
from .store.users import ItemFilter

TOPIC_FEED_BASE = 1 << 30
"""Above any source id a desk will reach, below 2**31 (clients that read ids as 32-bit ints)."""
CATCH_ALL_TITLE = "More from the desk"


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    title: str
    url: str
    site_url: str
    folders: tuple[str, ...]
    where: ItemFilter

    @property
    def stream_id(self) -> str:
        return f"feed/{self.id}"


@dataclass(frozen=True, slots=True)
class FeedModel:
    """The feeds one user sees, and which of them each record belongs to."""

    feeds: tuple[Feed, ...]
    by_topic: dict[str, int]  # topic -> its feed id (readers)
    by_source: dict[int, int]  # source id -> its feed id (editors)
    editor: bool

    def feed(self, feed_id: int) -> Feed | None:
        return next((f for f in self.feeds if f.id == feed_id), None)

    def origin(self, article: Article) -> Feed:
        """The one feed ``article`` is filed under."""
        if self.editor and article.source_id in self.by_source:
            found = self.feed(self.by_source[article.source_id])
        elif not self.editor and article.topics and article.topics[0] in self.by_topic:
            found = self.feed(self.by_topic[article.topics[0]])
        else:
            found = None
        return found or _catch_all(self.editor)

    def folders(self) -> tuple[str, ...]:
        """Every folder a feed is in, in first-seen order."""
        seen: dict[str, None] = {}
        for feed in self.feeds:
            seen.update(dict.fromkeys(feed.folders))
        return tuple(seen)


def topic_feeds(taxonomy: Taxonomy, totals: dict[str, int]) -> FeedModel:
    """A reader's feeds: one per topic with published records (``totals``), plus the catch-all."""
    order = [t.name for t in taxonomy.topics]
    order += sorted(set(totals) - set(order))  # topics records carry that the taxonomy no longer has
    feeds, by_topic = [], {}
    for place, name in enumerate(order, start=1):
        if totals.get(name):
            folders = (name, *_ancestors(taxonomy, name))
            feeds.append(Feed(TOPIC_FEED_BASE + place, name, "", "", folders, ItemFilter(first_topic=name)))
            by_topic[name] = TOPIC_FEED_BASE + place
    feeds.append(_catch_all(editor=False))
    return FeedModel(tuple(feeds), by_topic, {}, editor=False)


def source_feeds(sources: list[Source], topics: dict[int, set[str]], taxonomy: Taxonomy) -> FeedModel:
    """An editor's feeds: one per source, in the folders of its published records' topics."""
    order = {t.name: i for i, t in enumerate(taxonomy.topics)}
    feeds, by_source = [], {}
    for source in sources:
        if source.id is None:
            continue
        folders = tuple(sorted(topics.get(source.id, ()), key=lambda n: (order.get(n, len(order)), n)))
        title = source.name or source.url
        feeds.append(
            Feed(
                source.id, title, source.url, source.site_url or "", folders, ItemFilter(source_id=source.id)
            )
        )
        by_source[source.id] = source.id
    feeds.append(_catch_all(editor=True))
    return FeedModel(tuple(feeds), {}, by_source, editor=True)


def _catch_all(editor: bool) -> Feed:
    where = ItemFilter(no_source=True) if editor else ItemFilter(no_topic=True)
    return Feed(TOPIC_FEED_BASE, CATCH_ALL_TITLE, "", "", (), where)


def _ancestors(taxonomy: Taxonomy, name: str) -> tuple[str, ...]:
    try:
        return taxonomy.ancestors(name)
    except KeyError:
        return ()
