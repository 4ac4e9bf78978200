"""Page metadata: what a page says about itself in JSON-LD, OpenGraph, Twitter cards and meta tags.

Each field has a fixed order of sources, most trustworthy first; the first non-empty value wins:

- title: og:title > JSON-LD headline > twitter:title > ``<title>`` > first ``<h1>``, then the site name
  is removed (:mod:`newsdesk.extract.titles`). og:title leads because Google caps JSON-LD ``headline`` at
  110 characters and publishers truncate it to fit.
- published_at: JSON-LD datePublished (uploadDate for videos) > article:published_time > other meta and
  itemprop dates > htmldate's heuristics over the whole page (optional: it is the slow part).
- provider_name: og:site_name > JSON-LD publisher.name > application-name.
- type / category_hint: JSON-LD ``@type`` of the main node (see :mod:`newsdesk.extract.jsonld`), og:type,
  Highwire ``citation_*`` tags; articleSection refines the category.

Contract: :func:`read_metadata` is pure (the tree is not modified) and never raises on page content.
Dates come back aware UTC; URLs come back absolute http(s) or not at all.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from lxml.html import HtmlElement

from newsdesk.extract import jsonld
from newsdesk.extract.dates import parse_datetime
from newsdesk.extract.jsonld import JsonLd, Node
from newsdesk.extract.titles import clean_title, site_names
from newsdesk.model import is_http_url
from newsdesk.sources.sanitize import without_markup

logger = logging.getLogger(__name__)

MAX_KEYWORDS = 50
"""Keyword lists past this are SEO stuffing; 50 is well above what news pages declare."""
MAX_AUTHOR_CHARS = 120
"""A longer "author" is a bio or a sentence picked up by mistake."""
MAX_AUTHORS = 10
"""Bylines past this are contributor lists (wire round-ups); the first ten carry the credit."""
MIN_LEAD_IMAGE_PX = 100
"""Body images declared smaller than this (either side) are icons, avatars or tracking pixels."""

_WS = re.compile(r"\s+")
_BY = re.compile(r"^(?:written\s+)?by[:\s]+", re.IGNORECASE)
_LANG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")
_KEYWORD_SPLIT = re.compile(r"[,;]")

_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "published_time",
    "article.published",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "publication_date",
    "sailthru.date",
    "parsely-pub-date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "citation_publication_date",
    "citation_date",
    "date",
)
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "modified_time",
    "dc.date.modified",
    "dcterms.modified",
    "last-modified",
    "lastmod",
)
_AUTHOR_META = (
    "author",
    "article:author",
    "parsely-author",
    "sailthru.author",
    "byl",
    "dc.creator",
    "citation_author",
)
_DESCRIPTION_META = ("og:description", "description", "twitter:description", "dc.description")
_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url")
_TWITTER_IMAGE_META = ("twitter:image", "twitter:image:src")
_LANGUAGE_META = ("og:locale", "content-language", "dc.language", "language")
_PAPER_META = ("citation_doi", "citation_journal_title", "citation_pdf_url")

_TYPE_BY_SCHEMA = {
    "VideoObject": "video",
    "Clip": "video",
    "Movie": "video",
    "PodcastEpisode": "podcast",
    "PodcastSeries": "podcast",
    "RadioEpisode": "podcast",
    "AudioObject": "audio",
    "ScholarlyArticle": "paper",
    "MedicalScholarlyArticle": "paper",
    "ImageGallery": "gallery",
    "MediaGallery": "gallery",
}
_CATEGORY_BY_SCHEMA = {
    "OpinionNewsArticle": "opinion",
    "AnalysisNewsArticle": "analysis",
    "ReviewNewsArticle": "review",
    "Review": "review",
    "CriticReview": "review",
    "BlogPosting": "blog",
    "LiveBlogPosting": "blog",
    "ScholarlyArticle": "research",
    "MedicalScholarlyArticle": "research",
    "Report": "research",
}
_NEWS_SCHEMA = frozenset(
    {"NewsArticle", "ReportageNewsArticle", "BackgroundNewsArticle", "AskPublicNewsArticle"}
)
# articleSection words → category; checked in this order, on whole words of the lower-cased section.
_CATEGORY_BY_SECTION = (
    ("press-release", re.compile(r"\bpress[ -]?releases?\b|\bpressemitteilung")),
    (
        "opinion",
        re.compile(r"\b(?:opinions?|commentary|comment|editorials?|op-?eds?|columns?|columnists?)\b"),
    ),
    ("analysis", re.compile(r"\banalysis\b")),
    ("interview", re.compile(r"\binterviews?\b")),
    ("review", re.compile(r"\breviews?\b")),
    ("research", re.compile(r"\b(?:research|papers?|studies|study)\b")),
    ("blog", re.compile(r"\bblogs?\b")),
)


@dataclass(frozen=True, slots=True)
class PageMetadata:
    """What the page declares about itself. ``language`` is the declared language only (detection from
    the text happens in :mod:`newsdesk.extract.article`); ``article_body`` is JSON-LD articleBody or ""."""

    title: str | None = None
    description: str | None = None
    published_at: datetime | None = None
    modified_at: datetime | None = None
    author: str | None = None
    provider_name: str | None = None
    type: str = "article"
    category_hint: str | None = None
    image_urls: tuple[str, ...] = ()
    language: str | None = None
    canonical_url: str | None = None
    og_url: str | None = None
    keywords: tuple[str, ...] = ()
    article_body: str = ""


@dataclass(frozen=True, slots=True)
class _Page:
    """What every field reader needs: the tree, the meta tags by lower-cased key, the JSON-LD and its
    main node, and the base URL for resolving relative links."""

    tree: HtmlElement
    meta: dict[str, list[str]]
    ld: JsonLd
    main: Node | None
    base: str


def read_metadata(tree: HtmlElement, url: str, *, domain: str, date_fallback: bool = True) -> PageMetadata:
    """Read every metadata field of the page ``tree`` fetched from ``url``; ``domain`` is its registered
    domain (used to recognise the site name in titles). ``date_fallback`` runs htmldate when no declared
    date exists — off in fast mode."""
    page = _page(tree, url)
    provider = _provider_name(page)
    names = site_names([provider, *page.meta.get("application-name", [])], domain)
    return PageMetadata(
        title=clean_title(_raw_title(page), names),
        description=_description(page),
        published_at=_published(page) or (_htmldate(tree, url) if date_fallback else None),
        modified_at=_modified(page),
        author=_author(page),
        provider_name=provider,
        type=_type(page),
        category_hint=_category(page),
        image_urls=_images(page),
        language=_declared_language(page),
        canonical_url=_canonical(page),
        og_url=_absolute(page, _first(page.meta, ("og:url",))),
        keywords=_keywords(page),
        article_body=_article_body(page),
    )


def _page(tree: HtmlElement, url: str) -> _Page:
    ld = jsonld.read_jsonld(tree)
    base_href = next((b.get("href") for b in tree.iter("base") if b.get("href")), None)
    base = urljoin(url, base_href) if base_href else url
    return _Page(tree=tree, meta=_meta_index(tree), ld=ld, main=ld.main_node(), base=base)


def _meta_index(tree: HtmlElement) -> dict[str, list[str]]:
    """``<meta>`` contents by lower-cased name / property / itemprop / http-equiv, in document order."""
    index: dict[str, list[str]] = {}
    for element in tree.iter("meta"):
        content = _plain(element.get("content"))
        if not content:
            continue
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = (element.get(attribute) or "").strip().lower()
            if key:
                index.setdefault(key, []).append(content)
    return index


# --- helpers ------------------------------------------------------------------------------------------


def _plain(value: object) -> str:
    """A string value with HTML entities decoded, whitespace collapsed and any markup removed ("" for
    non-strings): a site name or headline like ``<script>…</script>News`` must not reach a record."""
    if not isinstance(value, str):
        return ""
    return without_markup(_WS.sub(" ", html.unescape(value)).strip())


def _first(meta: dict[str, list[str]], keys: Iterable[str]) -> str | None:
    for key in keys:
        for value in meta.get(key, ()):
            if value:
                return value
    return None


def _ld_value(page: _Page, key: str) -> object:
    """``key`` of the main JSON-LD node, else of the first node that has it (Yoast puts dates on the
    WebPage node of its graph, the article node may lack them)."""
    if page.main is not None and page.main.get(key) not in (None, "", []):
        return page.main[key]
    return next((node[key] for node in page.ld.nodes if node.get(key) not in (None, "", [])), None)


def _ld_string(page: _Page, key: str) -> str | None:
    values = jsonld.strings(_ld_value(page, key))
    if not values:
        return None
    return _plain(values[0]) or None


def _itemprop(page: _Page, prop: str) -> str | None:
    """``datetime``/``content`` attribute or text of the first non-meta element with ``itemprop=prop``."""
    # XPath runs inside libxml2; ElementPath's iterfind would wrap every element of the page in Python.
    for element in page.tree.xpath("//*[@itemprop=$prop][not(self::meta)]", prop=prop):
        value = element.get("datetime") or element.get("content") or element.text_content()
        if _plain(value):
            return _plain(value)
    return None


def _itemprop_lazily(page: _Page, prop: str) -> Iterator[str | None]:
    """:func:`_itemprop` run only when the date sources before it found nothing: each call scans the
    whole page, and JSON-LD or a meta tag dates most articles."""
    yield _itemprop(page, prop)


def _absolute(page: _Page, value: str | None) -> str | None:
    if not value:
        return None
    try:
        absolute = urljoin(page.base, value.strip())
    except ValueError:
        return None
    return absolute if is_http_url(absolute) else None


# --- fields -------------------------------------------------------------------------------------------


def _raw_title(page: _Page) -> str | None:
    for candidate in (
        _first(page.meta, ("og:title",)),
        _ld_string(page, "headline") or _ld_string(page, "name"),
        _first(page.meta, ("twitter:title",)),
        _plain(page.tree.findtext(".//title")),
        _plain(next((h.text_content() for h in page.tree.iter("h1")), "")),
    ):
        if candidate:
            return candidate
    return None


def _description(page: _Page) -> str | None:
    return _first(page.meta, _DESCRIPTION_META) or _ld_string(page, "description")


def _published(page: _Page) -> datetime | None:
    key = "uploadDate" if "VideoObject" in jsonld.types(page.main or {}) else "datePublished"
    return _first_date(
        [*jsonld.strings(_ld_value(page, key)), *jsonld.strings(_ld_value(page, "datePublished"))],
        _meta_values(page, _PUBLISHED_META),
        _itemprop_lazily(page, "datePublished"),
        (t.get("datetime") for t in page.tree.iterfind(".//time[@pubdate]")),
    )


def _modified(page: _Page) -> datetime | None:
    return _first_date(
        jsonld.strings(_ld_value(page, "dateModified")),
        _meta_values(page, _MODIFIED_META),
        _itemprop_lazily(page, "dateModified"),
    )


def _meta_values(page: _Page, keys: Iterable[str]) -> list[str]:
    return [value for key in keys for value in page.meta.get(key, ())]


def _first_date(*groups: Iterable[str | None]) -> datetime | None:
    for group in groups:
        for value in group:
            parsed = parse_datetime(value)
            if parsed is not None:
                return parsed
    return None


def _htmldate(tree: HtmlElement, url: str) -> datetime | None:
    """htmldate's guess (URL patterns, visible dates); it copies the tree before pruning it."""
    from htmldate import find_date

    try:
        found = find_date(tree, url=url, original_date=True, outputformat="%Y-%m-%dT%H:%M:%S%z")
    except Exception as e:  # htmldate is heuristic code over hostile input; a miss is not our error
        logger.debug("htmldate failed", extra={"url": url, "error": repr(e)})
        return None
    return parse_datetime(found) if isinstance(found, str) else None


