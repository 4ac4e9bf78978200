"""An article page reads the article, then its related records with their published flags in one joined
statement: two reads where it took four (the related list, the related articles, their published
flags), on SQLite and PostgreSQL; and what the public sees and what the response cache notes are as
before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience
from newsdesk.errors import StorageError
from tests.test_api import article, make_desk


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url)
    yield nd
    nd.close()


def _statements(desk: Newsdesk) -> list[str]:
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "change_stamp" not in statement:
            seen.append(statement)

    event.listen(desk.store.engine, "before_cursor_execute", record)
    return seen


def test_a_public_article_with_related_records_is_two_reads(desk: Newsdesk) -> None:
    store, catalog = desk.store, desk.catalog
    lead, hidden, shown = (store.save_article(article(n)).id for n in range(1, 4))
    for article_id in (lead, shown):
        store.set_review_state(article_id, "published")
    store.set_related(lead, [(hidden, 0.9), (shown, 0.7)])
    seen = _statements(desk)
    with catalog.reading() as reads:
        found = catalog.article(lead, Audience.PUBLIC)
    assert [r.article_id for r in found.related] == [shown]
    assert len(seen) == 2, seen
    assert {lead, hidden, shown} <= reads.articles  # the hidden one too: published later, it shows
    assert [(r.article_id, r.similarity) for r in catalog.article(lead, Audience.TRUSTED).related] == [
        (hidden, 0.9),
        (shown, 0.7),
    ]
    assert store.related_refs(lead) == tuple(r for r in catalog.article(lead, Audience.TRUSTED).related)


def test_an_unpublished_article_is_refused_to_the_public_after_one_read(desk: Newsdesk) -> None:
    store, catalog = desk.store, desk.catalog
    hidden, other = (store.save_article(article(n)).id for n in range(1, 3))
    store.set_related(hidden, [(other, 0.8)])
    seen = _statements(desk)
    with catalog.reading() as reads, pytest.raises(StorageError, match="no such article"):
        catalog.article(hidden, Audience.PUBLIC)
    assert len(seen) == 1 and hidden in reads.articles  # published later, the page is made again
