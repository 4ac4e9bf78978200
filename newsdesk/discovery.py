"""Feed discovery: what feeds (or sitemaps) a URL offers, confirmed by fetching them.

The one discovery behind ``newsdesk source add`` and the web form that adds a source (both through
``nd.sources``), each step through the same :class:`~newsdesk.fetch.client.Fetcher` the pipeline uses
(SSRF guard, robots.txt, size caps — an editor's URL is untrusted input like any other)::

    fetch the URL        is it a feed (parse_feed) or a sitemap (parse_sitemap)?  -> that URL
    else, it is a page   the feeds it declares or links (discover_feeds), in order
                         or, when it declares none, the conventional locations (candidate_urls)
    confirm each         fetch + parse (at most MAX_PROBES); with ``first``, one by one
                         and the first that parses wins                            -> that URL

:func:`find_feed` returns the first confirmed :class:`FoundFeed` or raises
:class:`~newsdesk.errors.SourceError` (a FetchError for the URL itself, else "no feed found"); nothing
here adds anything to the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from .errors import FetchError, ParseError, SourceError
from .fetch.client import Fetcher
from .fetch.policy import FetchResult
from .model import SourceKind
from .sources.discover import KIND_SITEMAP, DiscoveredFeed, candidate_urls, discover_feeds
from .sources.feeds import parse_feed
from .sources.sitemaps import parse_sitemap

log = logging.getLogger(__name__)

MAX_PROBES = 8
"""Candidate feeds fetched at most per URL. Sites declare 1-3 feeds; the conventional-location list has 13
entries per prefix, and probing them all through the per-host politeness delay (0.5 s) would keep an
editor waiting for seconds — the first eight cover WordPress, Ghost, Hugo, Jekyll and JSON Feed."""


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A feed or sitemap: where it is, what kind of source it makes, and its title. ``unconfirmed`` holds
    the page's declaration of a feed that could not be fetched and parsed now (the title is then the link's).
    """

    url: str
    kind: SourceKind
    title: str | None
    unconfirmed: DiscoveredFeed | None = None

    @property
    def confirmed(self) -> bool:
        return self.unconfirmed is None


async def find_feeds(
    url: str, fetcher: Fetcher, *, allow_private: bool = False, first: bool = False
) -> list[FoundFeed]:
    """What ``url`` offers, in order: itself when it is a feed or sitemap, else the feeds its page
    declares or links, else the conventional feed paths of the site that answer with a feed. At most
    :data:`MAX_PROBES` candidates are fetched, at once; linked feeds are fetched to take their own titles
    (a link's text is often just the file name, "feed.xml"), and a declared one that cannot be confirmed
    now stays in the list, unconfirmed — the page did declare it. With ``first``, candidates are fetched
    one by one and the list ends at the first confirmed feed: what a form that adds one source needs.
    A :class:`~newsdesk.errors.FetchError` for ``url`` itself propagates."""
    page = await fetcher.get(url, allow_private=allow_private, expect="any")
    itself = classify(page)
    if itself is not None:
        return [itself]
    declared = discover_feeds(page.text or "", page.url)
    if declared:
        candidates = [(d.url, d.kind == KIND_SITEMAP) for d in declared]
    else:
        candidates = [(u, "sitemap" in u) for u in candidate_urls(page.url) if u != page.url]
    checked = await _probe_all(candidates[:MAX_PROBES], fetcher, allow_private, first)
    if not declared:
        return [f for f in checked if f is not None]
    return [_titled(d, f) for d, f in zip(declared, checked, strict=False)] + [
        _titled(d, None) for d in declared[len(checked) :] if not first
    ]


async def _probe_all(
    candidates: list[tuple[str, bool]], fetcher: Fetcher, allow_private: bool, first: bool
) -> list[FoundFeed | None]:
    """Each candidate confirmed or None, in order; with ``first``, one by one up to the first confirmed."""
    if not first:
        return list(await asyncio.gather(*(probe(u, fetcher, allow_private, s) for u, s in candidates)))
    checked: list[FoundFeed | None] = []
    for candidate, sitemap_first in candidates:
        checked.append(await probe(candidate, fetcher, allow_private, sitemap_first))
        if checked[-1] is not None:
            break
    return checked


def _titled(declared: DiscoveredFeed, found: FoundFeed | None) -> FoundFeed:
    """A declared feed as confirmed (its own title, else the link's), or unconfirmed with the link's."""
    if found is not None:
        return dataclasses.replace(found, title=found.title or declared.title)
    kind = SourceKind.SITEMAP if declared.kind == KIND_SITEMAP else SourceKind.FEED
    return FoundFeed(declared.url, kind, declared.title, unconfirmed=declared)


async def probe(
    url: str, fetcher: Fetcher, allow_private: bool, sitemap_first: bool = False
) -> FoundFeed | None:
    """Fetch a candidate feed URL and confirm what it is; None when it is unreachable or not a feed."""
    try:
        result = await fetcher.get(url, allow_private=allow_private, expect="feed")
    except FetchError as e:
        log.info("feed candidate unreachable", extra={"url": url, "error_kind": e.kind})
        return None
    return classify(result, sitemap_first=sitemap_first)


def classify(result: FetchResult, *, sitemap_first: bool = False) -> FoundFeed | None:
    """The fetched body as a feed or a sitemap source, or None when it is neither (an HTML page)."""
    parsers = (_as_sitemap, _as_feed) if sitemap_first else (_as_feed, _as_sitemap)
    for parse in parsers:
        found = parse(result)
        if found is not None:
            return found
    return None


def _as_feed(result: FetchResult) -> FoundFeed | None:
    try:
        parsed = parse_feed(result.content, result.url, content_type=result.content_type)
    except ParseError:
        return None
    return FoundFeed(result.url, SourceKind.FEED, parsed.title)


def _as_sitemap(result: FetchResult) -> FoundFeed | None:
    try:
        parsed = parse_sitemap(result.content, result.url)
    except ParseError:
        return None
    if not parsed.entries and not parsed.children:
        return None
    return FoundFeed(result.url, SourceKind.SITEMAP, None)


async def find_feed(url: str, fetcher: Fetcher, *, allow_private: bool = False) -> FoundFeed:
    """The first confirmed feed (or sitemap) behind ``url``; see the module docstring."""
    for found in await find_feeds(url, fetcher, allow_private=allow_private, first=True):
        if found.confirmed:
            return found
    raise SourceError(f"no feed or sitemap found at {url}", source_url=url)
