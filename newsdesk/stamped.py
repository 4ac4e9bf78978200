"""Reads worth keeping while the store does not change: expensive aggregates and rankings that several
answers share (issue 14, goal 4).

The response cache (``api/cache.py``) keeps whole answers; after a change it makes each popular one
again, and several of them read the same thing: a text search's ranking (the API's and the UI's
search for the same words: bm25 over every match, 1–19 ms). A :class:`StampedMemo` keeps such a
result until the change stamp moves, so the second answer reuses the first one's read. (The topic
counts, which the front page, the topic pages and ``/api/v1/topics`` share, outlive the stamp:
``tally.py`` follows them through the change log.)

Correctness: the stamp is read *before* the result is made, so a result is never filed under a stamp
newer than the data it was made from (at worst it is newer than its stamp, and dropped early).

:class:`Reads` is the other half of targeted invalidation: while the response cache makes an answer,
the catalog notes here what that answer shows (:func:`note`: article and story ids, a search's words,
"a published list"); when the stamp moves, the cache asks the change log what moved and keeps every
answer whose reads the change does not touch (:meth:`Reads.touched_by`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from .store.changes import ChangeSet

T = TypeVar("T")
MEMO_ENTRIES = 256  # results kept per stamp: every search word and topic of a busy minute, a few MB at most


class StampedMemo:
    """Results by key, kept while ``stamp()`` (one primary-key read) returns the same value."""

    def __init__(self, stamp: Callable[[], Hashable], entries: int = MEMO_ENTRIES) -> None:
        self._read_stamp = stamp
        self._entries = entries
        self._stamp: Hashable = None
        self._kept: dict[Hashable, Any] = {}
        self._lock = threading.Lock()  # handlers run in a thread pool

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``'s result for ``key``, made again only after the stamp moved."""
        stamp = self._read_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._kept, self._stamp = {}, stamp
            elif key in self._kept:
                return cast(T, self._kept[key])
        value = make()
        with self._lock:
            if stamp == self._stamp:  # not filed under a stamp that moved on meanwhile
                if len(self._kept) >= self._entries:
                    self._kept.clear()
                self._kept[key] = value
        return value


@dataclass(slots=True)
class Reads:
    """What one answer showed, as the catalog noted it while the answer was made.

    - ``lists``: a list, a count or a ranking of published articles (any published article entering,
      leaving or changing may change it);
    - ``story_lists``: a list of stories (any story written, or holding a changed article, may change);
    - ``topics``: lists of one topic's published articles (only a published article of that topic,
      one it shows, or an article leaving the published set may change them);
    - ``articles`` / ``stories``: the records it shows (an article page: the article, its related
      records, its story's other articles; a search: its hits);
    - ``words``: text searches it ran (a changed published article that matches them may enter);
    - ``semantic``: a semantic or hybrid search ran (a vector written may bring an article near);
    - ``everything``: something no note describes — any change touches it.

    An answer that noted nothing is treated as ``everything``: a read that forgot to note stays safe."""

    lists: bool = False
    story_lists: bool = False
    everything: bool = False
    semantic: bool = False
    topics: set[str] = field(default_factory=set)
    articles: set[int] = field(default_factory=set)
    stories: set[int] = field(default_factory=set)
    words: set[str] = field(default_factory=set)

    def touched_by(
        self, changes: ChangeSet, matches: Callable[[str], bool], topics: Callable[[], set[str]]
    ) -> bool:
        """Whether ``changes`` may make this answer read differently. ``matches(words)``: whether one of
        the changed articles published after their change matches a text search's words;
        ``topics()``: the topics of those articles."""
        if changes.everything or self.everything:
            return True
        noted = (
            self.lists or self.story_lists or self.semantic or self.topics or self.articles or self.stories
        )
        if not (noted or self.words):
            return True  # nothing noted: no way to tell
        if self.semantic and changes.vectors:
            return True
        if self.story_lists and changes.stories:
            return True
        if (self.lists or self.topics) and (changes.lists or (self.lists and changes.published)):
            return True
        if not self.articles.isdisjoint(changes.articles) or not self.stories.isdisjoint(changes.stories):
            return True
        if not changes.published:
            return False
        if self.topics and not self.topics.isdisjoint(topics()):
            return True
        return any(matches(words) for words in self.words)


_reads: ContextVar[Reads | None] = ContextVar("newsdesk_reads", default=None)


@contextmanager
def reading() -> Iterator[Reads]:
    """Collect what the code run inside notes (:func:`note`), in this context and the worker threads
    it hands work to (Starlette's thread pool copies the context)."""
    reads = Reads()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def note(
    *,
    articles: Iterable[int | None] = (),
    stories: Iterable[int | None] = (),
    words: str | None = None,
    topic: str | None = None,
    lists: bool = False,
    story_lists: bool = False,
    everything: bool = False,
    semantic: bool = False,
) -> None:
    """Record what the answer being made shows; nothing happens outside :func:`reading`."""
    reads = _reads.get()
    if reads is None:
        return
    reads.articles.update(i for i in articles if i is not None)
    reads.stories.update(i for i in stories if i is not None)
    if words is not None:
        reads.words.add(words)
    if topic is not None:
        reads.topics.add(topic)
    reads.lists = reads.lists or lists
    reads.story_lists = reads.story_lists or story_lists
    reads.everything = reads.everything or everything
    reads.semantic = reads.semantic or semantic
