"""Robustness at pipeline level: every file of the feedparser test corpus (2,106 small feeds, many
ill-formed, oddly encoded or hostile) served over loopback as a source, all polled in ONE run.

Each source must end with articles or with a recorded error (an event and its health), the run must
neither crash nor hang, nothing may log a traceback, and the store must stay consistent: every article
has a canonical http(s) URL and every source's health is written. Page fetching, image caching and
enrichment are off: the feeds link to hosts that must never be contacted, and the point is the feeds.
(``test_feed_corpus.py`` checks the parser on the same files without HTTP, store or orchestrator.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.fetch.urls import canonicalize
from newsdesk.model import Source, is_http_url
from newsdesk.stages import RunSummary
from tests.httpserver import LoopbackServer, Reply, Route

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/data/feedparser-tests/tests"
MIN_FILES = 2000
HOSTS = 8  # virtual hosts the files are spread over, so per-host limits are exercised, not bypassed
CONCURRENCY = 64  # requests in flight in all; the loopback server answers from memory
RUN_TIMEOUT_S = 240  # a hang guard, not a speed check: the run takes ~30-60 s on 2 shared cores
HEADER = re.compile(rb"^Header:\s*Content-type:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}"),
]


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


def content_type(path: Path, body: bytes) -> str:
    """What a server would send: the test file's own ``Header: Content-type`` note, else by extension."""
    declared = HEADER.search(body)
    if declared:
        return declared.group(1).decode("latin-1")
    return "application/feed+json" if path.suffix == ".json" else "application/xml"


def serve_path(path: Path) -> str:
    return "/" + "/".join(quote(part) for part in path.relative_to(CORPUS).parts)


def source_url(index: int, path: Path) -> str:
    return f"http://corpus{index % HOSTS}.example{serve_path(path)}"


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_every_corpus_feed_ends_as_articles_or_a_recorded_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = corpus_files()
    assert len(files) >= MIN_FILES
    routes: dict[str, Route] = {}
    for path in files:
        body = path.read_bytes()
        routes[serve_path(path)] = Reply(body=body, content_type=content_type(path, body))
    env = {
        "NEWSDESK_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(tmp_path),
        "NEWSDESK_FETCH_PAGES": "0",
        "NEWSDESK_CACHE_IMAGES": "0",
        "NEWSDESK_ENRICH": "0",
        "NEWSDESK_ENCRYPT": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
        "NEWSDESK_CONCURRENCY": str(CONCURRENCY),
        "NEWSDESK_PER_HOST_CONCURRENCY": str(CONCURRENCY // HOSTS),
    }
    caplog.set_level(logging.WARNING)
    with LoopbackServer(routes) as server:
        resolve = {f"corpus{n}.example": f"127.0.0.1:{server.port}" for n in range(HOSTS)}
        with Newsdesk(load_settings(env=env, base_dir=tmp_path), resolve=resolve) as nd:
            nd.sources.ensure([Source(source_url(i, p), allow_loopback=True) for i, p in enumerate(files)])
            summary = nd.run()
            check_store(nd, summary, len(files))
        assert len(server.requests) >= len(files)  # each feed once, plus one robots.txt per host
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == []


def check_store(nd: Newsdesk, summary: RunSummary, count: int) -> None:
    sources = nd.sources.list()
    assert summary.sources_polled == len(sources) == count
    articles = list(nd.store.iter_articles())
    assert articles and summary.new == len(articles)
    for article in articles:
        assert is_http_url(article.web_url) and canonicalize(article.web_url) == article.web_url
        assert article.source_id is not None
    with_articles = {a.source_id for a in articles}
    events = nd.store.events(limit=10 * count)
    failed = {e["source_id"] for e in events if e["level"] == "error"}
    for source in sources:
        health = source.health
        assert health.last_polled_at is not None and health.next_poll_at is not None, source.url
        if health.error_count:
            assert health.last_error and health.last_error_kind and source.id in failed, source.url
            assert health.last_success_at is None and source.id not in with_articles
        else:
            assert health.last_success_at == health.last_polled_at and health.last_error is None
    assert sum(summary.errors.values()) == len(events)
