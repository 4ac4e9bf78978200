"""The per-item shortcuts of feed parsing give what the long way gives (issue 14, goal 2).

Each shortcut (an absolute link taken as is, text without markup or references left to itself, markup
whose tags are all HTML elements not rewritten, text fields sanitised on first read, a content's text
read out of its sanitised HTML, the sanitisers built once) is checked here
against the long way on the cases that could tell them apart. The whole feedparser corpus is checked
by ``tests/test_feed_corpus.py`` and the demo export by ``tests/test_demo_export_golden.py``.
"""

from __future__ import annotations

import dataclasses
import html
import pickle
from collections.abc import Callable
from urllib.parse import urljoin

import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdesk.model import is_http_url
from newsdesk.sources.feeds import FeedEntry, parse_feed, parse_feed_with
from newsdesk.sources.feedtypes import _same_start, absolute_url, build_entry
from newsdesk.sources.sanitize import LINK_REL, URL_SCHEMES, clean_html, plain_text, spaced_text

BASE = "http://example.org/dir/feed.xml"

FEED = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>
<link>https://example.org/</link>
<item><title>Tom &amp; Jerry &amp;amp; co</title><link>https://example.org/a</link>
<description>&lt;p&gt;Lead &lt;script&gt;alert(1)&lt;/script&gt;&lt;AI&gt; text&lt;/p&gt;</description>
<content:encoded><![CDATA[<p onclick="x()">Body <a href="/rel">link</a></p>]]></content:encoded>
<author>a@example.org (A &lt;b&gt;B&lt;/b&gt;)</author><category>c &amp; d</category>
<pubDate>Mon, 01 Jan 2024 10:00:00 +0000</pubDate></item>
<item><title>Two</title><link>/b?x=1#f</link></item>
</channel></rss>"""


def long_way(link: str, base: str) -> str | None:
    """What ``absolute_url`` gave before its shortcut: urljoin, then the http(s) check."""
    if not link or not link.strip():
        return None
    try:
        url = urljoin(base, link.strip())
    except ValueError:
        return None
    return url if is_http_url(url) else None


@pytest.mark.parametrize(
    "link",
    [
        "https://example.org/a/b?c=d#e",
        "http://example.org",
        "http://Example.ORG:8080/x",
        "http://example.org/a;params",
        "http://example.org/a?",
        "http://example.org/a#",
        "HTTP://example.org/a",
        " https://example.org/a \n",
        "https://example.org/a\tb",
        "https://[::1]/x",
        "https://[::1/x",
        "https://user@example.org/x",
        "https://example.org/é",
        "//example.org/x",
        "/rel/../x",
        "ftp://example.org/x",
        "javascript:alert(1)",
    ],
)
@pytest.mark.parametrize("base", [BASE, "https://example.org/", "", "http://[bad/"])
def test_absolute_url_matches_urljoin(link: str, base: str) -> None:
    assert absolute_url(link, base) == long_way(link, base)


def nh3_way(text: str) -> str:
    """plain_text's nh3 pass for text without tags (one pass suffices: no ``<`` comes out)."""
    return " ".join(html.unescape(nh3.clean(text, tags=set())).split())


@pytest.mark.parametrize(
    "text",
    [
        "Tom & Jerry",
        "a &amp; b",
        "AT&T",
        "&#38; x",
        "&",
        "x &\n y",
        "\ufeffA & B",
        "A\x00 & B",
        "> & é",
        "&é",
    ],
)
def test_plain_text_of_text_without_tags_matches_the_sanitiser(text: str) -> None:
    assert plain_text(text) == nh3_way(text)


def test_angled_words_are_kept_and_elements_stripped() -> None:
    assert plain_text("<AI> and <b>bold</b> <Ｂ>") == "\u2039AI\u203a and bold <Ｂ>"  # no tag: not a letter
    assert plain_text("<p>only <em>elements</em></p>") == "only elements"


def test_entries_read_late_equal_entries_read_at_once() -> None:
    feed = parse_feed(FEED, BASE)
    first = feed.entries[0]
    assert first.url == "https://example.org/a"  # read alone: the text fields wait
    again = parse_feed(FEED, BASE).entries[0]
    _ = (again.title, again.summary, again.content_html, again.author, again.categories)
    assert first == again and hash(first) == hash(again) and repr(first) == repr(again)
    assert first.title == "Tom & Jerry & co"  # feeds double-escape; plain_text decodes until no markup
    assert first.summary == "Lead \u2039AI\u203a text"
    assert first.content_html == (
        '<p>Body <a href="http://example.org/rel" rel="noopener noreferrer nofollow">link</a></p>'
    )
    assert first.categories == ("c & d",)
    assert first.author == "a@example.org (A B)"
    assert repr(first).startswith("FeedEntry(url='https://example.org/a', guid='https://example.org/a',")
    assert feed.entries[1].url == "http://example.org/b?x=1#f"


