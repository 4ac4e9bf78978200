"""What the ingestion's process pool runs: feed parsing and page extraction, with the worker warm-up.

The pool's workers import this module (pickled jobs name it) and nothing of the ingestion itself: a
worker that imported the ingestor (``newsdesk.ingestor``) also loaded the store, SQLAlchemy and httpx,
which it never uses (issue 14, "imports in every process"; docs/benchmarks.md).

Contract: the jobs are module-level (they pickle) and raise what :func:`extract` and
:func:`parse_feed` raise.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from newsdesk.errors import NewsdeskError
from newsdesk.extract.article import Extracted, extract
from newsdesk.sources.feeds import parse_feed
from newsdesk.sources.feedtypes import ParsedFeed

OWNER_CHECK_S = 2.0  # how often a worker looks for the process it works for
WARM_PAGE = "<html><head><title>warm</title></head><body><p>Warm up the models.</p></body></html>"


def warm_worker(owner: int | None = None) -> None:
    """Load trafilatura's and py3langid's models before the first page (the language model is a slow
    load; docs/benchmarks.md, "Process start"), and leave with ``owner``, the process whose pool this is."""
    from newsdesk.extract import langid

    if owner is not None:
        threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()
    langid.classify("warm up the language identifier")
    with contextlib.suppress(NewsdeskError):
        extract(WARM_PAGE, "https://warm.invalid/")


def _exit_with(owner: int) -> None:
    """End this worker once ``owner`` is gone. A pool's workers are children of the forkserver, not of
    the process that uses them: when that process is killed (SIGKILL, an OOM kill, systemd's final
    signal) nothing tells them, and each kept its imports and models alive for good."""
    while True:
        time.sleep(OWNER_CHECK_S)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # alive, under another user: a reused pid cannot be ours to signal
            continue


def parse_feed_job(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    return parse_feed(content, url, content_type=content_type)


def extract_job(html: bytes, url: str, fast: bool) -> Extracted:
    return extract(html, url, fast=fast)
