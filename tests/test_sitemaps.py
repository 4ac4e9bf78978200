"""parse_sitemap: urlset with news/image extensions, index, gzip (and its bomb cap), text lists, errors;
and what the pipeline takes from a news sitemap."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.errors import ParseError
from newsdesk.model import Source, SourceKind
from newsdesk.sources.sitemaps import (
    ParsedSitemap,
    SitemapEntry,
    children_to_fetch,
    parse_sitemap,
    w3c_datetime,
)
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

DATA = Path(__file__).parent / "data" / "feeds"
URL = "https://gazette.example/sitemap.xml"


def test_news_sitemap_entries() -> None:
    parsed = parse_sitemap((DATA / "news_sitemap.xml").read_bytes(), URL)
    assert parsed.children == ()
    ferry, about = parsed.entries  # the entity-only and loc-less <url>s are dropped
    assert ferry == SitemapEntry(
        url="https://gazette.example/news/ferry-timetable",
        lastmod=datetime(2024, 5, 1, tzinfo=UTC),
        news_title="Ferry timetable changes",
        news_publication="Harbour Gazette",
        news_language="en",
        news_publication_date=datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        image_urls=("https://cdn.gazette.example/ferry.jpg", "https://cdn.gazette.example/ferry-2.jpg"),
    )
    assert about == SitemapEntry(url="https://gazette.example/about")


def test_news_titles_and_publication_names_lose_their_markup() -> None:
    """They become a record's title and provider name: text only, the XML entity decoded once."""
    body = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://gazette.example/n/1</loc>'
        b"<news:news><news:publication><news:name>&lt;script&gt;alert(1)&lt;/script&gt;Harbour &amp; Co"
        b"</news:name></news:publication><news:title><![CDATA[<b>Dues</b> rise <img src=x onerror=y>]]>"
        b"</news:title></news:news></url></urlset>"
    )
    (entry,) = parse_sitemap(body, URL).entries
    assert (entry.news_title, entry.news_publication) == ("Dues rise", "Harbour & Co")


def test_external_entity_is_not_resolved() -> None:
    parsed = parse_sitemap((DATA / "news_sitemap.xml").read_bytes(), URL)
    assert all("root:" not in e.url and "passwd" not in e.url for e in parsed.entries)


def test_sitemap_index_children() -> None:
    parsed = parse_sitemap((DATA / "sitemap_index.xml").read_bytes(), URL)
    assert parsed.entries == ()
    assert parsed.children == (
        "https://gazette.example/sitemaps/news.xml.gz",
        "https://gazette.example/sitemaps/pages.xml",
    )
    assert parsed.children_lastmod == (datetime(2024, 5, 1, 8, 0, tzinfo=UTC), None)


def test_gzipped_sitemap_equals_plain() -> None:
    body = (DATA / "news_sitemap.xml").read_bytes()
    assert parse_sitemap(gzip.compress(body), URL) == parse_sitemap(body, URL)


def test_gzip_bomb_is_refused_at_the_cap() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 200_000 + b"</urlset>")
    assert len(bomb) < 1_000
    with pytest.raises(ParseError, match="inflates past 100000 bytes"):
        parse_sitemap(bomb, URL, max_bytes=100_000)


def test_corrupt_gzip_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="corrupt gzip"):
        parse_sitemap(b"\x1f\x8b\x08\x00garbage", URL)


