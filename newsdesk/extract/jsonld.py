"""Schema.org JSON-LD blocks of a page, flattened into nodes that metadata reading can query.

Publishers write JSON-LD in every shape the spec allows and several it does not: one object, a list of
objects, an ``@graph`` whose nodes point at each other by ``@id`` (Yoast, WordPress), the article nested
under ``mainEntity`` of a ``WebPage``, authors as a string, an object or a list, and now and then a script
that is not valid JSON at all. This module absorbs those shapes so :mod:`newsdesk.extract.metadata` can ask
plain questions ("the main article node", "its authors' names") and get plain answers.

Contract: nothing here raises on page content. Invalid JSON in a script is skipped (logged at debug);
values of an unexpected type are ignored. The work is bounded by :data:`MAX_NODES` and :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

Node = dict[str, Any]

MAX_NODES = 2_000
"""Typed nodes collected per page at most. The largest ``@graph`` among the 181 benchmark pages has a few
dozen nodes; the cap only stops hostile pages from making us walk millions."""

MAX_DEPTH = 12
"""Nesting depth followed through ``@graph``/``mainEntity``/lists; real pages nest 3-4 levels."""

ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "AskPublicNewsArticle",
        "SatiricalArticle",
        "BlogPosting",
        "LiveBlogPosting",
        "SocialMediaPosting",
        "DiscussionForumPosting",
        "TechArticle",
        "APIReference",
        "ScholarlyArticle",
        "MedicalScholarlyArticle",
        "Report",
        "Review",
        "CriticReview",
    }
)
MEDIA_TYPES = frozenset(
    {"VideoObject", "Clip", "Movie", "PodcastEpisode", "PodcastSeries", "AudioObject", "RadioEpisode"}
)
GALLERY_TYPES = frozenset({"ImageGallery", "MediaGallery"})
_CONTAINER_KEYS = ("@graph", "mainEntity", "mainEntityOfPage", "hasPart")
_SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/", "schema:")
_LD_OPEN = re.compile(rb"<script\b[^>]*ld\+json[^>]*>", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(rb"<(/script)", re.IGNORECASE)
_STRING_OR_CLOSE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|</script', re.IGNORECASE | re.DOTALL)
"""A JSON string (escapes included), or the end tag that closes the script when outside one."""


@dataclass(frozen=True, slots=True)
class JsonLd:
    """Every typed node of a page's JSON-LD, in document order, plus an ``@id`` index to resolve
    references (``"author": {"@id": "#/schema/person/1"}``)."""

    nodes: tuple[Node, ...]
    by_id: dict[str, Node]

    def resolve(self, value: Any) -> Any:
        """``value`` with a bare ``{"@id": ...}`` reference replaced by the node it names."""
        if isinstance(value, dict) and set(value) <= {"@id", "@type"}:
            ref = value.get("@id")
            if isinstance(ref, str) and ref in self.by_id:
                return self.by_id[ref]
        return value

    def main_node(self) -> Node | None:
        """The node that describes the page's content: the first article-family node, else the first
        video/audio/podcast node, else the first gallery. ``None`` when the page has none of them."""
        for family in (ARTICLE_TYPES, MEDIA_TYPES, GALLERY_TYPES):
            for node in self.nodes:
                if family.intersection(types(node)):
                    return node
        return None

    def names(self, value: Any) -> list[str]:
        """Names in an author/publisher value: a string, a Person/Organization (``name`` or given +
        family name), an ``@id`` reference, or a list of any of these."""
        out: list[str] = []
        for item in _as_list(self.resolve(value)):
            item = self.resolve(item)
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                out.extend(_person_name(item))
        return [name.strip() for name in out if name.strip()]

    def urls(self, value: Any) -> list[str]:
        """URLs in an image-like value: a string, an ImageObject (``url``/``contentUrl``), or a list."""
        out: list[str] = []
        for item in _as_list(self.resolve(value)):
            item = self.resolve(item)
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                out.extend(u for key in ("url", "contentUrl") if isinstance(u := item.get(key), str))
        return [u.strip() for u in out if u.strip()]


def types(node: Node) -> tuple[str, ...]:
    """The node's ``@type`` names, without a schema.org prefix (``"schema:NewsArticle"`` → ``NewsArticle``)."""
    out = []
    for name in _as_list(node.get("@type")):
        if isinstance(name, str):
            for prefix in _SCHEMA_PREFIXES:
                name = name.removeprefix(prefix)
            out.append(name.strip())
    return tuple(out)