def _author(page: _Page) -> str | None:
    names = page.ld.names(_ld_value(page, "author"))
    if not names:
        names = [v for v in _meta_values(page, _AUTHOR_META) if not is_http_url(v)]
    if not names and (found := _itemprop_author(page)):
        names = [found]
    cleaned = _dedupe(_clean_author(n) for n in names)[:MAX_AUTHORS]
    # "Vaswani, Ashish" style names (citation_author) would blur into one list with ", ".
    separator = "; " if any("," in name for name in cleaned) else ", "
    return separator.join(cleaned) or None


def _itemprop_author(page: _Page) -> str | None:
    """A microdata author: the element's ``itemprop=name`` child if it has one, else its own text."""
    for element in page.tree.iterfind(".//*[@itemprop='author']"):
        inner = element.find(".//*[@itemprop='name']")
        source = element if inner is None else inner
        value = _plain(source.get("content") or source.text_content())
        if value:
            return value
    return None


def _clean_author(name: str) -> str:
    name = _BY.sub("", _plain(name)).strip(" ,;|")
    return name if len(name) <= MAX_AUTHOR_CHARS and not is_http_url(name) else ""


def _provider_name(page: _Page) -> str | None:
    publisher = page.ld.names(_ld_value(page, "publisher"))
    for candidate in (
        _first(page.meta, ("og:site_name",)),
        _plain(publisher[0]) if publisher else None,
        _first(page.meta, ("application-name",)),
    ):
        if candidate and not is_http_url(candidate):
            return candidate
    return None


