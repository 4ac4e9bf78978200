"""The extract stage: one fetched HTML page in, one :class:`Extracted` out.

How a page is read::

    parse (lxml, from UTF-8 bytes; stray output before <html> skipped; forbidden characters, a
           self-closed <html/> and a JSON-LD string holding </script> repaired)
      → bound the work (element cap; fast mode above a size)
      → metadata (JSON-LD, OpenGraph, meta tags; htmldate as the date fallback)   metadata.py
      → drop what no reader sees (scripts but JSON-LD, styles, SVG, link and meta tags)
      → main text (trafilatura, precision mode with a balanced retry)             text.py
      → JSON-LD articleBody when the extractor found (almost) nothing
      → language (declared, else detected on the text), excerpt, counts

Contract: :func:`extract` is pure (no I/O, no global state; only htmldate's date fallback looks at today's
date, to reject dates in the future) and raises only
:class:`~newsdesk.errors.ExtractionError`, for input that is not a page at all (binary data, no markup,
nothing to show). A page with a title but no text is a valid, title-only article.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import lxml.html
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import HTML_PARSER

from newsdesk.errors import ExtractionError, FetchError
from newsdesk.extract import langid
from newsdesk.extract.jsonld import is_jsonld, repair_script_ends
from newsdesk.extract.metadata import PageMetadata, read_metadata
from newsdesk.extract.text import RETRY_BELOW_CHARS, content_hash, cut_excerpt, main_text, paragraphs
from newsdesk.fetch.sniff import html_start
from newsdesk.fetch.urls import pick_canonical, public_suffixes

logger = logging.getLogger(__name__)

_NON_WORD = re.compile(r"\W+")

FAST_ABOVE_ELEMENTS = 5_000
"""Pages with more elements than this are extracted in fast mode. Every benchmark page is far below it
and extracts quickly in the normal mode; generated pages of hundreds of thousands of elements take
seconds even in fast mode (``bench/extract.py --hostile``; figures in docs/benchmarks.md, "Figures
behind the code")."""

MAX_ELEMENTS = 15_000
"""Elements kept at most (ten times the largest benchmark page); the rest of the document is dropped
before extraction. trafilatura's cost grows with the element count, so this bounds the worst page's
extraction time (docs/benchmarks.md, "Figures behind the code")."""

_INVISIBLE = ("style", "svg", "link", "meta")
_NOT_XML_CHARS = bytes(c for c in range(32) if c not in b"\t\n\r")  # C0 controls XML 1.0 forbids
_NONCHARACTERS = ("\ufffe".encode(), "\uffff".encode())
_FORBIDDEN = (*(bytes([c]) for c in _NOT_XML_CHARS), *_NONCHARACTERS)
_SELF_CLOSED_ROOT = re.compile(rb"(<html\b[^>]*?)\s*/>", re.IGNORECASE)
SNIFF_CHARS = 50  # a document that names "html" this early is taken as HTML whatever it parses to
SNIFF_BYTES = 4096  # where a self-closed <html/> root is looked for

MIN_LANGID_CHARS = 40
"""Shorter texts are not given to the language detector: py3langid guesses poorly on a few words."""
LANGID_SAMPLE_CHARS = 5_000
"""The detector reads at most this much text; more does not change its answer on news pages."""


@dataclass(frozen=True, slots=True)
class Extracted:
    """Everything the page says about its article; see ``DESIGN.md`` for how each reaches the record."""

    title: str | None
    text: str
    excerpt: str
    description: str | None
    published_at: datetime | None
    modified_at: datetime | None
    author: str | None
    provider_name: str | None
    site_domain: str
    type: str
    category_hint: str | None
    image_urls: tuple[str, ...]
    language: str | None
    canonical_url: str | None
    og_url: str | None
    keywords: tuple[str, ...]
    word_count: int
    paragraph_count: int
    web_url: str | None = None
    text_hash: str | None = None


def extract(html: str | bytes, url: str, *, fast: bool = False, detect_language: bool = True) -> Extracted:
    """Extract the article of ``html`` — text, or UTF-8 bytes — fetched from ``url``.

    ``fast`` trades a little accuracy for speed (trafilatura's fast mode, no htmldate search); it is
    switched on by itself for pages above :data:`FAST_ABOVE_ELEMENTS`. Without ``detect_language`` the
    language is only the declared one (else None) and :func:`with_language` finishes it elsewhere: an
    extraction worker then never loads py3langid's model (≈ 70 MB), which the run's parent holds anyway.
    """
    tree = _parse(html, url)
    size = _bound(tree)
    fast = fast or size > FAST_ABOVE_ELEMENTS
    meta = read_metadata(tree, url, domain=site_domain(url), date_fallback=not fast)
    _drop_invisible(tree)
    text = _best_text(_without_headline(main_text(tree, url, fast=fast), meta.title), meta.article_body)
    if not (text or meta.title or meta.description):
        raise ExtractionError("page has no title, description or text", url=url)
    return _assemble(meta, text, url, detect_language)


def with_language(extracted: Extracted) -> Extracted:
    """``extracted`` with the language :func:`extract` would have given it: the declared one, else the
    one detected on the same sample (so the same language, whichever process detects it)."""
    if extracted.language:
        return extracted
    sample = _language_sample(extracted.title, extracted.description, extracted.text)
    return replace(extracted, language=_detect_language(sample))


def site_domain(url: str) -> str:
    """Registered domain of ``url`` (``www.bbc.co.uk`` → ``bbc.co.uk``), public-suffix aware; the host
    itself for IP addresses and single-label hosts; ``""`` for a URL without a host."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host:
        return ""
    return public_suffixes()(host).top_domain_under_public_suffix or host


def _parse(html: str | bytes, url: str) -> HtmlElement:
    """The page's tree, parsed from UTF-8 bytes: libxml2 reads them faster than a str, and, told the
    encoding, ignores a stale charset declaration in the page."""
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    if b"\x00" in data[:1024]:
        raise ExtractionError("not an HTML document (binary data)", url=url)
    data = data[html_start(data) :]  # PHP warnings printed before <html> are no part of the page
    try:
        tree = lxml.html.document_fromstring(_repaired(data), parser=HTML_PARSER)
    except Exception as e:  # lxml raises several unrelated types on hostile bytes
        raise ExtractionError(f"HTML could not be parsed: {e!r}", url=url) from e
    if len(tree) < 2 and b"html" not in data[:SNIFF_CHARS].lower():
        raise ExtractionError("not an HTML document", url=url)  # text or data that lxml wrapped in a body
    return tree


def _repaired(data: bytes) -> bytes:
    """``data`` without the characters XML forbids, with a self-closed ``<html/>`` reopened, and with a
    ``</script`` quoted inside a JSON-LD string escaped (:func:`~newsdesk.extract.jsonld.repair_script_ends`).

    lxml keeps forbidden characters in text, and trafilatura fails on them when it copies text into a new
    element; a self-closed root makes libxml2 drop the whole document. trafilatura's own loader makes the
    same repairs with a regex over the decoded text, which cost about as much as the parse itself
    (callgrind; docs/benchmarks.md); here a byte search per forbidden character finds that most pages
    need no repair at all."""
    if any(forbidden in data for forbidden in _FORBIDDEN):  # one memchr each: rarely true, never costly
        data = data.translate(None, _NOT_XML_CHARS)
        for noncharacter in _NONCHARACTERS:
            data = data.replace(noncharacter, b"")
    if found := _SELF_CLOSED_ROOT.search(data, 0, SNIFF_BYTES):
        data = data[: found.start()] + found[1] + b">" + data[found.end() :]
    return repair_script_ends(data)


def _bound(tree: HtmlElement) -> int:
    """Keep the first :data:`MAX_ELEMENTS` nodes (document order) and drop the rest; return the page's
    element count.

    Everything after the last kept element is its descendants plus the following siblings of it and of
    each of its ancestors, so dropping those subtrees costs time in the kept part only.
    """
    count = int(tree.xpath("count(//*)"))  # counted inside libxml2: no Python proxy per element
    if count <= MAX_ELEMENTS:
        return count
    last = next(itertools.islice(tree.iter(), MAX_ELEMENTS - 1, None))
    for child in list(last):
        last.remove(child)
    node: HtmlElement | None = last
    while node is not None and (parent := node.getparent()) is not None:
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node = parent
    logger.info("page truncated", extra={"kept_elements": MAX_ELEMENTS})
    return count


def _drop_invisible(tree: HtmlElement) -> None:
    """Remove the elements no reader sees, once the metadata has been read from them. The text extractor
    deletes them too, but only after copying the whole tree four or five times and running its XPath
    rules over them: 17% of the benchmark pages' elements (inline SVG icons mostly). JSON-LD scripts stay
    (trafilatura reads ``articleBody`` from them when a page's markup has little text)."""
    etree.strip_elements(tree, *_INVISIBLE, with_tail=False)
    for script in [s for s in tree.iter("script") if not is_jsonld(s)]:
        script.drop_tree()  # keeps the script's tail text


def _without_headline(text: str, title: str | None) -> str:
    """``text`` without a first paragraph that repeats the headline: the title is its own field, and the
    benchmark's bodies leave it out (dropping it lifts F1 0.968 → 0.970; it leads 26 of 181 texts)."""
    first, _, rest = text.partition("\n\n")
    if title and _NON_WORD.sub("", first).lower() == _NON_WORD.sub("", title).lower():
        return rest
    return text


def _best_text(extracted: str, article_body: str) -> str:
    """The extractor's text, or JSON-LD articleBody when the extractor found little and the publisher's
    own body is longer (pages whose text is rendered by JavaScript). Only then: on the benchmark, taking
    articleBody whenever it is longer than our text lowers F1 0.968 → 0.964 (16 pages carry one; several
    are teasers or include captions and related links), and taking it whenever present → 0.955."""
    if len(extracted) < RETRY_BELOW_CHARS and len(article_body) > len(extracted):
        return article_body
    return extracted


def _assemble(meta: PageMetadata, text: str, url: str, detect_language: bool = True) -> Extracted:
    parts = paragraphs(text)
    declared = meta.language or None
    sample = _language_sample(meta.title, meta.description, text) if detect_language and not declared else ""
    return Extracted(
        title=meta.title,
        text=text,
        excerpt=cut_excerpt(meta.description or " ".join(parts[:3])),
        description=meta.description,
        published_at=meta.published_at,
        modified_at=meta.modified_at,
        author=meta.author,
        provider_name=meta.provider_name,
        site_domain=site_domain(url),
        type=meta.type,
        category_hint=meta.category_hint,
        image_urls=meta.image_urls,
        language=declared or (_detect_language(sample) if sample else None),
        canonical_url=meta.canonical_url,
        og_url=meta.og_url,
        keywords=meta.keywords,
        word_count=len(text.split()),
        paragraph_count=len(parts),
        web_url=_web_url(url, meta),
        text_hash=content_hash(text),
    )


def _web_url(url: str, meta: PageMetadata) -> str | None:
    """The canonical URL (``pick_canonical``), worked out here in the worker process, not in the run's
    busy parent; ``None`` when ``url`` itself is not a usable absolute URL."""
    try:
        return pick_canonical(url, meta.canonical_url, meta.og_url)
    except FetchError:
        return None


def _language_sample(title: str | None, description: str | None, text: str) -> str:
    """The text, or title + description + text when the text alone is too short to judge."""
    if len(text) >= MIN_LANGID_CHARS:
        return text
    return " ".join(filter(None, (title, description, text)))


def _detect_language(text: str) -> str | None:
    if len(text) < MIN_LANGID_CHARS:
        return None
    language, _score = langid.classify(text[:LANGID_SAMPLE_CHARS])
    return language
