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
extraction is under 3,000 characters, to decide on a recall retry: 79 of the 181 pages, a real share of
our extraction time (docs/benchmarks.md), for text no better (F1 0.962 balanced, 0.963 recall).

Fast mode has no fallback of its own, so its answer is checked (issue 15): a text that is short for the
page (a teaser kept, the article missed) is replaced by the precision pass's, and a text made of slide
counters and repeated lines is extracted again without the block that holds them. On the benchmark
this re-extracts 9 of 181 pages (fast F1 0.966 → 0.967); on pages built to show each failure
(``eval/extraction.py --synthetic``) it lifts fast mode from 0.15-0.30 to 1.00 on teasers and from 0.00
to 1.00 on slideshows (figures in ``docs/evaluation.md``).

Contract: :func:`main_text` never raises; an empty string means "no main text found".
"""

from __future__ import annotations

import copy as copy_module
import hashlib
import logging
import re
import unicodedata
from collections import Counter

import trafilatura
from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

RETRY_BELOW_CHARS = 500
"""Precision-mode text shorter than this triggers a balanced run (longer text kept). Measured on the
benchmark: thresholds 0/500/1000/2000 give F1 0.964/0.968/0.966/0.965; 500 re-runs 4 of 181 pages."""

TEASER_RATIO = 0.12
"""Fast-mode text with fewer characters than this share of the page's visible text (and a page of at
least :data:`TEASER_MIN_PAGE_CHARS`) is taken for a teaser and extracted again in precision mode.
The failure it targets keeps 400-850 characters on pages with 15,000-36,000 characters of article
(ratio < 0.06). On the 181 benchmark pages the ratio has a median of 0.50; 9 pages fall under 0.12,
all short articles on busy pages: 7 keep their text, 2 gain (F1 0.775 -> 0.895, 0.895 -> 0.958),
none loses; at 0.17 a multi-post blog page would lose (0.99 -> 0.33: the other posts are added)."""

REPEATED_TEASER_RATIO = 0.3
"""A text under this share of the page's text whose lead paragraph the page shows twice is a teaser too
(the summary block repeats the article's opening). Under 0.3 the ratio alone would take a multi-post
blog page's first post for a teaser (benchmark page b3c19dd5, ratio 0.17: precision mode adds the
other posts, F1 0.99 -> 0.33); its lead is shown once."""

MIN_REPEATED_LEAD_CHARS = 80
"""Leads shorter than this (a dateline, a one-line kicker) are not looked for twice."""

TEASER_MIN_PAGE_CHARS = 3_000
"""Pages showing less text than this are never second-guessed: what could be missed is short."""

NAVIGATION_SHARE = 0.5
"""A text whose paragraphs are at least half navigation lines (counters, repeated lines: see
:func:`navigation_lines`) is extracted again without the block that holds them. A slideshow kept by
the extractor is about 75% such lines (counter, credit, previous/next around each caption). Of the 181
benchmark pages' fast-mode texts one reaches it (5f03fc17, 0.80: a meal plan repeating its headings), and
there the retry is refused (:data:`NAVIGATION_RETRY_KEEPS`), so no benchmark text changes."""

NAVIGATION_RETRY_KEEPS = 0.5
"""The text found without the navigation block replaces the first only when it is at least half as long
as the first text's non-navigation part: on the one benchmark page whose text passes the navigation
share (a meal-plan article repeating its headings) the block is the article itself and the retry keeps
128 of 11,771 characters; on the synthetic slideshow pages the retry is the whole article."""

NAVIGATION_REPEATS = 3
"""A line said this many times in one text is navigation (a credit or "Next" under every slide)."""

NAVIGATION_BLOCK_SHARE = 0.8
"""The block dropped is the deepest element holding at least 80% of the text nodes that read navigation
lines: the slideshow itself, not a wrapper that also holds the article."""

NAVIGATION_MIN_PARAGRAPHS = 6
"""Texts of fewer paragraphs are not judged: a three-line brief is not a menu."""

EXCERPT_CHARS = 200
"""Record excerpts are "the first ~200 characters cut on a word" (``docs/examples/record.md``)."""

# Characters that must not end an excerpt: openers, connectors and an ellipsis the cut would orphan.
# Straight quotes are left alone: they close as often as they open.
_DANGLING = " \t\n,;:-–—/\\([{<“‘«„‹·•|&…_*#@"
MIN_HASHED_CHARS = 200
"""Shorter texts (teasers, title-only pages) get no content hash: they would make false exact duplicates."""

_WS = re.compile(r"\s+")
_COUNTER = re.compile(r"\(?\d{1,3}\s*(?:/|of|von|de|di|sur|из)\s*\d{1,3}\)?", re.IGNORECASE)
"""A slide counter: ``3 / 24``, ``(3 of 24)``, ``3 von 24``, ``3 de 24``."""
_JOINERS = frozenset({"\u200d", "\u200c"})


def main_text(tree: HtmlElement, url: str | None, *, fast: bool = False) -> str:
    """The article's main text from the parsed page ``tree``: paragraphs separated by blank lines.

    The answer is checked before it is returned: in fast mode a text that is short for the page (a
    teaser kept, the article missed) is extracted again in precision mode; in both modes a text made
    of navigation (slide counters, credits and previous/next said on every slide) is extracted again
    without the block that holds it, and the text with less navigation kept. The tree is not modified
    (trafilatura copies an element input before cleaning it; the pruned retry works on a copy).
    """
    text = _run(tree, url, fast=True, focus="recall") if fast else _accurate(tree, url)
    if fast and _is_teaser(text, tree):
        return _instead_of_teaser(tree, url, text)
    return _without_navigation(tree, url, text, fast=fast)


def _instead_of_teaser(tree: HtmlElement, url: str | None, teaser: str) -> str:
    """The precision pass's text in place of a fast-mode teaser, unless it too is a stub (under
    :data:`RETRY_BELOW_CHARS`). Not the whole accurate path: its balanced retry, which runs when the
    precision pass finds little, converts the page to plain text, and on the one benchmark page where
    it ran it cost more than all the other teaser retries, for the same text (docs/benchmarks.md)."""
    precise = _run(tree, url, fast=False, focus="precision")
    return precise if len(precise) >= RETRY_BELOW_CHARS else teaser


def _accurate(tree: HtmlElement, url: str | None) -> str:
    """Precision mode, and a balanced run when that returns little (the longer text kept)."""
    text = _run(tree, url, fast=False, focus="precision")
    if len(text) < RETRY_BELOW_CHARS:
        balanced = _run(tree, url, fast=False, focus="balanced")
        text = balanced if len(balanced) > len(text) else text
    return text


def visible_chars(tree: HtmlElement) -> int:
    """Characters a reader sees in the page body (whitespace runs counted as one space), JSON-LD left
    out. Counted inside libxml2 (``normalize-space``): no Python string of the whole page is built."""
    seen = int(tree.xpath("string-length(normalize-space(//body))"))
    body = tree.find("body")
    scripts = body.iter("script") if body is not None else ()
    return max(0, seen - sum(len(" ".join((s.text or "").split())) for s in scripts))


def _is_teaser(text: str, tree: HtmlElement) -> bool:
    """True when the page shows far more text than was extracted (the extractor kept a teaser or a
    summary block and missed the article behind it): under :data:`TEASER_RATIO` of the page's text, or
    under :data:`REPEATED_TEASER_RATIO` when the text's first paragraph is shown twice on the page (a
    teaser that repeats the article's lead, the article being the second copy)."""
    page, extracted = visible_chars(tree), len(" ".join(text.split()))
    if page < TEASER_MIN_PAGE_CHARS or extracted >= REPEATED_TEASER_RATIO * page:
        return False
    return extracted < TEASER_RATIO * page or _lead_repeated(text, tree)


