"""Is this body what the caller asked for? Content sniffing by magic numbers, not by labels.

Content-Type headers lie in both directions: PDFs and images served as ``text/html``, feeds served as
``text/html`` or ``application/octet-stream``. Handing a PDF to the HTML extractor wastes seconds and
yields garbage records, so :func:`check_expected` looks at the first bytes:

* ``"html"`` — refuse anything with a known binary signature, or NUL bytes in the first KiB (text never
  has them, except UTF-16/32, which is recognised by its BOM or declared charset);
* ``"feed"`` — XML or JSON by type or by sniffing (``<`` or ``{`` after a BOM and whitespace); binary and
  plain HTML pages are refused;
* ``"image"`` — an ``image/*`` (or unlabelled / octet-stream) response whose bytes start with a raster
  image signature. SVG is refused: it is a script-capable document, not a picture, and the image cache
  serves what it stores;
* ``"any"`` — no check.

:func:`html_start` finds an HTML document behind stray output a server printed before it (PHP
warnings), so that the extractor reads the page rather than refusing it.
"""

from __future__ import annotations

import re
from typing import Literal

from newsdesk.errors import ContentTypeError
from newsdesk.fetch.charset import bom_encoding

Expect = Literal["html", "feed", "image", "any"]

# How far into a body to look for NUL bytes or leading markup: one KiB covers every signature and the
# HTML standard's own sniffing window (512 bytes) with room to spare.
SNIFF_BYTES = 1024

IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
# Signatures of non-text formats a web server may mislabel as text.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x7fELF", "elf"),  # Windows executables ("MZ") are caught by their NUL bytes
    (b"\x00asm", "wasm"),
    (b"OggS", "ogg"),
    (b"ID3", "mp3"),
    (b"fLaC", "flac"),
    (b"\x1aE\xdf\xa3", "webm/mkv"),
    (b"wOFF", "woff"),
    (b"wOF2", "woff2"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ms-office"),
)
_ISO_BMFF_IMAGES = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")
_HTML_STARTS = (b"<!doctype html", b"<html")
_NON_IMAGE_OK_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
SVG_REFUSED = "SVG refused"
"""Starts the reason an SVG is refused as an image, here and in the image cache: what is not published
(:func:`newsdesk.sources.sanitize.publishable_images`) is recognised by it in the image's error."""
_DOCUMENT_STARTS = (*_HTML_STARTS, b"<!--", b"<?xml", b"<head")
_HTML_START = re.compile(rb"<!doctype\s+html|<html\b", re.IGNORECASE)
_PAGE_PARTS = re.compile(rb"<(?:head|title|meta|link|body)\b", re.IGNORECASE)

STRAY_OUTPUT_BYTES = 65_536
"""How far past stray output a document start is looked for. PHP prints each warning or notice as one
~150-300-byte block; 64 KiB leaves room for a few hundred of them (a warning inside a loop)."""


def image_format(body: bytes) -> str | None:
    """The raster format named by ``body``'s signature (png, jpeg, gif, webp, avif, …), or ``None``."""
    for signature, name in IMAGE_SIGNATURES:
        if body.startswith(signature):
            return name
    if body[:2] == b"BM" and body[6:10] == b"\x00\x00\x00\x00":  # "BM", size, 4 reserved zero bytes
        return "bmp"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp"
    if body[4:8] == b"ftyp" and body[8:12] in _ISO_BMFF_IMAGES:
        return "avif" if body[8:12].startswith(b"avi") else "heif"
    return None


def binary_format(body: bytes) -> str | None:
    """The name of a binary (non-text) format ``body`` starts with, including images, or ``None``."""
    found = image_format(body)
    if found is not None:
        return found
    for signature, name in BINARY_SIGNATURES:
        if body.startswith(signature):
            return name
    if body[4:8] == b"ftyp":
        return "mp4/iso-bmff"
    return None


def _is_wide_text(body: bytes, charset: str | None) -> bool:
    """UTF-16/32 text legitimately contains NUL bytes."""
    label = (bom_encoding(body) or charset or "").lower().replace("_", "-")
    return label.startswith(("utf-16", "utf-32"))


def looks_binary(body: bytes, charset: str | None = None) -> str | None:
    """Why ``body`` is not text (a format name or ``"NUL bytes"``), or ``None`` if it may be text."""
    found = binary_format(body)
    if found is not None:
        return found
    if b"\x00" in body[:SNIFF_BYTES] and not _is_wide_text(body, charset):
        return "NUL bytes"
    return None


def _markup_start(body: bytes) -> bytes:
    """The first non-space bytes after any BOM, lower-cased, for sniffing markup vs JSON."""
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if body.startswith(bom):
            body = body[len(bom) :]
            break
    return body[:SNIFF_BYTES].lstrip().lower()


def html_start(body: bytes) -> int:
    """Where the HTML document in ``body`` starts: 0, or the offset of a ``<!doctype html>``/``<html>``
    that follows stray output (PHP warnings, ``<br />\\n<b>Warning</b>: … on line <b>12</b>``, a debug
    ``var_dump``). Only such output is skipped: when what comes first already belongs to a page (a head
    element, a title, a meta tag, a comment or doctype) the answer is 0, and so it is when no document
    start is found within :data:`STRAY_OUTPUT_BYTES`."""
    start = _markup_start(body)
    if start.startswith(_DOCUMENT_STARTS):
        return 0
    found = _HTML_START.search(body, 0, STRAY_OUTPUT_BYTES)
    if found is None or _PAGE_PARTS.search(body, 0, found.start()):
        return 0
    return found.start()


def _check_html(body: bytes, content_type: str, charset: str | None) -> str | None:
    if content_type.startswith(("image/", "audio/", "video/", "font/")):
        return f"served as {content_type}"
    found = looks_binary(body, charset)
    return f"binary body ({found})" if found else None


def _check_feed(body: bytes, content_type: str, charset: str | None) -> str | None:
    found = looks_binary(body, charset)
    if found is not None:
        return f"binary body ({found})"
    start = _markup_start(body).replace(b"\x00", b"")
    if start.startswith(_HTML_STARTS):
        return "an HTML page, not a feed"
    if start[:1] not in (b"<", b"{"):
        return f"neither XML nor JSON (served as {content_type or 'no type'})"
    return None


def _check_image(body: bytes, content_type: str) -> str | None:
    if not content_type.startswith("image/") and content_type not in _NON_IMAGE_OK_TYPES:
        return f"served as {content_type}, not an image type"
    if image_format(body) is None:
        is_svg = content_type.startswith("image/svg") or b"<svg" in _markup_start(body)
        return (
            f"{SVG_REFUSED} (served as {content_type or 'no type'})"
            if is_svg
            else "no raster image signature"
        )
    return None


def check_expected(
    body: bytes, content_type: str, expect: Expect, *, url: str, charset: str | None = None
) -> None:
    """Raise :class:`ContentTypeError` when ``body`` is not what ``expect`` asks for.

    ``content_type`` is the bare lower-case media type ("" if absent); ``charset`` the declared label.
    """
    if expect == "html":
        problem = _check_html(body, content_type, charset)
    elif expect == "feed":
        problem = _check_feed(body, content_type, charset)
    elif expect == "image":
        problem = _check_image(body, content_type)
    else:
        problem = None
    if problem is not None:
        raise ContentTypeError(f"expected {expect}: {problem}", url=url, kind="content-type")
