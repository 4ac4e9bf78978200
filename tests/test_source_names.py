"""Source names: a feed found from a site's URL is named by its own title (not its link's text), a name
that only stands in is replaced by the feed's title on the next successful poll while a name a person
chose is kept, and OPML re-import renames a known source. Real store, real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.model import Source
from newsdesk.sourcing import source_for
from tests.httpserver import LoopbackServer, Reply
from tests.test_authz import bearer, make_desk

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Loop News</title><link>http://x/</link>'
    b"<item><title>One</title><link>http://x/1</link></item></channel></rss>"
)
# A site whose only feed link is an anchor reading "feed.xml": what the link says is not a name.
HOME = b'<html><body><a href="/feed.xml">feed.xml</a></body></html>'


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    routes = {"/": Reply(body=HOME), "/feed.xml": Reply(body=RSS, content_type="application/rss+xml")}
    with LoopbackServer(routes) as server:
        yield server


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, workers="1")
    yield nd
    nd.close()


def test_a_feed_found_from_its_site_is_named_by_its_own_title(desk: Newsdesk, site: LoopbackServer) -> None:
    (found,) = asyncio.run(desk.sources.discover(site.url("/"), allow_loopback=True))
    assert (found.url, found.title) == (site.url("/feed.xml"), "Loop News")
    stand_in = source_for(found, found_on=site.url("/"))
    assert (stand_in.name, stand_in.name_given) == ("Loop News", False)
    chosen = source_for(found, found_on=site.url("/"), name="My pick")
    assert (chosen.name, chosen.name_given) == ("My pick", True)


def test_a_stand_in_name_takes_the_feed_title_on_the_next_poll(desk: Newsdesk, site: LoopbackServer) -> None:
    feed = site.url("/feed.xml")
    made = [
        desk.sources.add(Source(f"{feed}?a", name="feed.xml", name_given=False, allow_loopback=True)),
        desk.sources.add(Source(f"{feed}?b", name="Chosen by a person", allow_loopback=True)),
        desk.sources.add(Source(f"{feed}?c", allow_loopback=True)),
    ]
    desk.run(sources=made)
    polled = [desk.store.get_source(s.url) for s in made]
    assert [s.health.last_error for s in polled] == [None, None, None]
    assert [(s.name, s.name_given) for s in polled] == [
        ("Loop News", False),  # a stand-in follows the feed
        ("Chosen by a person", True),
        ("Loop News", False),
    ]


def test_opml_import_renames_a_known_source(desk: Newsdesk, tmp_path: Path) -> None:
    known = desk.sources.add(Source("https://models.example/feed.xml", name="feed.xml", name_given=False))
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline text="Model Notes" xmlUrl="https://models.example/feed.xml"/>'
        '<outline text="Wire" xmlUrl="https://wire.example/rss"/>'
        "</body></opml>"
    )
    added, skipped = desk.sources.import_opml(opml)
    assert [s.url for s in added] == ["https://wire.example/rss"]
    assert skipped == ["https://models.example/feed.xml: already known, renamed 'feed.xml' to 'Model Notes'"]
    renamed = desk.store.get_source(known.url)
    assert (renamed.name, renamed.name_given) == ("Model Notes", True)
    assert desk.sources.import_opml(opml) == ([], ["https://models.example/feed.xml: already known",
                                                       "https://wire.example/rss: already known"])  # fmt: skip


def test_a_name_sent_to_the_api_is_kept_and_null_hands_it_back_to_the_feed(desk: Newsdesk) -> None:
    writer = bearer(desk, "write")

    def polled(source_id: int) -> tuple[str | None, bool]:
        """The name after a successful poll of a feed titled "Theirs"."""
        desk.store.save_health(source_id, desk.store.get_source(source_id).health, feed_title="Theirs")
        after = desk.store.get_source(source_id)
        return after.name, after.name_given

    with TestClient(create_app(desk)) as client:
        made = client.post("/api/v1/sources", json={"url": "https://a.example/feed"}, headers=writer).json()
        url = f"/api/v1/sources/{made['id']}"
        assert client.patch(url, json={"name": "Mine"}, headers=writer).status_code == 200
        assert polled(made["id"]) == ("Mine", True)
        assert client.patch(url, json={"name": None}, headers=writer).status_code == 200
        assert polled(made["id"]) == ("Theirs", False)