def _lead_repeated(text: str, tree: HtmlElement) -> bool:
    """True when the first paragraph of :data:`MIN_REPEATED_LEAD_CHARS` or more (not the headline or
    a dateline) appears twice in the page's text."""
    leads = (" ".join(p.split()) for p in paragraphs(text))
    lead = next((p for p in leads if len(p) >= MIN_REPEATED_LEAD_CHARS), "")
    return bool(lead) and " ".join(str(tree.xpath("string(//body)")).split()).count(lead) >= 2


def navigation_lines(text: str) -> list[str]:
    """The paragraphs of ``text`` that are navigation — a slide counter (``3 / 24``, ``3 of 24``) or a
    line the text repeats (``Next``, ``Photo: Agency``, ``Previous Next``) — when they make up at least
    :data:`NAVIGATION_SHARE` of a text of :data:`NAVIGATION_MIN_PARAGRAPHS` or more; else an empty list.

    Repetition, not shortness: articles hold lists, tables and (in Chinese or Japanese) short sentences,
    and link texts (related headlines), none of which the extractor should second-guess; but an article
    does not say the same line three times, and a slideshow says its counter, its credit and its
    previous/next on every slide."""
    parts = paragraphs(text)
    if len(parts) < NAVIGATION_MIN_PARAGRAPHS:
        return []
    seen = Counter(_norm(p) for p in parts)
    found = [p for p in parts if seen[_norm(p)] >= NAVIGATION_REPEATS or _COUNTER.fullmatch(p)]
    return found if len(found) >= NAVIGATION_SHARE * len(parts) else []


