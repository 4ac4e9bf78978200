"""URL canonicalisation, registered domains and the choice of canonical URL."""

from __future__ import annotations

import pytest

from newsdesk.errors import FetchError, ValidationError
from newsdesk.fetch.urls import (
    TRACKING_PARAMS,
    canonicalize,
    pick_canonical,
    registered_domain,
    remove_dot_segments,
)
from newsdesk.model import Source, http_url_problem

CANONICAL_CASES = [
    # case of scheme and host, default port, fragment, tracking, order, dot segments
    ("HTTP://WWW.Example.COM:80/a/./b/../c?utm_source=x&b=2&a=1#top", "http://www.example.com/a/c?a=1&b=2"),
    ("https://example.com:443", "https://example.com/"),
    ("https://example.com:8443/x", "https://example.com:8443/x"),
    ("http://example.com:443/", "http://example.com:443/"),  # 443 is not http's default
    ("https://bücher.de/straße", "https://xn--bcher-kva.de/stra%C3%9Fe"),
    ("https://example.com./", "https://example.com/"),
    ("http://[2001:DB8:0::0001]:80/", "http://[2001:db8::1]/"),
    # percent-encoding: unreserved decoded, others upper-cased, raw non-ASCII and spaces encoded
    ("http://e.com/%7euser/%2f%e2%82%ac", "http://e.com/~user/%2F%E2%82%AC"),
    ("http://e.com/a b/café", "http://e.com/a%20b/caf%C3%A9"),
    ("http://e.com/100%", "http://e.com/100%25"),
    ("http://e.com/?q=a+b&q=%41", "http://e.com/?q=a+b&q=A"),
    # query: stable sort keeps repeated keys in order; empty pairs dropped; bare keys kept
    ("http://e.com/?b=2&a=z&a=y&&c", "http://e.com/?a=z&a=y&b=2&c"),
    ("http://e.com/?fbclid=1&gclid=2&UTM_Campaign=3&mc_eid=4&_ga=5&spm=6", "http://e.com/"),
    ("http://e.com/p?id=7&ref_src=twsrc&igshid=x&yclid=1&msclkid=2&dclid=3&mc_cid=4", "http://e.com/p?id=7"),
    ("http://e.com/p?ref=home", "http://e.com/p?ref=home"),  # not a tracking-only name
    # paths
    ("http://e.com", "http://e.com/"),
    ("http://e.com/../../a", "http://e.com/a"),
    ("http://e.com/a/b/..", "http://e.com/a/"),
    ("http://e.com/a/.", "http://e.com/a/"),
    ("http://e.com//double//slash", "http://e.com//double//slash"),
    ("  http://e.com/trim  ", "http://e.com/trim"),
    ("http://User:P%40ss@E.com/", "http://User:P%40ss@e.com/"),
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL_CASES)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


IDEMPOTENCE_INPUTS = [url for url, _ in CANONICAL_CASES] + [
    "http://e.com/%zz%2",
    "http://e.com/%25%32%35",
    "http://e.com/a/%2E%2E/b",
    "http://e.com/?a=%3D%26&b==",
    "http://e.com/?%75tm_source=x",
    "HTTPS://例え.テスト/パス?キー=値#frag",
    "http://e.com/;params;x=1?y",
    "http://[::FFFF:1.2.3.4]:8080/",
    "http://e.com/a/./../../b/./c/..",
    "http://e.com/?a&a=&a=1",
]


@pytest.mark.parametrize("url", IDEMPOTENCE_INPUTS)
def test_canonicalize_is_idempotent(url: str) -> None:
    once = canonicalize(url)
    assert canonicalize(once) == once


def test_encoded_tracking_key_is_still_removed() -> None:
    assert canonicalize("http://e.com/?%75tm_source=x&id=1") == "http://e.com/?id=1"


