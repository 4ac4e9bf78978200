"""``StampedMemo`` (``newsdesk/stamped.py``): a shared read is made once while the change stamp stays,
made again after it moves; and, through the catalog on a real store, a count or a search that a
change alters is never answered from before it."""

from __future__ import annotations

from pathlib import Path

from newsdesk.catalog import Audience
from newsdesk.model import ReviewState
from newsdesk.stamped import StampedMemo
from tests.test_api import article, make_desk


def test_made_once_per_stamp() -> None:
    stamp, made = [1], list[str]()

    def make(key: str) -> str:
        made.append(key)
        return f"{key}@{stamp[0]}"

    memo = StampedMemo(lambda: stamp[0])
    assert [memo.get(k, lambda k=k: make(k)) for k in ("a", "a", "b", "a")] == ["a@1", "a@1", "b@1", "a@1"]
    assert made == ["a", "b"]
    stamp[0] = 2
    assert memo.get("a", lambda: make("a")) == "a@2" and made == ["a", "b", "a"]


def test_a_result_made_while_the_stamp_moved_is_not_kept() -> None:
    """Filed under the stamp read before it was made: when that moved meanwhile, it is not kept."""
    stamp = [1]
    memo = StampedMemo(lambda: stamp[0])

    def slow() -> str:
        stamp[0] += 1  # a write committed while this was being made
        return "made"

    assert memo.get("k", slow) == "made"
    assert memo.get("k", lambda: "again") == "again"


def test_the_entries_are_bounded() -> None:
    memo = StampedMemo(lambda: 1, entries=3)
    for n in range(10):
        memo.get(n, lambda n=n: n)
    assert len(memo._kept) <= 3


def test_counts_and_searches_follow_the_store(tmp_path: Path) -> None:
    nd = make_desk(tmp_path)
    try:
        nd.store.save_article(article(1, review_state=ReviewState.PUBLISHED))
        catalog = nd.catalog
        assert catalog.topic_counts(Audience.PUBLIC).get("Payments", 0) == 0
        assert [h.article.title for h in catalog.search("number", "text", 20, Audience.PUBLIC)] == [
            "Article number 1"
        ]
        nd.store.save_article(article(2, review_state=ReviewState.PUBLISHED))  # a Payments article
        assert catalog.topic_counts(Audience.PUBLIC)["Payments"] == 1
        hits = catalog.search("number", "text", 20, Audience.PUBLIC)
        assert {h.article.title for h in hits} == {"Article number 1", "Article number 2"}
    finally:
        nd.close()
