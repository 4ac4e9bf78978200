"""Targeted invalidation over loopback HTTP (``api/cache.py`` with the change log): another process
writes; a change no kept answer shows leaves those answers as they were (their ``Age`` keeps growing
past the stale window, so they were not made again), and a change one shows reaches it within
STAMP_TTL_S + STALE_S. On SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from newsdesk.api.cache import STALE_S, STAMP_TTL_S
from newsdesk.app import Newsdesk
from newsdesk.model import ReviewState
from tests.readerapp import serve
from tests.test_api import article, make_desk

BASE = "/api/v1"
WINDOW_S = STAMP_TTL_S + STALE_S
WRITE_ELSEWHERE = """
import sys
from pathlib import Path
from newsdesk.model import ReviewState
from tests.test_api import article, make_desk

nd = make_desk(Path(sys.argv[1]), sys.argv[2])
action, number = sys.argv[3], int(sys.argv[4])
if action == "save":  # a new article, pending
    nd.store.save_article(article(number, title=sys.argv[5]))
elif action == "publish":  # a new article, published
    saved = nd.store.save_article(article(number, title=sys.argv[5]))
    nd.store.set_review_state(saved.id, ReviewState.PUBLISHED)
elif action == "retitle":  # an article already stored
    nd.store.save_article(article(number, title=sys.argv[5]))
nd.close()
"""


def _elsewhere(tmp_path: Path, url: str, action: str, number: int, title: str) -> None:
    """One write from another process (as the desk, or another server, makes it)."""
    command = [sys.executable, "-c", WRITE_ELSEWHERE, str(tmp_path), url, action, str(number), title]
    subprocess.run(command, check=True, cwd=Path.cwd())


@pytest.fixture
def desk(tmp_path: Path, store_url: str) -> Iterator[Newsdesk]:
    """Published: 1 "Oil prices climb" (related: 3) and 3 "Court rules on a merger"; pending: 2."""
    nd = make_desk(tmp_path, store_url)
    ids = []
    for number, title in ((1, "Oil prices climb"), (2, "Oil rig repaired"), (3, "Court rules on a merger")):
        ids.append(nd.store.save_article(article(number, title=title)).id)
    nd.store.set_review_state(ids[0], ReviewState.PUBLISHED)
    nd.store.set_review_state(ids[2], ReviewState.PUBLISHED)
    nd.store.set_related(ids[0], [(ids[2], 0.9)])
    yield nd
    nd.close()


def _id(desk: Newsdesk, number: int) -> int:
    found = desk.store.find_article(article(number).web_url)
    assert found is not None and found.id is not None
    return found.id


def _until(read: Callable[[], bool], what: str) -> None:
    """``read()`` turns true within the bound (plus the making), and stays true."""
    started = time.monotonic()
    while not read():
        assert time.monotonic() - started < WINDOW_S + 1.5, f"still not: {what}"
        time.sleep(0.05)
    assert all(read() for _ in range(5)), what


def test_an_unrelated_change_leaves_pages_and_searches_kept(
    desk: Newsdesk, tmp_path: Path, store_url: str
) -> None:
    """A pending article saved elsewhere touches no answer a reader sees: past the stale window, the
    article pages, the search and the lists are the answers made before it (Age past the window);
    were they stale, they would have been made anew by now (Age 0)."""
    one = _id(desk, 1)
    paths = [f"{BASE}/articles/{one}", f"/articles/{one}", f"{BASE}/search?q=court", f"{BASE}/articles", "/"]
    with serve(desk) as base, httpx.Client(base_url=base) as reader:
        first = {path: reader.get(path) for path in paths}
        assert all(r.status_code == 200 and r.headers["age"] == "0" for r in first.values())
        _elsewhere(tmp_path, store_url, "save", 4, "Court papers filed")  # matches, but pending
        time.sleep(WINDOW_S + 0.3)
        for path in paths:
            again = reader.get(path)
            assert again.headers["etag"] == first[path].headers["etag"], path
            assert int(again.headers["age"]) >= WINDOW_S, f"{path} was made again"


def test_a_published_article_touches_the_lists_its_topics_and_the_searches_it_matches_only(
    desk: Newsdesk, tmp_path: Path, store_url: str
) -> None:
    one = _id(desk, 1)
    with serve(desk) as base, httpx.Client(base_url=base) as reader:
        article_page = reader.get(f"{BASE}/articles/{one}")
        oil = reader.get(f"{BASE}/search?q=oil")
        payments = reader.get(
            f"{BASE}/articles?topic=Payments"
        )  # the new article's topics: AI in Finance, AI
        assert "Court date set" not in reader.get(f"{BASE}/articles?topic=AI").text
        assert [h["title"] for h in reader.get(f"{BASE}/search?q=court").json()["items"]] == [
            "Court rules on a merger"
        ]
        _elsewhere(tmp_path, store_url, "publish", 5, "Court date set")

        def court_found() -> bool:
            titles = {h["title"] for h in reader.get(f"{BASE}/search?q=court").json()["items"]}
            return titles == {"Court rules on a merger", "Court date set"}

        _until(court_found, "the new published article in the search it matches")
        _until(lambda: "Court date set" in reader.get(f"{BASE}/articles").text, "the list")
        _until(lambda: "Court date set" in reader.get(f"{BASE}/articles?topic=AI").text, "its topic's list")
        time.sleep(WINDOW_S + 0.3)
        kept = ((f"{BASE}/articles/{one}", article_page), (f"{BASE}/search?q=oil", oil))
        for path, before in (*kept, (f"{BASE}/articles?topic=Payments", payments)):
            again = reader.get(path)
            assert again.headers["etag"] == before.headers["etag"], path
            assert int(again.headers["age"]) >= WINDOW_S, f"{path} was made again"


def test_a_change_to_a_related_record_shows_on_the_article_page(
    desk: Newsdesk, tmp_path: Path, store_url: str
) -> None:
    """Article 1's page shows article 3 as related: a new title of 3, saved elsewhere, reaches the
    page (API and UI) within the bound; and a new title of 1 itself does too."""
    one = _id(desk, 1)
    with serve(desk) as base, httpx.Client(base_url=base) as reader:
        assert "Court rules on a merger" in reader.get(f"{BASE}/articles/{one}").text
        assert "Court rules on a merger" in reader.get(f"/articles/{one}").text
        _elsewhere(tmp_path, store_url, "retitle", 3, "Court blocks the merger")
        _until(lambda: "Court blocks the merger" in reader.get(f"{BASE}/articles/{one}").text, "API page")
        _until(lambda: "Court blocks the merger" in reader.get(f"/articles/{one}").text, "UI page")
        _elsewhere(tmp_path, store_url, "retitle", 1, "Oil prices fall")
        _until(lambda: "Oil prices fall" in reader.get(f"{BASE}/articles/{one}").text, "its own title")
