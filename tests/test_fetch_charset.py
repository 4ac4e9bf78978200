"""Decoding fetched bytes (charset.py) and checking they are what was expected (sniff.py)."""

from __future__ import annotations

import codecs

import pytest

from newsdesk.errors import ContentTypeError
from newsdesk.fetch.charset import declared_in_body, decode, normalize_label
from newsdesk.fetch.sniff import binary_format, check_expected, image_format

TEXT = "Le café — «naïve» résumé, 5 €. Überraschung für die Bürger."
PAGE = f"<html><head><title>Café</title></head><body><p>{TEXT}</p></body></html>"


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "source"),
    [
        (PAGE.encode(), "text/html; charset=UTF-8", "utf-8", "header"),
        (PAGE.encode("cp1252"), "text/html; charset=utf-8", "cp1252", "detected"),  # mislabelled
        (PAGE.encode("cp1252"), "text/html; charset=iso-8859-1", "cp1252", "header"),  # browsers' reading
        (codecs.BOM_UTF8 + PAGE.encode(), "text/html; charset=cp1252", "utf-8-sig", "bom"),
        (PAGE.encode("utf-16"), "text/html; charset=utf-8", "utf-16", "bom"),  # BOM beats the label
        (codecs.BOM_UTF16_BE + PAGE.encode("utf-16-be"), None, "utf-16", "bom"),
        (('<meta charset="windows-1252">' + PAGE).encode("cp1252"), "text/html", "cp1252", "declaration"),
        (
            ('<?xml version="1.0" encoding="windows-1252"?><rss>' + TEXT).encode("cp1252"),
            None,
            "cp1252",
            "declaration",
        ),
        (PAGE.encode("cp1252"), "text/html; charset=no-such-charset", "cp1252", "detected"),
        (PAGE.encode(), "text/html", "utf-8", "valid-utf-8"),  # undeclared UTF-8: no statistics needed
        (PAGE.encode(), None, "utf-8", "valid-utf-8"),
        (PAGE.encode("cp1252"), "text/html", "cp1252", "detected"),  # undeclared and not UTF-8
    ],
)
def test_decode_picks_the_right_evidence(
    body: bytes, content_type: str | None, encoding: str, source: str
) -> None:
    decoded = decode(body, content_type)
    assert (decoded.encoding, decoded.source) == (encoding, source)
    assert TEXT in decoded.text


def test_http_equiv_meta_latin9() -> None:
    page = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-15"><p>naïve 5 €</p>'
    decoded = decode(page.encode("iso8859-15"))
    assert (decoded.text, decoded.encoding, decoded.source) == (page, "iso8859-15", "declaration")


def test_shift_jis_by_meta() -> None:
    text = "<html><head><meta charset=shift_jis></head><body>日本語のニュース記事です。</body></html>"
    decoded = decode(text.encode("shift_jis"), "text/html")
    assert decoded.text == text and decoded.encoding == "shift_jis"


@pytest.mark.parametrize("body", [bytes(range(256)) * 4, b"\xff\xfe\x00\x00abc", b"\x80\x81\xfe", b""])
def test_decode_never_raises(body: bytes) -> None:
    decoded = decode(body, "text/html; charset=utf-8")
    assert isinstance(decoded.text, str)


def test_meta_utf16_label_means_utf8() -> None:
    assert declared_in_body(b'<meta charset="utf-16"><p>x</p>') == "utf-8"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("UTF-8", "utf-8"),
        ("latin1", "cp1252"),
        ("US-ASCII", "cp1252"),
        ("gb2312", "gb18030"),
        ("bogus", None),
    ],
)
def test_normalize_label(label: str, codec: str | None) -> None:
    assert normalize_label(label) == codec


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
AVIF = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"
BMP = b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00"


@pytest.mark.parametrize(
    ("body", "name"),
    [(PNG, "png"), (JPEG, "jpeg"), (GIF, "gif"), (WEBP, "webp"), (AVIF, "avif"), (BMP, "bmp")],
)
def test_image_signatures(body: bytes, name: str) -> None:
    assert image_format(body) == name
    check_expected(body, "image/whatever", "image", url="u")
    check_expected(body, "application/octet-stream", "image", url="u")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"),
        (b"<html>oops</html>", "image/png"),
        (PNG, "text/html"),  # a real image, but not served as one
        (b"BMW news today", "image/bmp"),
    ],
)
def test_image_expectation_refuses(body: bytes, content_type: str) -> None:
    with pytest.raises(ContentTypeError):
        check_expected(body, content_type, "image", url="u")


@pytest.mark.parametrize(
    "body",
    [
        PNG,
        JPEG,
        b"%PDF-1.4\n",
        b"PK\x03\x04zip",
        b"\x1f\x8b\x08gz",
        b"\x7fELF\x02",
        b"MZ\x90\x00\x03\x00\x00\x00",
    ],
)
def test_binary_bodies_are_not_html(body: bytes) -> None:
    with pytest.raises(ContentTypeError):
        check_expected(body, "text/html", "html", url="u")


@pytest.mark.parametrize(
    ("body", "charset"),
    [
        (PAGE.encode(), None),
        (PAGE.encode("utf-16"), None),  # NULs, but announced by its BOM
        (PAGE.encode("utf-16-le"), "UTF-16LE"),  # NULs, but declared
        (b"BMW news: <html></html>", None),
    ],
)
def test_text_bodies_are_html(body: bytes, charset: str | None) -> None:
    check_expected(body, "text/html", "html", url="u", charset=charset)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'<?xml version="1.0"?><rss/>', "text/html"),
        (b'\xef\xbb\xbf  <feed xmlns="http://www.w3.org/2005/Atom"/>', "application/octet-stream"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "application/feed+json"),
        ('<?xml version="1.0" encoding="utf-16"?><rss/>'.encode("utf-16"), "application/xml"),
    ],
)
def test_feed_expectation_accepts(body: bytes, content_type: str) -> None:
    check_expected(body, content_type, "feed", url="u")


@pytest.mark.parametrize(
    "body", [b"<!DOCTYPE html><html><body>page</body></html>", b"just some text", PNG, b"%PDF-1.5"]
)
def test_feed_expectation_refuses(body: bytes) -> None:
    with pytest.raises(ContentTypeError):
        check_expected(body, "application/rss+xml", "feed", url="u")


def test_any_expectation_checks_nothing() -> None:
    check_expected(PNG, "text/html", "any", url="u")
    assert binary_format(b"\x00\x00\x00\x18ftypmp42") == "mp4/iso-bmff"