def test_entries_pickle_and_convert_as_plain_entries() -> None:
    feed = parse_feed(FEED, BASE)
    back = pickle.loads(pickle.dumps(feed))
    assert type(back.entries[0]) is FeedEntry
    assert back == feed
    assert dataclasses.asdict(back) == dataclasses.asdict(feed)
    plain = FeedEntry(**{f.name: getattr(feed.entries[0], f.name) for f in dataclasses.fields(FeedEntry)})
    assert plain == feed.entries[0] and feed.entries[0] == plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        feed.entries[0].title = "changed"  # type: ignore[misc]


def test_reading_the_title_leaves_the_content_unsanitised() -> None:
    """A new entry whose page is fetched reads its labels, not its content (the page has its own)."""
    entry = parse_feed(FEED, BASE).entries[0]
    assert entry.title == "Tom & Jerry & co"
    with pytest.raises(AttributeError):  # the slot itself: still empty
        FeedEntry.__dict__["content_html"].__get__(entry, FeedEntry)
    assert entry.summary == "Lead \u2039AI\u203a text"
    assert FeedEntry.__dict__["content_html"].__get__(entry, FeedEntry) is not None


@pytest.mark.parametrize("parser", ["fastfeedparser", "feedparser"])
def test_known_entries_read_their_urls_and_nothing_else_is_made(parser: str) -> None:
    """A repeat poll reads only the URLs of entries the store holds: the adapter's copy of the
    parser's fields (dates, enclosures, media, texts) is not made for them. The first read of another
    field makes it for every entry of the feed, once."""
    entries = parse_feed_with(parser, FEED, BASE).entries
    assert [e.url for e in entries] == ["https://example.org/a", "http://example.org/b?x=1#f"]
    batch = entries[0]._batch  # type: ignore[attr-defined]
    assert batch._made is None and all(e._batch is batch for e in entries)  # type: ignore[attr-defined]
    first, eager = entries[0], parse_feed_with(parser, FEED, BASE).entries[0]
    _ = (eager.title, eager.summary, eager.guid)  # read in another order: the same entry
    _ = first.published_at
    made = batch._made
    assert made is not None and len(made) == 2
    _ = (first.title, first.summary, first.guid, first.enclosures, entries[1].title)
    assert batch._made is made
    assert first == eager


LINKS_FEED = b"""<rss version="2.0"><channel><title>Links</title>
<item><title>Own link</title><link>https://example.org/own</link><guid>id-1</guid></item>
<item><title>Relative link</title><link>/rel?x=1</link></item>
<item><title>Guid as link</title><guid>https://example.org/guid</guid></item>
<item><title>Relative permalink</title><guid isPermaLink="true">/perma/7</guid></item>
<item><title>Opaque guid</title><guid>abc123</guid></item>
</channel></rss>"""


@pytest.mark.parametrize("parser", ["fastfeedparser", "feedparser"])
def test_an_entry_equals_the_one_its_raw_entry_builds_at_once(parser: str) -> None:
    """The adapter reads each entry's link once, when the feed is parsed: the URL is resolved from it
    and the raw entry made later carries the same link, so the lazy entry is the one
    :func:`build_entry` makes from that raw entry (a guid taken as the link included)."""
    feed = parse_feed_with(parser, LINKS_FEED, BASE)
    urls = ["https://example.org/own", "http://example.org/rel?x=1", "https://example.org/guid"]
    if parser == "feedparser":  # fastfeedparser drops a relative permalink (tests/test_feeds.py)
        urls.append("http://example.org/perma/7")
    assert [e.url for e in feed.entries] == urls
    for entry in feed.entries:
        raw = entry._raw_entry()  # type: ignore[attr-defined]
        assert build_entry(raw) == entry and absolute_url(raw.link, raw.base) == entry.url


def test_the_reused_sanitiser_cleans_as_nh3_clean_does() -> None:
    fragment = '<p onclick="x()">a <a href="/r" title="a>b">l</a><script>s</script><img src="j.png"></p>'
    resolve = {"/r": "http://example.org/r", "j.png": "http://example.org/dir/j.png"}.get
    once = nh3.clean(fragment, link_rel=LINK_REL, url_schemes=set(URL_SCHEMES), url_relative=resolve)
    assert clean_html(fragment, BASE) == once
    assert clean_html(fragment, BASE) == clean_html(fragment, BASE)  # the cached cleaner, again


