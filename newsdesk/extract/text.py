"""Main text of an article page (trafilatura) and the excerpt cut from it.

Settings chosen by measurement on the 181-page article-extraction benchmark (``eval/extraction.py``,
F1 over 4-token shingles, the benchmark's own metric):

==========================================  =====  =====  =====
trafilatura 2.3.1 configuration               P      R      F1
==========================================  =====  =====  =====
defaults (comments included)                0.928  0.978  0.953
include_comments=False                      0.942  0.978  0.960
… + favor_recall                            0.941  0.978  0.959
… + fast                                    0.946  0.979  0.962
… + favor_recall + fast                     0.948  0.979  0.963
… + favor_precision                         0.958  0.971  0.964
… + favor_precision, retry short (< 500)    0.960  0.976  0.968
… + favor_precision + fast                  0.947  0.946  0.946
==========================================  =====  =====  =====

(``extract`` then drops a first paragraph that repeats the headline: 0.968 → 0.970 with P 0.964 / R 0.976;
its fast mode scores 0.966.) So the normal path is precision mode without comments, and when that returns little (precision mode
occasionally drops a whole article to a 260-character stub) a balanced run, keeping the longer text.
The fast path is recall + ``fast`` (precision + fast loses 2 points of recall). Recall rather than
balanced because the balanced focus converts the whole page to plain text (``html2txt``) whenever its
extraction is under 3,000 characters, to decide on a recall retry: 79 of the 181 pages, 13% of our
extraction time, for text no better (F1 0.962 balanced, 0.963 recall).

Contract: :func:`main_text` never raises; an empty string means "no main text found".
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata

import trafilatura
from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

RETRY_BELOW_CHARS = 500
"""Precision-mode text shorter than this triggers a balanced run (longer text kept). Measured on the
benchmark: thresholds 0/500/1000/2000 give F1 0.964/0.968/0.966/0.965; 500 re-runs 4 of 181 pages."""

EXCERPT_CHARS = 200
"""Record excerpts are "the first ~200 characters cut on a word" (``docs/examples/record.md``)."""

# Characters that must not end an excerpt: openers, connectors and an ellipsis the cut would orphan.
# Straight quotes are left alone: they close as often as they open.
_DANGLING = " \t\n,;:-–—/\\([{<“‘«„‹·•|&…_*#@"
MIN_HASHED_CHARS = 200
"""Shorter texts (teasers, title-only pages) get no content hash: they would make false exact duplicates."""

_WS = re.compile(r"\s+")
_JOINERS = frozenset({"\u200d", "\u200c"})


def main_text(tree: HtmlElement, url: str | None, *, fast: bool = False) -> str:
    """The article's main text from the parsed page ``tree``: paragraphs separated by blank lines.

    The tree is not modified (trafilatura copies an element input before cleaning it).
    """
    if fast:
        return _run(tree, url, fast=True, focus="recall")
    text = _run(tree, url, fast=False, focus="precision")
    if len(text) < RETRY_BELOW_CHARS:
        balanced = _run(tree, url, fast=False, focus="balanced")
        text = balanced if len(balanced) > len(text) else text
    return text


def content_hash(text: str) -> str | None:
    """A hash of the normalised text: the same body under two URLs is one article."""
    normal = _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if len(normal) < MIN_HASHED_CHARS:
        return None
    return hashlib.sha256(normal.encode()).hexdigest()


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of an extracted text."""
    return [p for p in (line.strip() for line in text.split("\n")) if p]


def cut_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of ``text`` (whitespace collapsed), cut on a word boundary.

    No partial word at the end, no dangling punctuation (a comma, an opening quote, a dash), and no
    ellipsis added: the reader sees where the excerpt stops. A text whose first ``limit`` characters hold
    no space (Chinese, Japanese, one huge token) is cut between characters, never inside a combining
    sequence.
    """
    text = _drop_truncation(_WS.sub(" ", text).strip())
    if len(text) <= limit:
        return text.rstrip(_DANGLING)
    space = text.rfind(" ", 0, limit + 1)
    head = text[:space] if space > 0 else text[: _safe_cut(text, limit)]
    return head.rstrip(_DANGLING)


def _drop_truncation(text: str) -> str:
    """A text the publisher already cut (``"… potential models. T…"``) without its ellipsis and without
    the partial word before it."""
    for mark in ("…", "..."):
        if text.endswith(mark):
            text = text.removesuffix(mark)
            return text.rsplit(" ", 1)[0] if " " in text else text
    return text


def _safe_cut(text: str, limit: int) -> int:
    """The largest index ≤ ``limit`` that does not separate a base character from its combining marks,
    variation selectors or zero-width joiners."""
    cut = limit
    while cut > 0 and (
        unicodedata.combining(text[cut]) or _is_modifier(text[cut]) or text[cut - 1] in _JOINERS
    ):
        cut -= 1
    return cut


def _is_modifier(char: str) -> bool:
    return (
        char in _JOINERS or unicodedata.category(char) in ("Mn", "Me", "Sk") or 0xFE00 <= ord(char) <= 0xFE0F
    )


def _run(tree: HtmlElement, url: str | None, *, fast: bool, focus: str) -> str:
    try:
        text = trafilatura.extract(
            tree, url=url, fast=fast, favor_precision=focus == "precision", favor_recall=focus == "recall",
            include_comments=False, include_tables=True,
        )  # fmt: skip
    except Exception as e:  # trafilatura is heuristic code over hostile HTML; no text is the safe answer
        logger.warning("trafilatura failed", extra={"url": url, "error": repr(e)})
        return ""
    return "\n\n".join(paragraphs(text or ""))