def _type(page: _Page) -> str:
    for name in jsonld.types(page.main or {}):
        if name in _TYPE_BY_SCHEMA:
            return _TYPE_BY_SCHEMA[name]
    og_type = (_first(page.meta, ("og:type",)) or "").lower()
    if og_type.startswith("video"):
        return "video"
    if og_type.startswith("music"):
        return "audio"
    if page.main is None and _first(page.meta, _PAPER_META):
        return "paper"
    return "article"


def _category(page: _Page) -> str | None:
    schema_types = jsonld.types(page.main or {})
    for name in schema_types:
        if name in _CATEGORY_BY_SCHEMA:
            return _CATEGORY_BY_SCHEMA[name]
    sections = " ".join(
        jsonld.strings(_ld_value(page, "articleSection")) + page.meta.get("article:section", [])
    )
    for category, pattern in _CATEGORY_BY_SECTION:
        if pattern.search(sections.lower()):
            return category
    if _NEWS_SCHEMA.intersection(schema_types):
        return "news"
    return "research" if _first(page.meta, _PAPER_META) else None


def _images(page: _Page) -> tuple[str, ...]:
    candidates = [
        *_meta_values(page, _IMAGE_META),
        *page.ld.urls(_ld_value(page, "image")),
        *page.ld.urls(_ld_value(page, "thumbnailUrl")),
        *_meta_values(page, _TWITTER_IMAGE_META),
        _lead_image(page),
    ]
    return tuple(_dedupe(url for c in candidates if (url := _absolute(page, c))))


