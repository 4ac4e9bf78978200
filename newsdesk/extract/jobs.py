"""What the ingestion's process pool runs: feed parsing and page extraction, with the worker warm-up.

The pool's workers import this module (pickled jobs name it) and nothing of the ingestion itself: a
worker that imported the ingestor (``newsdesk.ingestor``) also loaded the store, SQLAlchemy and httpx,
which it never uses (issue 14, "imports in every process"; docs/benchmarks.md).

A worker leaves the language of a page without a declared one to the process it works for
(``article.with_language``, which the ingestor calls off its event loop): py3langid's model costs
≈ 70 MB in every process that loads it, and the run's parent loads it anyway (it extracts the first
pages itself, and the bundled embedder reads languages). With the fast warm-up (:func:`warm_worker`) a worker holds ≈ 67 MB
instead of ≈ 168 MB (docs/benchmarks.md, "Large runs").

Contract: the jobs are module-level (they pickle) and raise what :func:`extract` and
:func:`parse_feed` raise; an :class:`Extracted` from :func:`extract_job` goes through
``article.with_language`` before it is used.
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
_in_worker = False  # set by warm_worker: this process is a pool worker, which detects no language


def warm_worker(owner: int | None = None) -> None:
    """Load what trafilatura loads on its first page, and leave with ``owner``, the process whose pool
    this is. No language model: the worker leaves detection to ``owner`` (module docstring). The warm
    page goes through fast mode, as ``extract_fast`` (on by default) sends every page: the full mode's
    fallback on so small a page loaded justext's stop-lists of every language, ≈ 33 MB and 0.15 CPU-s
    a worker that fast mode never reads (a run with it off loads them with its first such page)."""
    global _in_worker
    _in_worker = True
    if owner is not None:
        threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()
    with contextlib.suppress(NewsdeskError):
        extract(WARM_PAGE, "https://warm.invalid/", fast=True, detect_language=False)


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
    """The page's article; in a pool worker without the detected language (``article.with_language``)."""
    return extract(html, url, fast=fast, detect_language=not _in_worker)
