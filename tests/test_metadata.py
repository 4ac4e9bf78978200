"""Page metadata: JSON-LD shapes, title cleaning, dates, authors, types, languages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from newsdesk.extract.dates import parse_datetime
from newsdesk.extract.jsonld import read_jsonld
from newsdesk.extract.metadata import PageMetadata, read_metadata
from newsdesk.extract.titles import clean_title, site_names

PAGES = Path(__file__).parent / "data" / "pages"


def tree_of(html: str) -> HtmlElement:
    tree = load_html(html)
    assert tree is not None
    return tree


def meta_of(head: str, body: str = "<p>x</p>", url: str = "https://www.example.com/a") -> PageMetadata:
    html = f"<html><head>{head}</head><body>{body}</body></html>"
    return read_metadata(tree_of(html), url, domain="example.com", date_fallback=False)


def ld(obj: str) -> str:
    return f'<script type="application/ld+json">{obj}</script>'


# --- titles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "names", "domain", "expected"),
    [
        ("Fintech grows - EJ Insight", ["EJ Insight"], "ejinsight.com", "Fintech grows"),
        ("Fintech grows – EJ Insight", [], "ejinsight.com", "Fintech grows"),
        ("Markets rally | Reuters", [], "reuters.com", "Markets rally"),
        ("Markets rally|Reuters.com", [], "reuters.com", "Markets rally"),
        ("EJ Insight: Fintech grows", ["EJ Insight"], "ejinsight.com", "Fintech grows"),
        ("EJ Insight | Fintech grows", [], "ejinsight.com", "Fintech grows"),
        ("BBC News - Budget passes - BBC", ["BBC News"], "bbc.co.uk", "Budget passes"),
        ("Headline | Business | The Daily Post", ["The Daily Post"], "dailypost.com", "Headline | Business"),
        ("Wi-Fi 7 | What changes", ["Tech Site"], "techsite.com", "Wi-Fi 7 | What changes"),
        ("Opinion: rates must fall", ["EJ Insight"], "ejinsight.com", "Opinion: rates must fall"),
        ("  Spaced \n  title  ", [], "example.com", "Spaced title"),
        ("Reuters", ["Reuters"], "reuters.com", "Reuters"),
    ],
)
def test_clean_title_removes_only_site_names(
    title: str, names: list[str], domain: str, expected: str
) -> None:
    assert clean_title(title, site_names(names, domain)) == expected


def test_clean_title_of_nothing_is_none() -> None:
    assert clean_title(None, frozenset()) is None
    assert clean_title("   ", frozenset({"x"})) is None


def test_title_prefers_og_title_and_cleans_it() -> None:
    meta = meta_of(
        '<title>Other | Example</title><meta property="og:title" content="Real headline - Example News">'
        '<meta property="og:site_name" content="Example News">'
    )
    assert meta.title == "Real headline"
    assert meta.provider_name == "Example News"


def test_title_falls_back_to_h1() -> None:
    assert meta_of("", "<h1> Only  a heading </h1>").title == "Only a heading"


# --- dates ----------------------------------------------------------------------------------------

EXPECTED = datetime(2021, 12, 24, 1, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2021-12-24T09:41:00+08:00",
        "2021-12-24T09:41:00+0800",
        "2021-12-24T01:41:00Z",
        "2021-12-24T01:41:00.123456Z",
        "2021-12-24 01:41:00",
        "Fri, 24 Dec 2021 09:41:00 +0800",
        "Thu, 23 Dec 2021 20:41:00 EST",
        "December 23, 2021 5:41 PM PST",
        "1640310060",
        "1640310060000",
    ],
)
def test_dates_in_any_format_become_utc(value: str) -> None:
    assert parse_datetime(value) == EXPECTED


@pytest.mark.parametrize(
    "value", ["", "   ", "garbage", "0", "0001-01-01T00:00:00", "99999999999999", "x" * 500]
)
def test_non_dates_are_none(value: str) -> None:
    assert parse_datetime(value) is None


def test_published_prefers_jsonld_over_opengraph() -> None:
    meta = meta_of(
        '<meta property="article:published_time" content="2020-01-01T00:00:00Z">'
        + ld('{"@type": "NewsArticle", "datePublished": "2021-12-24T09:41:00+08:00"}')
    )
    assert meta.published_at == EXPECTED


def test_published_from_itemprop_time_element() -> None:
    meta = meta_of("", '<time itemprop="datePublished" datetime="2021-12-24T01:41:00Z">Dec 24</time>')
    assert meta.published_at == EXPECTED


def test_published_from_yoast_webpage_node_when_article_lacks_it() -> None:
    graph = (
        '{"@graph": [{"@type": "WebPage", "datePublished": "2021-12-24T01:41:00Z"}, {"@type": "Article"}]}'
    )
    assert meta_of(ld(graph)).published_at == EXPECTED


def test_htmldate_fallback_finds_date_in_url() -> None:
    html = "<html><body><p>No declared date here.</p></body></html>"
    url = "https://www.example.com/2021/12/24/story.html"
    with_fallback = read_metadata(tree_of(html), url, domain="example.com")
    without = read_metadata(tree_of(html), url, domain="example.com", date_fallback=False)
    assert with_fallback.published_at == datetime(2021, 12, 24, tzinfo=UTC)
    assert without.published_at is None


# --- authors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ld('{"@type": "NewsArticle", "author": "Jane Doe"}'), "Jane Doe"),
        (ld('{"@type": "NewsArticle", "author": {"@type": "Person", "name": "By Jane Doe"}}'), "Jane Doe"),
        (
            ld('{"@type": "NewsArticle", "author": [{"name": "Jane Doe"}, "Bo Chen", "jane doe"]}'),
            "Jane Doe, Bo Chen",
        ),
        (ld('{"@type": "Article", "author": {"givenName": "Ana", "familyName": "Silva"}}'), "Ana Silva"),
        ('<meta name="author" content="By Jane Doe">', "Jane Doe"),
        (
            '<meta property="article:author" content="https://facebook.com/jd"><meta name="byl" content="By Bo Chen">',
            "Bo Chen",
        ),
        (
            '<meta name="citation_author" content="Doe, Jane"><meta name="citation_author" content="Chen, Bo">',
            "Doe, Jane; Chen, Bo",
        ),
    ],
)
def test_author_variants(head: str, expected: str) -> None:
    assert meta_of(head).author == expected


def test_author_from_microdata() -> None:
    body = '<span itemprop="author" itemscope><span itemprop="name">Jane Doe</span> (Reporter)</span>'
    assert meta_of("", body).author == "Jane Doe"


def test_no_author_is_none() -> None:
    assert meta_of("<title>t</title>").author is None


# --- JSON-LD shapes -------------------------------------------------------------------------------


def test_graph_references_are_resolved() -> None:
    page = (PAGES / "graph.html").read_text()
    meta = read_metadata(
        tree_of(page), "https://www.ejinsight.com/eji/article/id/3001610/x", domain="ejinsight.com"
    )
    assert meta.title == "Following the money of Hong Kong's growing fintech cluster"
    assert meta.author == "Louis & Jane Lau"  # @id reference, HTML entity decoded
    assert meta.provider_name == "EJ Insight"  # og:site_name beats the JSON-LD publisher
    assert meta.published_at == datetime(2021, 12, 24, 1, 41, tzinfo=UTC)
    assert meta.modified_at == datetime(2021, 12, 24, 10, 0, tzinfo=UTC)
    assert meta.category_hint == "opinion"  # articleSection
    assert meta.keywords == ("fintech", "Hong Kong")
    assert meta.image_urls[:2] == (
        "https://static.example-cdn.com/eji/images/3001610.jpg",
        "https://static.example-cdn.com/eji/images/3001610_b.jpg",
    )
    assert (
        meta.canonical_url == "https://www.ejinsight.com/eji/article/id/3001610/fintech-cluster?utm_source=x"
    )
    assert meta.og_url == "https://www.ejinsight.com/eji/article/id/3001610/fintech-cluster"
    assert meta.language == "en"


def test_invalid_json_script_is_skipped_and_next_one_read() -> None:
    tree = tree_of((PAGES / "podcast.html").read_text())
    nodes = read_jsonld(tree).nodes
    assert [n["@type"] for n in nodes] == ["PodcastEpisode"]


def test_publisher_name_when_no_site_name() -> None:
    head = ld('[{"@type": "NewsArticle", "publisher": {"@type": "Organization", "name": "Daily Post"}}]')
    assert meta_of(head).provider_name == "Daily Post"


def test_application_name_is_last_provider_source() -> None:
    assert meta_of('<meta name="application-name" content="Post App">').provider_name == "Post App"


def test_raw_newlines_inside_jsonld_strings_are_accepted() -> None:
    head = ld('{"@type": "NewsArticle", "articleBody": "line one\nline two", "headline": "H"}')
    meta = meta_of(head)
    assert meta.article_body == "line one\n\nline two"
    assert meta.title == "H"


def test_hostile_jsonld_does_not_raise() -> None:
    deep = "[" * 5000 + "]" * 5000
    head = ld(deep) + ld('{"@type": 5, "author": {"name": 7}}') + ld("null") + ld('"just a string"')
    assert meta_of(head).type == "article"


# --- type and category ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "type_", "category"),
    [
        (ld('{"@type": "NewsArticle"}'), "article", "news"),
        (ld('{"@type": "ReportageNewsArticle"}'), "article", "news"),
        (ld('{"@type": "OpinionNewsArticle"}'), "article", "opinion"),
        (ld('{"@type": "AnalysisNewsArticle"}'), "article", "analysis"),
        (ld('{"@type": "BlogPosting"}'), "article", "blog"),
        (ld('{"@type": "ScholarlyArticle"}'), "paper", "research"),
        (ld('{"@type": "NewsArticle", "articleSection": ["Press Releases"]}'), "article", "press-release"),
        (ld('{"@type": "Article", "articleSection": "Interviews"}'), "article", "interview"),
        (ld('{"@type": "Article"}'), "article", None),
        (ld('{"@type": "WebPage", "mainEntity": {"@type": "VideoObject"}}'), "video", None),
        (ld('{"@type": "PodcastEpisode"}'), "podcast", None),
        (ld('{"@type": "AudioObject"}'), "audio", None),
        ('<meta property="og:type" content="video.movie">', "video", None),
        ('<meta name="citation_doi" content="10.1/x">', "paper", "research"),
        ("", "article", None),
    ],
)
def test_type_and_category(head: str, type_: str, category: str | None) -> None:
    meta = meta_of(head)
    assert (meta.type, meta.category_hint) == (type_, category)


def test_article_beats_embedded_video() -> None:
    head = ld('[{"@type": "VideoObject", "name": "clip"}, {"@type": "NewsArticle", "headline": "Story"}]')
    meta = meta_of(head)
    assert (meta.type, meta.category_hint, meta.title) == ("article", "news", "Story")


# --- language, images, keywords -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html_attrs", "head", "expected"),
    [
        ('lang="pt-BR"', "", "pt"),
        ("", '<meta property="og:locale" content="de_DE">', "de"),
        ("", '<meta http-equiv="content-language" content="fr">', "fr"),
        ('lang="not a language!"', "", None),
        ("", "", None),
    ],
)
def test_declared_language(html_attrs: str, head: str, expected: str | None) -> None:
    html = f"<html {html_attrs}><head>{head}</head><body><p>x</p></body></html>"
    assert read_metadata(tree_of(html), "https://e.com/", domain="e.com").language == expected


def test_images_are_absolute_ordered_and_skip_icons() -> None:
    page = (PAGES / "blog.html").read_text()
    meta = read_metadata(tree_of(page), "https://blog.technotes.dev/queue", domain="technotes.dev")
    assert meta.image_urls == ("https://blog.technotes.dev/img/queue-diagram.png",)


def test_base_href_resolves_relative_urls() -> None:
    meta = meta_of('<base href="https://cdn.example.net/s/"><meta property="og:image" content="i.jpg">')
    assert meta.image_urls == ("https://cdn.example.net/s/i.jpg",)


def test_non_http_image_urls_are_dropped() -> None:
    meta = meta_of('<meta property="og:image" content="javascript:alert(1)">')
    assert meta.image_urls == ()


def test_keywords_split_and_deduplicated() -> None:
    head = (
        '<meta name="news_keywords" content="AI, Finance;banks">'
        '<meta name="keywords" content="ai, Markets">'
        + ld('{"@type": "NewsArticle", "keywords": ["Banks", "Fintech"]}')
    )
    assert meta_of(head).keywords == ("AI", "Finance", "banks", "Markets", "Fintech")
