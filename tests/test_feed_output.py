"""Tests for the RSS 2.0 / Atom 1.0 / JSON Feed 1.1 writers: each output is parsed back (feedparser, lxml,
json) and checked for the elements its spec requires and for faithful text."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from lxml import etree

from newsdesk.model import Article, Image, Provider
from newsdesk.publish.feeds import (
    ATOM_NS,
    JSON_FEED_VERSION,
    MEDIA_NS,
    FeedInfo,
    clean_text,
    render_atom,
    render_json_feed,
    render_rss,
)

Renderer = Callable[[Sequence[Article], FeedInfo], bytes]
FEED = FeedInfo(
    title="Desk & Co <3",  # a "<" that opens no tag is text and must survive
    site_url="https://desk.example/",
    feed_url="https://desk.example/feed",
    description="AI in Finance, curated",
    language="en",
    updated=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
)
# Characters XML and HTML escape, none of them markup ("<" before a space or digit opens no tag).
TRICKY = "Q&A: 3 < 4 > 2 \"agents\" & 'banks' — naïve café 日本語 🚀"
A = {"atom": ATOM_NS}


def article(n: int = 1, **changes: Any) -> Article:
    base = Article(
        title=f"Story {n}",
        web_url=f"https://news.example/story/{n}?a=1&b=2",
        original_url=f"https://news.example/story/{n}?utm_source=rss",
        provider=Provider("News Example", "news.example"),
        excerpt=f"Excerpt of story {n}",
        published_at=datetime(2024, 5, 1, 10, n, 30, tzinfo=UTC),
        topics=("AI in Finance", "AI"),
        images=(Image(f"https://news.example/img/{n}.png", 640, 480, True),),
    )
    return base.replace(**changes)


def parse(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --------------------------------------------------------------------------------------------------- RSS


def test_rss_has_required_channel_and_item_elements() -> None:
    data = render_rss([article(1), article(2)], FEED)
    parsed = parse(data)
    assert parsed.version == "rss20"
    assert parsed.feed.title == FEED.title and parsed.feed.link == FEED.site_url
    assert parsed.feed.subtitle == FEED.description
    first = parsed.entries[0]
    assert first.title == "Story 1" and first.link == "https://news.example/story/1?a=1&b=2"
    assert first.id == first.link
    assert first.published == "Wed, 01 May 2024 10:01:30 GMT"
    assert [t.term for t in first.tags] == ["AI in Finance", "AI"]
    assert first.enclosures[0].href == "https://news.example/img/1.png"
    assert first.enclosures[0].type == "image/png"
    assert first.author == "News Example"
    root = etree.fromstring(data)
    assert root.get("version") == "2.0"
    self_link = root.find(f"channel/{{{ATOM_NS}}}link")
    assert self_link is not None and self_link.get("rel") == "self" and self_link.get("href") == FEED.feed_url
    guid = root.find("channel/item/guid")
    assert guid is not None and guid.get("isPermaLink") == "true"
    media = root.find(f"channel/item/{{{MEDIA_NS}}}content")
    assert media is not None and (media.get("width"), media.get("height")) == ("640", "480")


def test_rss_item_without_date_or_image_omits_them() -> None:
    data = render_rss([article(1, published_at=None, images=(), excerpt="", topics=())], FEED)
    item = etree.fromstring(data).find("channel/item")
    assert item is not None
    assert [child.tag for child in item] == [
        "title",
        "link",
        "{http://purl.org/dc/elements/1.1/}creator",
        "guid",
    ]


def test_rss_dates_fall_back_to_first_seen() -> None:
    seen = datetime(2024, 4, 30, 23, 0, tzinfo=UTC)
    parsed = parse(render_rss([article(1, published_at=None, first_seen_at=seen)], FEED))
    assert parsed.entries[0].published == "Tue, 30 Apr 2024 23:00:00 GMT"


# -------------------------------------------------------------------------------------------------- Atom


def test_atom_has_required_feed_and_entry_elements() -> None:
    data = render_atom([article(1), article(2, author="Jane Roe")], FEED)
    parsed = parse(data)
    assert parsed.version == "atom10"
    assert parsed.feed.id == FEED.feed_url and parsed.feed.title == FEED.title
    assert parsed.feed.updated == "2024-05-02T08:00:00Z"
    assert {link.rel: link.href for link in parsed.feed.links} == {
        "self": FEED.feed_url,
        "alternate": FEED.site_url,
    }
    first, second = parsed.entries
    assert first.id == "https://news.example/story/1?a=1&b=2" and first.link == first.id
    assert first.updated == "2024-05-01T10:01:30Z" and first.published == first.updated
    assert first.summary == "Excerpt of story 1"
    assert first.author == "News Example" and second.author == "Jane Roe"
    assert [t.term for t in first.tags] == ["AI in Finance", "AI"]
    assert [link.href for link in first.links if link.rel == "enclosure"] == [
        "https://news.example/img/1.png"
    ]
    root = etree.fromstring(data)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    for entry in root.iterfind("atom:entry", A):
        assert entry.find("atom:id", A) is not None and entry.find("atom:updated", A) is not None
        assert entry.find("atom:author/atom:name", A) is not None


def test_atom_entry_without_any_date_uses_feed_updated() -> None:
    entry = etree.fromstring(render_atom([article(1, published_at=None)], FEED)).find("atom:entry", A)
    assert entry is not None
    assert entry.findtext("atom:updated", namespaces=A) == "2024-05-02T08:00:00Z"
    assert entry.find("atom:published", A) is None


# --------------------------------------------------------------------------------------------- JSON Feed


def test_json_feed_has_required_members() -> None:
    document = json.loads(render_json_feed([article(1), article(2, images=(), topics=())], FEED))
    assert document["version"] == JSON_FEED_VERSION
    assert document["title"] == FEED.title
    assert document["home_page_url"] == FEED.site_url and document["feed_url"] == FEED.feed_url
    assert document["language"] == "en"
    first, second = document["items"]
    assert first["id"] == first["url"] == "https://news.example/story/1?a=1&b=2"
    assert first["title"] == "Story 1" and first["summary"] == "Excerpt of story 1"
    assert first["date_published"] == "2024-05-01T10:01:30Z"
    assert first["image"] == "https://news.example/img/1.png"
    assert first["tags"] == ["AI in Finance", "AI"]
    assert first["authors"] == [{"name": "News Example"}]
    assert first["_newsdesk"]["provider"] == {"name": "News Example", "domain": "news.example"}
    assert "image" not in second and "tags" not in second
    for item in document["items"]:
        assert isinstance(item["id"], str)
        assert item.get("content_text") or item.get("content_html")  # the spec requires one of them


# ------------------------------------------------------------------------------------------ all formats


def titles_of(data: bytes, renderer: Renderer) -> list[str]:
    if renderer is render_json_feed:
        return [item["title"] for item in json.loads(data)["items"]]
    return [entry.title for entry in parse(data).entries]


ALL = [render_rss, render_atom, render_json_feed]


@pytest.mark.parametrize("renderer", ALL)
def test_special_characters_and_unicode_round_trip(renderer: Renderer) -> None:
    tricky = article(1, title=TRICKY, excerpt=TRICKY, topics=("R&D < lab",))
    feed = FeedInfo(TRICKY, FEED.site_url, FEED.feed_url, TRICKY, "de", FEED.updated)
    data = renderer([tricky], feed)
    assert titles_of(data, renderer) == [TRICKY]
    if renderer is not render_json_feed:
        parsed = parse(data)
        assert parsed.feed.title == TRICKY
        assert parsed.entries[0].tags[0].term == "R&D < lab"
        # RSS <description> and Atom <summary> are read as HTML by feed readers: the text survives unescaping.
        assert html.unescape(parsed.entries[0].summary) == TRICKY


@pytest.mark.parametrize("renderer", ALL)
def test_illegal_control_characters_are_removed(renderer: Renderer) -> None:
    dirty = "Bad\x00 \x01ti\x08tle\x0b\x1f with\ttab \ufffe\ud800end"
    data = renderer([article(1, title=dirty, excerpt=dirty)], FEED)
    if renderer is not render_json_feed:
        etree.fromstring(data)  # strict XML parser: raises on any illegal character
    assert titles_of(data, renderer) == ["Bad title with\ttab end"]


@pytest.mark.parametrize("renderer", ALL)
def test_empty_feed_is_valid(renderer: Renderer) -> None:
    data = renderer([], FEED)
    if renderer is render_json_feed:
        document = json.loads(data)
        assert document["items"] == [] and document["title"] == FEED.title
    else:
        parsed = parse(data)
        assert parsed.entries == [] and parsed.feed.title == FEED.title


@pytest.mark.parametrize("renderer", ALL)
def test_items_keep_input_order(renderer: Renderer) -> None:
    data = renderer([article(3), article(1), article(2)], FEED)
    assert titles_of(data, renderer) == ["Story 3", "Story 1", "Story 2"]


def test_clean_text_keeps_every_legal_character() -> None:
    legal = "tab\t nl\n cr\r \u00e9 \ud7ff \ue000 \ufffd \U0001f680"
    assert clean_text(legal) == legal
    assert clean_text("\x00\x1f\ufffe\uffff\udfff") == ""


# ------------------------------------------------------------------------------- hostile stored fields

HOSTILE = '<script>alert(1)</script>Fish &amp; Chips <img src=x onerror="alert(2)"><b>now</b>'
HOSTILE_PLAIN = "Fish & Chips now"


def plain_fields(data: bytes, renderer: Renderer) -> list[str]:
    """Every plain-text value of the first item as a reader gets it (entities resolved by the parser)."""
    if renderer is render_json_feed:
        item = json.loads(data)["items"][0]
        fields = [item["title"], item["summary"], item["content_text"], item["authors"][0]["name"]]
        return [*fields, *item["tags"], item["_newsdesk"]["provider"]["name"]]
    entry = parse(data).entries[0]
    return [entry.title, entry.summary, entry.author, *(t.term for t in entry.tags)]


@pytest.mark.parametrize("renderer", ALL)
def test_markup_in_stored_plain_fields_is_never_published(renderer: Renderer) -> None:
    """A row stored before ingestion cleaned its fields still comes out as plain text in every format:
    no tag, no script body, the entity decoded once and the result escaped exactly once."""
    old = article(1, title=HOSTILE, excerpt=HOSTILE, author=HOSTILE, topics=(HOSTILE,),
                  provider=Provider(HOSTILE, "news.example"))  # fmt: skip
    data = renderer([old], FEED)
    for needle in (b"<script", b"&lt;script", b"alert(", b"onerror", b"<b>", b"&lt;b&gt;", b"&amp;amp;"):
        assert needle not in data, needle
    assert plain_fields(data, renderer) == [HOSTILE_PLAIN] * len(plain_fields(data, renderer))
    if renderer is render_rss:
        assert b"<description>Fish &amp; Chips now</description>" in data  # escaped once, by lxml


@pytest.mark.parametrize("renderer", ALL)
def test_svg_images_are_never_published(renderer: Renderer) -> None:
    """SVG by extension, or refused by the image cache for its content type or bytes, is left out of
    enclosures, media:content and JSON Feed's image; a raster image beside it still goes out."""
    from newsdesk.fetch.sniff import SVG_REFUSED

    refused = f"image: {SVG_REFUSED}: it can carry script (served as image/svg+xml)"
    images = (Image("https://news.example/logo.SVG"), Image("https://news.example/pic?id=7", error=refused),
              Image("https://news.example/img/ok.png", 10, 10, True))  # fmt: skip
    data = renderer([article(1, images=images)], FEED)
    assert b"logo.SVG" not in data and b"pic?id=7" not in data
    assert b"https://news.example/img/ok.png" in data
    if renderer is render_rss:
        assert data.count(b"<enclosure") == 1 and data.count(b"<media:content") == 1
