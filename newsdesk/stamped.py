"""Reads worth keeping while the store does not change: expensive aggregates and rankings that several
answers share (issue 14, goal 4).

The response cache (``api/cache.py``) keeps whole answers; after a change it makes each popular one
again, and several of them read the same thing: the public topic counts (front page, topic pages,
``/api/v1/topics``: ≈ 20 ms at 100k articles) and a text search's ranking (the API's and the UI's
search for the same words: bm25 over every match, 1–19 ms). A :class:`StampedMemo` keeps such a
result until the change stamp moves, so the second answer reuses the first one's read.

Correctness: the stamp is read *before* the result is made, so a result is never filed under a stamp
newer than the data it was made from (at worst it is newer than its stamp, and dropped early).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

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
