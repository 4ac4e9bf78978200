"""Adding a source from whatever URL an editor pastes: a feed, a sitemap, or a site's home page.

The flow, each step through the same :class:`~newsdesk.fetch.client.Fetcher` the pipeline uses (SSRF
guard, robots.txt, size caps — an editor's URL is untrusted input like any other)::

    fetch the URL        is it a feed (parse_feed) or a sitemap (parse_sitemap)?  -> that URL
    else, it is a page   the feeds it declares or links (discover_feeds), in order
                         or, when it declares none, the conventional locations (candidate_urls)
    confirm each         fetch + parse; the first that parses wins                 -> that URL
    none parsed          SourceError naming the URL

Contract: :func:`find_feed` returns a :class:`FoundFeed` or raises :class:`~newsdesk.errors.SourceError`
(a FetchError for the pasted URL itself, else "no feed found"); it never adds anything to the store.
"""

from __future__ import annotations

import logging

from ..errors import SourceError
from ..fetch.client import Fetcher
from ..operations import FoundFeed, classify, probe
from ..sources.discover import KIND_SITEMAP, candidate_urls, discover_feeds

log = logging.getLogger(__name__)

MAX_CANDIDATES = 8
"""Feeds confirmed at most per pasted URL. Sites declare 1-3 feeds; the conventional-location list has 13
entries per prefix, and probing them all through the per-host politeness delay (0.5 s) would keep the
editor waiting for seconds — the first eight cover WordPress, Ghost, Hugo, Jekyll and JSON Feed."""


async def find_feed(url: str, fetcher: Fetcher, *, allow_private: bool = False) -> FoundFeed:
    """The feed (or sitemap) behind ``url``; see the module contract."""
    first = await fetcher.get(url, allow_private=allow_private, expect="any")
    found = classify(first)
    if found is not None:
        return found
    declared = discover_feeds(first.text or "", first.url)
    candidates = [(d.url, d.kind == KIND_SITEMAP) for d in declared]
    if not candidates:
        candidates = [(c, "sitemap" in c) for c in candidate_urls(first.url)]
    for candidate, sitemap_first in candidates[:MAX_CANDIDATES]:
        found = await probe(candidate, fetcher, allow_private, sitemap_first)
        if found is not None:
            return found
    raise SourceError(f"no feed or sitemap found at {url}", source_url=url)
