"""discover_feeds / candidate_urls on sample HTML."""

from __future__ import annotations

from pathlib import Path

from newsdesk.sources.discover import COMMON_FEED_PATHS, DiscoveredFeed, candidate_urls, discover_feeds

DATA = Path(__file__).parent / "data" / "feeds"
PAGE_URL = "https://gazette.example/news/index.html"


def test_discovers_declared_then_linked_feeds() -> None:
    found = discover_feeds((DATA / "discover_page.html").read_text(encoding="utf-8"), PAGE_URL)
    assert found == [
        DiscoveredFeed("https://gazette.example/feed/", "Gazette RSS", "rss"),
        DiscoveredFeed("https://gazette.example/news/atom.xml", "Gazette Atom", "atom"),
        DiscoveredFeed("https://gazette.example/feed.json", None, "json"),
        DiscoveredFeed("https://gazette.example/comments/feed/", "Comments Feed", "rss"),
        DiscoveredFeed("https://feeds.feedburner.example/gazette/rss", "Feedburner", "rss"),
        DiscoveredFeed("https://gazette.example/news-sitemap.xml", "News sitemap", "sitemap"),
        DiscoveredFeed("https://gazette.example/?feed=rss2", "Classic feed", "rss"),
    ]


def test_page_without_feeds_and_empty_input() -> None:
    assert discover_feeds("<html><body><a href='/about'>About</a></body></html>", PAGE_URL) == []
    assert discover_feeds("", PAGE_URL) == []
    assert discover_feeds("   ", PAGE_URL) == []


def test_candidate_urls_directory_first_then_root() -> None:
    urls = candidate_urls("https://gazette.example/blog/post.html")
    assert urls[: len(COMMON_FEED_PATHS)] == [f"https://gazette.example/blog{p}" for p in COMMON_FEED_PATHS]
    assert urls[len(COMMON_FEED_PATHS) :] == [f"https://gazette.example{p}" for p in COMMON_FEED_PATHS]
    assert "https://gazette.example/news-sitemap.xml" in urls


def test_candidate_urls_for_site_root_and_bad_input() -> None:
    assert candidate_urls("https://gazette.example") == [
        f"https://gazette.example{p}" for p in COMMON_FEED_PATHS
    ]
    assert candidate_urls("ftp://gazette.example/") == []
