"""Turning fetched bytes into text without ever crashing on them.

Servers get the encoding wrong often: a cp1252 page labelled UTF-8, a UTF-16 file labelled nothing, a
``<meta charset>`` that contradicts the header. :func:`decode` tries the evidence from strongest to weakest
and takes the first candidate that decodes the whole body strictly:

1. a byte-order mark — unambiguous, and it must beat the header: UTF-16 text made of ASCII characters is
   also *valid* UTF-8 (every other byte NUL), so a wrong ``charset=utf-8`` label would "succeed" on it
   (the WHATWG encoding standard gives the BOM precedence for the same reason);
2. the ``charset`` parameter of the Content-Type header;
3. ``<meta charset>`` / ``http-equiv`` in the first bytes of HTML, or the XML declaration's ``encoding``;
4. UTF-8, if the whole body is valid UTF-8: text in another encoding almost never is once it holds a
   non-ASCII byte, and pure ASCII reads the same in every candidate (browsers sniff UTF-8 the same way);
5. statistical detection (charset-normalizer), for the rest: several times the cost of the strict UTF-8
   attempt, and a quarter of the extraction-benchmark pages declare no charset (docs/benchmarks.md);
6. UTF-8 with replacement characters — always succeeds, so the caller always gets text.

Labels are mapped the way browsers map them (``iso-8859-1`` and ``ascii`` mean windows-1252), because
that is what the page author saw when they checked their page.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass

# How far into the body to look for <meta charset> or an XML declaration. The HTML standard's prescan
# reads 1024 bytes; real pages with long <head> preambles (analytics snippets) put it later, and 4 KiB
# catches those at no measurable cost.
DECLARATION_SCAN_BYTES = 4096
# charset-normalizer's cost grows with input; the first 64 KiB is what it would sample anyway.
DETECTION_SAMPLE_BYTES = 65536

# Tie-break order for detection: the encodings the WHATWG standard falls back to for Western pages.
_TIE_PREFERENCE = ("utf_8", "ascii", "cp1252", "iso8859_15")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# WHATWG Encoding Standard label aliases that differ from Python's codec of the same name.
_WHATWG_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    """The text and the Python codec name that produced it (``source`` says which evidence won)."""

    text: str
    encoding: str
    source: str


def normalize_label(label: str | None) -> str | None:
    """The Python codec for an encoding label as browsers read it, or ``None`` if unknown."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    cleaned = _WHATWG_ALIASES.get(cleaned, cleaned)
    try:
        return codecs.lookup(cleaned).name
    except LookupError:
        return None


def bom_encoding(body: bytes) -> str | None:
    """The encoding a byte-order mark announces, or ``None``."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    return None


def header_charset(content_type: str | None) -> str | None:
    """The raw ``charset`` label of a Content-Type header value."""
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def declared_in_body(body: bytes) -> str | None:
    """The label from an XML declaration or ``<meta charset>`` near the start of ``body``."""
    head = body[:DECLARATION_SCAN_BYTES]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if match is None:
        return None
    label = match.group(1).decode("ascii", "replace")
    # A UTF-16 label inside the body is self-contradictory when the body parsed as ASCII (HTML standard).
    return "utf-8" if label.lower().startswith("utf-16") else label


def _strict(body: bytes, encoding: str | None) -> str | None:
    if encoding is None:
        return None
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detected(body: bytes) -> str | None:
    """charset-normalizer's pick; among candidates it scores identically, the more common one wins.

    On short Western text cp1250, cp1252 and cp1257 often tie exactly (same chaos and coherence), and
    the detector's own order then picks cp1250, turning "naïve" into "naďve". Imported here: most
    bodies declare their charset, and a run whose feeds all answer 304 decodes none (its import is
    a good part of a cold CLI's start, docs/benchmarks.md).
    """
    import charset_normalizer

    results = charset_normalizer.from_bytes(body[:DETECTION_SAMPLE_BYTES])
    best = results.best()
    if best is None:
        return None
    tied = {m.encoding for m in results if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    preferred = next((enc for enc in _TIE_PREFERENCE if enc in tied), best.encoding)
    return normalize_label(preferred)


def _candidates(body: bytes, content_type: str | None) -> Iterator[tuple[str, str | None]]:
    """Encoding guesses, strongest evidence first; lazy, so detection only runs when needed."""
    yield "bom", bom_encoding(body)
    yield "header", normalize_label(header_charset(content_type))
    yield "declaration", normalize_label(declared_in_body(body))
    yield "valid-utf-8", "utf-8"
    yield "detected", _detected(body)


def decode(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode ``body`` using the evidence order in the module docstring; never raises."""
    for source, encoding in _candidates(body, content_type):
        text = _strict(body, encoding)
        if text is not None and encoding is not None:
            return Decoded(text, encoding, source)
    return Decoded(body.decode("utf-8", errors="replace"), "utf-8", "fallback")
