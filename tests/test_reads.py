"""Which answers a change touches (``stamped.Reads.touched_by``): the rules the response cache applies
when the change stamp moves, on change sets written out by hand."""

from __future__ import annotations

from newsdesk.stamped import Reads, note, reading
from newsdesk.store.changes import EVERYTHING, ChangeSet


def _touched(
    reads: Reads,
    changes: ChangeSet,
    *,
    matching: frozenset[str] = frozenset(),
    topics: frozenset[str] = frozenset(),
) -> bool:
    return reads.touched_by(changes, lambda words: words in matching, lambda: set(topics))


PENDING_SAVE = ChangeSet(articles=frozenset({9}))
PUBLISHED_SAVE = ChangeSet(articles=frozenset({9}), published=frozenset({9}))
REJECT = ChangeSet(articles=frozenset({9}), lists=True)
STORY_WRITE = ChangeSet(stories=frozenset({4}))


def test_an_article_page_is_touched_by_its_own_records_only() -> None:
    page = Reads(articles={1, 2}, stories={4})  # the article, a related record, its story
    assert (
        not _touched(page, PENDING_SAVE) and not _touched(page, PUBLISHED_SAVE) and not _touched(page, REJECT)
    )
    assert _touched(page, ChangeSet(articles=frozenset({2})))
    assert _touched(page, STORY_WRITE)
    assert _touched(page, EVERYTHING)


def test_a_search_is_touched_by_its_hits_and_published_matches() -> None:
    search = Reads(words={"court"}, articles={3})
    assert not _touched(search, PENDING_SAVE, matching=frozenset({"court"}))  # matches, but not published
    assert not _touched(search, PUBLISHED_SAVE)  # published, but does not match
    assert _touched(search, PUBLISHED_SAVE, matching=frozenset({"court"}))
    assert _touched(search, ChangeSet(articles=frozenset({3})))  # a hit changed (or left)


def test_lists_by_kind() -> None:
    plain, payments, stories = (
        Reads(lists=True),
        Reads(topics={"Payments"}, articles={5}),
        Reads(story_lists=True),
    )
    assert not _touched(plain, PENDING_SAVE) and _touched(plain, PUBLISHED_SAVE) and _touched(plain, REJECT)
    assert not _touched(payments, PUBLISHED_SAVE, topics=frozenset({"AI"}))
    assert _touched(payments, PUBLISHED_SAVE, topics=frozenset({"Payments", "Fintech"}))
    assert _touched(payments, REJECT) and _touched(payments, ChangeSet(articles=frozenset({5})))
    assert _touched(stories, STORY_WRITE) and not _touched(stories, PENDING_SAVE)


def test_a_vector_touches_semantic_answers_only() -> None:
    vector = ChangeSet(vectors=frozenset({9}))
    semantic = Reads(lists=True, semantic=True, articles={3})  # a semantic search: its hits, any article
    assert _touched(semantic, vector)
    assert not _touched(semantic, PENDING_SAVE) and _touched(semantic, PUBLISHED_SAVE)
    others = [Reads(lists=True), Reads(words={"court"}, articles={9}), Reads(articles={9}, stories={4})]
    assert not any(_touched(reads, vector, matching=frozenset({"court"})) for reads in others)
    assert not any(_touched(reads, vector) for reads in [Reads(topics={"AI"}), Reads(story_lists=True)])


def test_an_answer_that_noted_nothing_is_touched_by_anything() -> None:
    assert _touched(Reads(), ChangeSet())
    assert _touched(Reads(everything=True, articles={1}), PENDING_SAVE)


def test_notes_count_only_inside_reading() -> None:
    note(articles=[1], lists=True)  # no answer being made: nowhere to go
    with reading() as reads:
        note(articles=[2, None], words="oil", topic="Payments")
        note(stories=[None, 7], story_lists=True, semantic=True)
    assert reads == Reads(
        story_lists=True, semantic=True, topics={"Payments"}, articles={2}, stories={7}, words={"oil"}
    )