@pytest.mark.parametrize(
    "url",
    [
        "/relative",
        "example.com/x",
        "http://",
        "http://e.com:99999/",
        "http://e.com:x/",
        "http://exa mple.com/f",
    ],
)
def test_canonicalize_rejects_unusable_urls(url: str) -> None:
    with pytest.raises(FetchError) as caught:
        canonicalize(url)
    assert caught.value.kind == "invalid-url"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"), ("/..", "/"), ("/a/..", "/"), ("", "")],
)
def test_remove_dot_segments_rfc3986_examples(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected


def test_tracking_list_covers_the_named_parameters() -> None:
    named = {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "ref_src",
        "spm",
    }
    assert named <= TRACKING_PARAMS


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("www.ejinsight.com", "ejinsight.com"),
        ("https://www.ejinsight.com/20240101/story/", "ejinsight.com"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("http://bbc.co.uk:8080/x", "bbc.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("a.b.c.example.com.au", "example.com.au"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("127.0.0.1", "127.0.0.1"),
        ("http://127.0.0.1:8080/feed", "127.0.0.1"),
        ("http://[::1]:8080/", "::1"),
        ("news.example", "news.example"),
        ("http://www.ejnews.example/a", "ejnews.example"),
        ("localhost", "localhost"),
    ],
)
def test_registered_domain(given: str, expected: str) -> None:
    assert registered_domain(given) == expected


PAGE = "https://www.ejinsight.com/eji/article/id/1?utm_source=rss"


@pytest.mark.parametrize(
    ("rel", "og", "expected"),
    [
        ("https://ejinsight.com/eji/article/id/1", None, "https://ejinsight.com/eji/article/id/1"),
        (None, "https://www.ejinsight.com/og/1#x", "https://www.ejinsight.com/og/1"),
        ("https://evil.com/eji/article/id/1", "https://m.ejinsight.com/1", "https://m.ejinsight.com/1"),
        ("https://evil.com/x", None, "https://www.ejinsight.com/eji/article/id/1"),
        ("ftp://www.ejinsight.com/1", None, "https://www.ejinsight.com/eji/article/id/1"),
        ("/eji/article/id/1/", None, "https://www.ejinsight.com/eji/article/id/1/"),  # relative: resolved
        ("https://www.ejinsight.com/", None, "https://www.ejinsight.com/eji/article/id/1"),  # home page claim
        ("", "   ", "https://www.ejinsight.com/eji/article/id/1"),
        ("http://[bad", None, "https://www.ejinsight.com/eji/article/id/1"),
    ],
)
def test_pick_canonical(rel: str | None, og: str | None, expected: str) -> None:
    assert pick_canonical(PAGE, rel, og) == expected


def test_pick_canonical_home_page_may_name_itself() -> None:
    assert (
        pick_canonical("https://www.bbc.co.uk/?x=1", "https://www.bbc.co.uk/", None)
        == "https://www.bbc.co.uk/"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://exa mple.com/f", "the host name 'exa mple.com' contains ' '"),
        ("http://exa\tmple.com/f", "control characters '\\t'"),
        ("http://e<x>.com/", "contains '<', '>'"),
        ("http://example.com:99999/f", "port out of range 0-65535"),
        ("https://example.com:8o/", "port could not be cast to integer"),
        ("ftp://example.com/f", "not an http(s) URL"),
        ("https:///path-only", "not an http(s) URL"),
    ],
)
def test_unusable_urls_have_a_reason_and_no_source_takes_them(url: str, reason: str) -> None:
    """A URL no server answers to is refused where a source is made, so the CLI, the API, OPML import
    and sources.yaml all refuse it, with the URL and the reason in the message."""
    problem = http_url_problem(url)
    assert problem is not None and reason in problem
    with pytest.raises(ValidationError) as caught:
        Source(url=url)
    assert repr(url) in str(caught.value) and reason in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://bücher.de/straße", "http://[2001:db8::1]:8080/", "http://a_b.example/", "https://e.com:443/"],
)
def test_usable_urls_pass(url: str) -> None:
    assert http_url_problem(url) is None and Source(url=url).url == url
