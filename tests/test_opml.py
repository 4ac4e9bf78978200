"""parse_opml / write_opml: nesting becomes category, bad outlines are dropped, round trip holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdesk.errors import ParseError
from newsdesk.model import Source, SourceKind
from newsdesk.sources.opml import OpmlOutline, parse_opml, write_opml

DATA = Path(__file__).parent / "data" / "feeds"


def test_parse_nested_outlines() -> None:
    outlines = parse_opml((DATA / "subscriptions.opml").read_bytes())
    assert outlines == [
        OpmlOutline("Model Notes", "https://models.example/feed.xml", "https://models.example/", "Tech/AI"),
        OpmlOutline("Chip Wire", "https://chips.example/rss", None, "Tech"),
        OpmlOutline("Top level", "https://top.example/atom.xml", None, "Finance/Markets"),
    ]


def test_round_trip() -> None:
    sources = [
        Source(
            "https://models.example/feed.xml",
            name="Model Notes & Co",
            category="Tech/AI",
            site_url="https://models.example/",
        ),
        Source("https://chips.example/rss", name="Chip & Wire <3", category="Tech"),  # escaped, not markup
        Source("https://top.example/sitemap.xml", kind=SourceKind.SITEMAP, name="Top"),
        Source("https://more.example/feed", name="More", category="Tech/AI"),
    ]
    written = write_opml(sources, "newsdesk export")
    assert written.startswith(b"<?xml")
    back = parse_opml(written)
    assert sorted((o.xml_url, o.title, o.category, o.html_url or "") for o in back) == sorted(
        (s.url, s.name, s.category, s.site_url or "") for s in sources
    )
    assert b'type="sitemap"' in written and b"<title>newsdesk export</title>" in written


def test_markup_in_outline_labels_is_imported_as_plain_text() -> None:
    """An outline's title becomes a source name and so a record's provider: no markup survives, and the
    entity the XML attribute carried is decoded once."""
    body = (
        b'<?xml version="1.0"?><opml version="2.0"><head/><body>'
        b'<outline text="&lt;b&gt;Tech&lt;/b&gt;">'
        b'<outline title="&lt;script&gt;alert(1)&lt;/script&gt;Chips &amp;amp; Co &lt;img src=x onerror=y&gt;"'
        b' xmlUrl="https://chips.example/rss"/></outline></body></opml>'
    )
    assert parse_opml(body) == [OpmlOutline("Chips & Co", "https://chips.example/rss", None, "Tech")]


def test_unnamed_source_is_written_under_its_url() -> None:
    (outline,) = parse_opml(write_opml([Source("https://x.example/feed")], "t"))
    assert outline.title == "https://x.example/feed"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not well-formed"),
        (b"<rss><channel/></rss>", "not OPML"),
        (b"<opml version='2.0'><head/></opml>", "without <body>"),
        (b"<opml><body><outline", "not well-formed"),
    ],
)
def test_non_opml_raises(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_opml(body)