def _without_navigation(tree: HtmlElement, url: str | None, text: str, *, fast: bool) -> str:
    """``text``, or the text extracted from a copy of the page without the block holding ``text``'s
    navigation lines, when that text has less navigation and is not much shorter than what ``text``
    holds besides navigation (:data:`NAVIGATION_RETRY_KEEPS`)."""
    lines = navigation_lines(text)
    if not lines:
        return text
    pruned = _pruned_copy(tree, {_norm(line) for line in lines})
    if pruned is None:
        return text
    retry = _run(pruned, url, fast=True, focus="recall") if fast else _accurate(pruned, url)
    rest = len(text) - sum(len(line) for line in lines)  # what ``text`` holds besides navigation
    if len(retry) < NAVIGATION_RETRY_KEEPS * rest or len(navigation_lines(retry)) >= len(lines):
        return text  # the block held the article too (a menu article repeats its headings), or no gain
    logger.debug("navigation block dropped", extra={"url": url, "navigation_lines": len(lines)})
    return retry


def _pruned_copy(tree: HtmlElement, lines: set[str]) -> HtmlElement | None:
    """A copy of ``tree`` without the block that holds most of the text nodes reading one of ``lines``:
    the deepest element containing at least :data:`NAVIGATION_BLOCK_SHARE` of them. ``None`` when no
    such block is found below ``<body>``. Text nodes, not elements' whole text: that would build the
    text of every element, quadratic in the nesting depth."""
    copy = copy_module.deepcopy(tree)
    hits = [node.getparent() for node in copy.xpath("//body//text()") if _norm(node) in lines]
    counts: dict[HtmlElement, int] = {}
    depth: dict[HtmlElement, int] = {}
    for hit in hits:
        for level, ancestor in enumerate(reversed(list(hit.iterancestors()))):
            counts[ancestor] = counts.get(ancestor, 0) + 1
            depth[ancestor] = level
    blocks = [
        el
        for el, n in counts.items()
        if n >= NAVIGATION_BLOCK_SHARE * len(hits) and el.tag not in ("html", "body")
    ]
    if not blocks:
        return None
    block = max(blocks, key=lambda el: depth[el])
    block.drop_tree()
    return copy


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


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
            tree,
            url=url,
            fast=fast,
            favor_precision=focus == "precision",
            favor_recall=focus == "recall",
            include_comments=False,
            include_tables=True,
        )
    except Exception as e:  # trafilatura is heuristic code over hostile HTML; no text is the safe answer
        logger.warning("trafilatura failed", extra={"url": url, "error": repr(e)})
        return ""
    return "\n\n".join(paragraphs(text or ""))