# Fragments that could tell the content's text read from its sanitised HTML from a parse of its own:
# kept and dropped tags, attributes holding ">" and quotes, raw-text and escapable raw-text elements,
# foreign content, comments, CDATA, tables (foster parenting), <pre> newlines, entities, angled words.
TRICKY = [
    '<p title="a>b" class=\'x"y\'>one</p><p>two</p>',
    "<script>alert('<b>x</b>')</script>after<style>p{}</style>",
    "<pre>\n\nfirst line</pre>x<pre>\ny</pre>",
    "<table><tr>cell<td>in</td></tr>foster</table>",
    "<!-- c --><![CDATA[data]]>&lt;script&gt;alert(1)&lt;/script&gt;",
    "<noscript><b>n</b></noscript><textarea><b>t</b></textarea><title>&amp;x</title>",
    "<svg><style>s</style><title>svg title</title><text>t</text></svg><math><mi>x</mi></math>",
    "<xmp><b>xmp</b></xmp><iframe><b>if</b></iframe><noembed>ne</noembed><plaintext><b>p",
    "&amp;lt;b&amp;gt;double&amp;lt;/b&amp;gt; &nbsp;&#0;&#x80;&notit; &amp",
    "<a href='javascript:x'>js</a><img alt='alt text'><br>line<wbr>break",
    "<p>angled <AI> word</p>",
    "<select><option>o1<option>o2</select><template><b>tpl</b></template>",
    "<b><p>mis</b>nested</p>",
]


@pytest.mark.parametrize("fragment", TRICKY)
def test_content_text_from_the_sanitised_html_equals_its_own_parse(fragment: str) -> None:
    for base in (BASE, None):
        assert plain_text(fragment, cleaned=clean_html(fragment, base)) == plain_text(fragment)


PIECES = st.sampled_from(
    ["<p>", "</p>", "<b>", "</b>", "<a href='/x?a>b'>", "</a>", "<script>", "</script>", "<style>",
     "<pre>", "\n", "<table>", "<td>", "<tr>", "<svg>", "<math>", "<title>", "<textarea>", "<!--",
     "-->", "<![CDATA[", "]]>", "&amp;", "&lt;", "&gt;", "&lt;b&gt;", "&#60;", "&nbsp;", "&", "<",
     ">", '"', "'", " ", "word", "é", "<AI>", "<br/>", "<img src=x alt='a\"b'>", "<noscript>",
     "<xmp>", "<plaintext>", "<select>", "<option>", "<template>", "\x00", "\r"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=24).map("".join))
def test_content_text_shortcut_fuzzed(fragment: str) -> None:
    assert plain_text(fragment, cleaned=clean_html(fragment, BASE)) == plain_text(fragment)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=24).map("".join), st.lists(PIECES, max_size=6).map("".join))
def test_a_summary_is_compared_with_the_content_text_uncollapsed_as_collapsed(
    content: str, start: str
) -> None:
    """A new entry compares its summary with its content's text before collapsing that text's
    whitespace (only a content standing in for the summary is collapsed): the same characters between
    the spaces, so the same answer. ``start`` is a summary that may or may not open the content."""
    cleaned = clean_html(content, BASE)
    spaced = spaced_text(content, cleaned=cleaned)
    assert " ".join(spaced.split()) == plain_text(content, cleaned=cleaned)
    for summary in (plain_text(start), plain_text(start + content), plain_text(content)):
        assert _same_start(summary, spaced) == _same_start(summary, plain_text(content, cleaned=cleaned))


LINK_PIECES = st.sampled_from(
    ["/", "//", "a", "B", "0", ".", "..", "./", "../", "/.", "/..", ";", ";p", "?", "?q=1", "#", "#f",
     "%2e", "%41", ":", "@", "~", "-", "_", "!", "$", "&", "'", "(", "*", "+", ",", "=", " ", "\t",
     "é", "\\", "[", "]", "{", "^", "|"]
)  # fmt: skip
BASES = st.sampled_from(
    ["http://example.org/dir/feed.xml", "HTTPS://Example.ORG:8443/a/b?x=1#y", "http://u:p@h.example/",
     "http://[::1]:8080/feed", "https://example.org", "http://example.org/a;p?q", "ftp://example.org/",
     "http://example.org:99999/x", "not a url"]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(LINK_PIECES, max_size=10).map("".join), BASES)
def test_links_from_the_root_inside_content_join_as_urljoin_does(link: str, base: str) -> None:
    """The sanitiser's resolver joins a plain link from the site's root without urljoin; every link and
    base it is handed gives what urljoin gives (the long way: a blank link or a bad base gives None)."""
    fragment = f'<a href="{html.escape(link)}">x</a><img src="{html.escape(link)}">'
    resolve = long_resolver(base if is_http_url(base) else None)
    once = nh3.clean(fragment, link_rel=LINK_REL, url_schemes=set(URL_SCHEMES), url_relative=resolve)
    assert clean_html(fragment, base) == once


def long_resolver(base: str | None) -> Callable[[str], str | None]:
    """The sanitiser's resolver before its shortcut."""

    def resolve(url: str) -> str | None:
        if base is None or not url.strip():
            return None
        try:
            return urljoin(base, url.strip())
        except ValueError:
            return None

    return resolve
