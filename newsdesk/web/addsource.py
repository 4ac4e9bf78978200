"""Adding a source from whatever URL an editor pastes: a feed, a sitemap, or a site's home page.

The flow is :func:`newsdesk.operations.find_feeds` (the one discovery, shared with ``newsdesk source
add``), each step through the same :class:`~newsdesk.fetch.client.Fetcher` the pipeline uses (SSRF
guard, robots.txt, size caps — an editor's URL is untrusted input like any other)::

    fetch the URL        is it a feed (parse_feed) or a sitemap (parse_sitemap)?  -> that URL
    else, it is a page   the feeds it declares or links (discover_feeds), in order
                         or, when it declares none, the conventional locations (candidate_urls)
    confirm each         fetch + parse, one by one (at most MAX_PROBES); the first
                         that parses wins                                          -> that URL
    none parsed          SourceError naming the URL

Contract: :func:`find_feed` returns a :class:`FoundFeed` or raises :class:`~newsdesk.errors.SourceError`
(a FetchError for the pasted URL itself, else "no feed found"); it never adds anything to the store.
"""

from __future__ import annotations

from ..errors import SourceError
from ..fetch.client import Fetcher
from ..operations import FoundFeed, find_feeds


async def find_feed(url: str, fetcher: Fetcher, *, allow_private: bool = False) -> FoundFeed:
    """The first confirmed feed (or sitemap) behind ``url``; see the module contract."""
    for found in await find_feeds(url, fetcher, allow_private=allow_private, first=True):
        if found.confirmed:
            return found
    raise SourceError(f"no feed or sitemap found at {url}", source_url=url)