def test_plain_text_sitemap() -> None:
    parsed = parse_sitemap(b"https://a.example/1\n\nhttps://a.example/2\r\nhttps://a.example/1\n", URL)
    assert [e.url for e in parsed.entries] == ["https://a.example/1", "https://a.example/2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>hi</body></html>", "root element <html>"),
        (b"hello world", "neither an XML sitemap"),
        (b"<<<>>>", "not XML"),
    ],
)
def test_non_sitemaps_raise(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_sitemap(body, URL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:30-05:00", datetime(2024, 5, 1, 15, 0, 30, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_w3c_datetime(text: str | None, expected: datetime | None) -> None:
    assert w3c_datetime(text) == expected


def test_a_news_sitemap_names_the_provider_its_pages_do_not(tmp_path: Path) -> None:
    """Over loopback through the pipeline: a page with no site name, under a source with no name, takes
    the ``<news:publication>`` name of its sitemap entry rather than the bare domain."""
    page = (
        "<html><head><title>Harbour dues rise</title></head><body><article><h1>Harbour dues rise</h1>"
        + "".join(
            f"<p>Paragraph {n} on the harbour board's new dues and who pays them.</p>" for n in range(6)
        )
        + "</article></body></html>"
    )
    with LoopbackServer() as server:
        sitemap = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
            f"<loc>{server.url('/news/dues')}</loc><news:news><news:publication><news:name>Harbour Ledger"
            "</news:name><news:language>en</news:language></news:publication>"
            "<news:publication_date>2026-11-20T08:00:00Z</news:publication_date>"
            "<news:title>Harbour dues rise</news:title></news:news></url></urlset>"
        )
        server.route("/sitemap.xml", Reply(body=sitemap.encode(), content_type="application/xml"))
        server.route("/news/dues", Reply(body=page.encode()))
        settings = load_settings(env=quiet_env(tmp_path), base_dir=tmp_path)
        with Newsdesk(settings) as nd:
            nd.sources.add(Source(server.url("/sitemap.xml"), kind=SourceKind.SITEMAP, allow_loopback=True))
            assert nd.run().new == 1
            stored = nd.store.find_article(server.url("/news/dues"))
    assert stored is not None and stored.provider.name == "Harbour Ledger"


RSS_FR = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Le Quai</title><language>fr-FR</language>'
    "<item><title>Les droits de port augmentent</title><link>{url}</link><guid>{url}</guid></item>"
    "</channel></rss>"
)
SITEMAP_FR = (
    '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>{url}</loc><news:news>'
    "<news:publication><news:name>Le Quai</news:name><news:language>fr</news:language></news:publication>"
    "<news:title>Les droits de port augmentent</news:title></news:news></url></urlset>"
)


@pytest.mark.parametrize(("kind", "listing"), [(SourceKind.FEED, RSS_FR), (SourceKind.SITEMAP, SITEMAP_FR)])
def test_an_entry_whose_page_failed_keeps_the_language_its_source_declares(
    tmp_path: Path, kind: SourceKind, listing: str
) -> None:
    """The page is gone (404): the article is stored from the listing, in the listing's language."""
    with LoopbackServer() as server:
        server.route(
            "/list",
            Reply(body=listing.format(url=server.url("/gone")).encode(), content_type="application/xml"),
        )
        server.route("/gone", Reply(status=404, body=b"gone"))
        settings = load_settings(env=quiet_env(tmp_path), base_dir=tmp_path)
        with Newsdesk(settings) as nd:
            nd.sources.add(Source(server.url("/list"), kind=kind, allow_loopback=True))
            assert nd.run().new == 1
            stored = nd.store.find_article(server.url("/gone"))
    assert stored is not None and stored.fetch_error and stored.language == "fr"
    assert stored.provider.name == "Le Quai"


def test_an_index_yields_its_newest_children_first_and_skips_those_unchanged_since_the_last_poll() -> None:
    day = lambda d: datetime(2026, 11, d, tzinfo=UTC)  # noqa: E731
    parsed = ParsedSitemap(
        children=("a-undated", "b-old", "c-newest", "d-undated", "e-mid"),
        children_lastmod=(None, day(1), day(20), None, day(10)),
    )
    assert children_to_fetch(parsed, since=None, limit=10) == [
        "c-newest",
        "e-mid",
        "b-old",
        "a-undated",
        "d-undated",
    ]
    assert children_to_fetch(parsed, since=day(5), limit=10) == [
        "c-newest",
        "e-mid",
        "a-undated",
        "d-undated",
    ]
    assert children_to_fetch(parsed, since=None, limit=2) == ["c-newest", "e-mid"]


def test_the_next_poll_skips_index_children_unchanged_since_the_last_success(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        child = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<url><loc>{}</loc></url></urlset>"
        )
        index = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{server.url('/old.xml')}</loc><lastmod>2020-01-01</lastmod></sitemap>"
            f"<sitemap><loc>{server.url('/live.xml')}</loc><lastmod>2100-01-01</lastmod></sitemap>"
            "</sitemapindex>"
        )
        xml = "application/xml"
        server.route("/index.xml", Reply(body=index.encode(), content_type=xml))
        server.route("/old.xml", Reply(body=child.format(server.url("/a1")).encode(), content_type=xml))
        server.route("/live.xml", Reply(body=child.format(server.url("/a2")).encode(), content_type=xml))
        settings = load_settings(env=quiet_env(tmp_path, NEWSDESK_FETCH_PAGES="0"), base_dir=tmp_path)
        with Newsdesk(settings) as nd:
            nd.sources.add(Source(server.url("/index.xml"), kind=SourceKind.SITEMAP, allow_loopback=True))
            assert nd.run().new == 2
            nd.run(sources=nd.sources.list())
        assert (server.hits("/old.xml"), server.hits("/live.xml")) == (1, 2)