def _lead_image(page: _Page) -> str | None:
    """The first sizeable image inside the article body (``<article>``, ``itemprop=articleBody``, ``<main>``)."""
    for container in ("//*[@itemprop='articleBody']", "//article", "//main"):
        for image in page.tree.xpath(f"({container}//img)[position() <= 20]"):
            src = _image_src(image)
            if src and not _too_small(image):
                return src
    return None


def _image_src(image: HtmlElement) -> str | None:
    for attribute in ("src", "data-src", "data-lazy-src", "data-original"):
        value = (image.get(attribute) or "").strip()
        if value and not value.startswith("data:") and not value.lower().split("?")[0].endswith(".svg"):
            return value
    return None


def _too_small(image: HtmlElement) -> bool:
    for attribute in ("width", "height"):
        value = (image.get(attribute) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) < MIN_LEAD_IMAGE_PX:
            return True
    return False


def _declared_language(page: _Page) -> str | None:
    declared = [page.tree.get("lang"), page.tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    declared += [_ld_string(page, "inLanguage"), *_meta_values(page, _LANGUAGE_META)]
    return next((code for value in declared if (code := language_code(value))), None)


def language_code(value: str | None) -> str | None:
    """The primary language subtag of a declared language ("en-GB" → "en"), or None when it is none."""
    match = _LANG.match((value or "").strip())
    return match[1].lower() if match else None


def _canonical(page: _Page) -> str | None:
    for link in page.tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split():
            return _absolute(page, link.get("href"))
    return None


def _keywords(page: _Page) -> tuple[str, ...]:
    raw = [*_meta_values(page, ("news_keywords", "keywords", "article:tag"))]
    raw += jsonld.strings(_ld_value(page, "keywords"))
    words = (_plain(word) for value in raw for word in _KEYWORD_SPLIT.split(value))
    return tuple(_dedupe(words))[:MAX_KEYWORDS]


def _article_body(page: _Page) -> str:
    values = jsonld.strings(_ld_value(page, "articleBody"))
    if not values:
        return ""
    paragraphs = (_plain(line) for line in html.unescape(values[0]).splitlines())
    return "\n\n".join(p for p in paragraphs if p)


def _dedupe(values: Iterable[str]) -> list[str]:
    """Non-empty values, each once (case-insensitively), in first-seen order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if value and value.lower() not in seen:
            seen.add(value.lower())
            out.append(value)
    return out
