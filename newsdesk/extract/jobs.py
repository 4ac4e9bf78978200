"""What the ingestion's process pool runs: feed parsing and page extraction, with the worker warm-up.

The pool's workers import this module (pickled jobs name it) and nothing of the ingestion itself: a
worker that imported ``newsdesk.pipeline`` also loaded the store, SQLAlchemy and httpx, which it never
uses: 32 MB and ≈ 0.3 CPU-s per worker (issue 14, "imports in every process").

Contract: the jobs are module-level (they pickle) and raise what :func:`extract` and
:func:`parse_feed` raise.
"""

from __future__ import annotations

import contextlib

from newsdesk.errors import NewsdeskError
from newsdesk.extract.article import Extracted, extract
from newsdesk.sources.feeds import parse_feed
from newsdesk.sources.feedtypes import ParsedFeed

WARM_PAGE = "<html><head><title>warm</title></head><body><p>Warm up the models.</p></body></html>"


def warm_worker() -> None:
    """Load trafilatura's and py3langid's models before the first page (the language model alone takes
    0.4 s to load, measured with cProfile over the extraction benchmark)."""
    import py3langid

    py3langid.classify("warm up the language identifier")
    with contextlib.suppress(NewsdeskError):
        extract(WARM_PAGE, "https://warm.invalid/")


def parse_feed_job(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    return parse_feed(content, url, content_type=content_type)


def extract_job(html: bytes, url: str, fast: bool) -> Extracted:
    return extract(html, url, fast=fast)
