"""The change log: what each move of the change stamp touched, for readers that hold an older stamp.

Every transaction that moves the stamp writes one ``change_log`` row with it (``base.log_change``, from
the notes its write path made with ``base.note_change``). A reader that last saw stamp ``a`` and now
sees ``b`` reads rows ``a+1 … b`` here and learns which articles and stories changed and whether a
published list could read differently, instead of taking every answer it holds for stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from . import search
from . import tables as t
from .base import MAX_NOTED, StoreBase, _chunks

MAX_ROWS = 500
"""Rows read at most in one call: a reader that fell that far behind (a bulk import, a long pause)
is told "everything" rather than handed thousands of ids to check."""


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed between two stamps: the articles touched, those of them published when their
    transaction committed (what a published list may now show), the stories touched, and ``lists``
    when a published list may read differently for another reason (an article left the published set
    or went), and ``vectors``: the articles whose stored vectors were written (what a semantic search
    finds; nothing else reads them). ``everything``: the log cannot say (a transaction that noted
    nothing or too much, rows pruned or too many); then the rest means nothing."""

    articles: frozenset[int] = frozenset()
    stories: frozenset[int] = frozenset()
    lists: bool = False
    everything: bool = False
    published: frozenset[int] = frozenset()
    vectors: frozenset[int] = frozenset()


EVERYTHING = ChangeSet(lists=True, everything=True)


class ChangesMixin(StoreBase):
    """Reads of the change log (its rows are written by the transaction helper, ``base.py``)."""

    def changes_between(self, after: int, upto: int) -> ChangeSet:
        """The union of what the transactions that moved the stamp past ``after`` up to ``upto`` touched."""
        if upto <= after:
            return ChangeSet()
        if upto - after > MAX_ROWS:
            return EVERYTHING
        log = t.change_log
        query = select(log).where(log.c.seq > after, log.c.seq <= upto).order_by(log.c.seq)  # oldest first
        with self._read() as c:
            found = c.execute(query).mappings().all()
        if len(found) != upto - after:  # pruned past, or a move that left no row: cannot say
            return EVERYTHING
        articles: set[int] = set()
        stories: set[int] = set()
        published: set[int] = set()
        vectors: set[int] = set()
        for row in found:
            if row["everything"]:
                return EVERYTHING
            articles |= _ids(row["articles"])
            stories |= _ids(row["stories"])
            published = (published - _ids(row["articles"])) | _ids(row["published"])  # the latest says
            vectors |= _ids(row["vectors"])
        if max(len(articles), len(stories), len(vectors)) > MAX_NOTED:
            return EVERYTHING
        lists = any(bool(row["lists"]) for row in found)
        return ChangeSet(
            frozenset(articles),
            frozenset(stories),
            lists,
            published=frozenset(published),
            vectors=frozenset(vectors),
        )

    def matching(self, q: str, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` match the text query ``q`` as the search does (every word, the last as a
        prefix), without ranking anything."""
        found: set[int] = set()
        with self._read() as c:
            for chunk in _chunks(sorted(ids), 500):
                found |= search.among_ids(c, q, chunk)
        return found


def _ids(text: str | None) -> set[int]:
    return {int(i) for i in text.split(",")} if text else set()
