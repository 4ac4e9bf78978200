"""One feed discovery (``newsdesk.discovery.find_feeds``) behind both ``newsdesk source add`` and the web form's
"add source": they see the same candidates in the same order, the CLI lists every one, the form stops at
the first confirmed feed. Real HTTP on loopback, through the desk's fetcher (SSRF guard, robots.txt)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.discovery import FoundFeed, find_feed
from newsdesk.errors import SourceError
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import fetch_policy
from newsdesk.model import SourceKind
from tests.httpserver import LoopbackServer, Reply
from tests.test_authz import make_desk


def rss(title: str) -> Reply:
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title><link>http://x/</link>'
    body += "<item><title>One</title><link>http://x/1</link></item></channel></rss>"
    return Reply(body=body.encode(), content_type="application/rss+xml")


def links(*paths: str) -> Reply:
    tags = "".join(f'<link rel="alternate" type="application/rss+xml" href="{p}" title="{p}">' for p in paths)
    return Reply(body=f"<html><head>{tags}</head><body>Home</body></html>".encode())


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, workers="1")
    yield nd
    nd.close()


def form_finds(nd: Newsdesk, url: str) -> FoundFeed:
    """What the web form's ``nd.sources.find_feed`` does, with loopback allowed (the test's site)."""

    async def run() -> FoundFeed:
        async with Fetcher(fetch_policy(nd.settings, nd.resolve)) as fetcher:
            return await find_feed(url, fetcher, allow_private=True)

    return asyncio.run(run())


def test_cli_lists_every_declared_feed_and_the_form_takes_the_first_that_parses(desk: Newsdesk) -> None:
    routes = {"/": links("/gone.xml", "/a.xml", "/b.xml"), "/a.xml": rss("Feed A"), "/b.xml": rss("Feed B")}
    with LoopbackServer(routes) as site:
        listed = asyncio.run(desk.sources.discover(site.url("/"), allow_loopback=True))
        assert [(f.url, f.kind, f.title) for f in listed] == [
            (site.url("/gone.xml"), "rss", "/gone.xml"),  # declared, unconfirmed: as the page said
            (site.url("/a.xml"), "feed", "Feed A"),  # confirmed: its own title
            (site.url("/b.xml"), "feed", "Feed B"),
        ]
        before = site.hits("/b.xml")
        found = form_finds(desk, site.url("/"))
        assert (found.url, found.kind, found.title) == (site.url("/a.xml"), SourceKind.FEED, "Feed A")
        assert site.hits("/b.xml") == before  # the form stops at the first confirmed feed


def test_both_fall_back_to_the_conventional_paths(desk: Newsdesk) -> None:
    routes = {"/": Reply(body=b"<html><body>No feed links</body></html>"), "/feed/": rss("Conventional")}
    with LoopbackServer(routes) as site:
        listed = asyncio.run(desk.sources.discover(site.url("/"), allow_loopback=True))
        assert [(f.url, f.title) for f in listed] == [(site.url("/feed/"), "Conventional")]
        assert form_finds(desk, site.url("/")).url == site.url("/feed/")


def test_the_form_names_the_url_when_nothing_parses(desk: Newsdesk) -> None:
    with LoopbackServer({"/": links("/gone.xml")}) as site:
        with pytest.raises(SourceError, match="no feed or sitemap found at"):
            form_finds(desk, site.url("/"))
        listed = asyncio.run(desk.sources.discover(site.url("/"), allow_loopback=True))
        assert [f.url for f in listed] == [site.url("/gone.xml")]  # the CLI still offers what was declared