def strings(value: Any) -> list[str]:
    """Plain strings in a value that may be a string, a number, a list or an object with ``name``."""
    out: list[str] = []
    for item in _as_list(value):
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            out.append(str(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append(item["name"])
    return [s.strip() for s in out if s.strip()]


def read_jsonld(tree: HtmlElement) -> JsonLd:
    """Collect the typed nodes of every ``application/ld+json`` script under ``tree``."""
    nodes: list[Node] = []
    for block in _blocks(tree):
        for node in _walk(block, 0):
            nodes.append(node)
            if len(nodes) >= MAX_NODES:
                break
    by_id = {node["@id"]: node for node in nodes if isinstance(node.get("@id"), str)}
    return JsonLd(nodes=tuple(nodes), by_id=by_id)


def is_jsonld(script: HtmlElement) -> bool:
    """A ``<script>`` holding JSON-LD (``application/ld+json``, whatever the case or parameters)."""
    return "ld+json" in (script.get("type") or "").lower()


def repair_script_ends(html: bytes) -> bytes:
    """``html`` with every ``</script`` that sits inside a JSON string of a JSON-LD block escaped as
    ``<\\/script`` (the same string in JSON).

    An HTML parser ends a script at the first ``</script``, wherever it is: an ``articleBody`` that quotes
    an embed (``<script async src=…></script>``) cuts its block in two, the JSON no longer parses, and its
    tail spills into the page as text, which the text extractor then takes for the article. A block is
    changed only when the escaped version parses as JSON, so a script that is broken some other way, or
    that is not JSON at all, is left exactly as the page had it.
    """
    out, done = [], 0
    for opening in _LD_OPEN.finditer(html):
        if opening.start() < done:
            continue  # an opening tag quoted inside a block already repaired
        end, cut_inside = _json_script_end(html, opening.end())
        if cut_inside and end > 0:
            block = _SCRIPT_CLOSE.sub(rb"<\\\1", html[opening.end() : end])
            if _parse(block.decode("utf-8", "replace")) is not None:
                out += [html[done : opening.end()], block]
                done = end
    return b"".join([*out, html[done:]]) if out else html


def _json_script_end(html: bytes, start: int) -> tuple[int, bool]:
    """Where the JSON script starting at ``start`` really ends (its first ``</script`` outside a JSON
    string, -1 when none), and whether a ``</script`` was found inside a string before it."""
    cut_inside = False
    for found in _STRING_OR_CLOSE.finditer(html, start):
        if found.group().startswith(b"<"):
            return found.start(), cut_inside
        cut_inside = cut_inside or _SCRIPT_CLOSE.search(found.group()) is not None
    return -1, cut_inside


def _blocks(tree: HtmlElement) -> Iterator[Any]:
    for script in tree.iter("script"):
        if not is_jsonld(script):
            continue
        parsed = _parse(script.text or "")
        if parsed is not None:
            yield parsed


def _parse(text: str) -> Any:
    """JSON of one script, or ``None``. ``strict=False`` admits raw newlines inside strings, which many
    CMSs emit in ``articleBody``; a wrapping HTML comment or CDATA marker is tolerated."""
    text = text.strip()
    for marker in ("<!--", "-->", "//<![CDATA[", "//]]>", "<![CDATA[", "]]>"):
        text = text.replace(marker, "")
    text = text.strip().rstrip(";")
    if not text:
        return None
    try:
        return json.loads(text, strict=False)
    except (ValueError, RecursionError) as e:
        logger.debug("invalid JSON-LD skipped", extra={"error": str(e)[:200]})
        return None


def _walk(value: Any, depth: int) -> Iterator[Node]:
    """Typed dict nodes in ``value``: itself, list items, and what sits under the container keys."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if "@type" in value:
        yield value
    for key in _CONTAINER_KEYS:
        if isinstance(value.get(key), dict | list):
            yield from _walk(value[key], depth + 1)


def _person_name(item: Node) -> list[str]:
    name = item.get("name")
    if isinstance(name, str):
        return [name]
    if isinstance(name, list):
        return [n for n in name if isinstance(n, str)]
    parts = [item.get(key) for key in ("givenName", "additionalName", "familyName")]
    joined = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return [joined] if joined else []


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
