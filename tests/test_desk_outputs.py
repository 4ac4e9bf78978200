"""Work proportional to change: a desk cycle whose feed answers 304 rewrites no output, while an editor's
decision still reaches the records folder (real store, real loopback feed, the real Desk thread)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.desk import Desk, OutputTargets
from newsdesk.model import Source
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen
from tests.test_desk import page

ETAG = '"v1"'
WAIT_S = 40.0


def _wait(what: str, probe: Callable[[], object]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _exports(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "records exported" for r in caplog.records)


def test_a_cycle_of_304s_rewrites_nothing_but_a_decision_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsdesk.desk")
    with LoopbackServer({"/a/one": page}) as server:
        item = f"<item><title>One report</title><link>{server.url('/a/one')}</link></item>"
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>C</title>{item}</channel></rss>'

        def feed(seen: Seen) -> Reply:
            if seen.headers.get("if-none-match") == ETAG:
                return Reply(status=304, content_type=None, headers={"ETag": ETAG})
            return Reply(body=body.encode(), content_type="application/rss+xml", headers={"ETag": ETAG})

        server.route("/feed.xml", feed)
        nd = Newsdesk(
            load_settings(env=quiet_env(tmp_path / "data", NEWSDESK_WORKERS="1"), base_dir=tmp_path)
        )
        source = nd.sources.add(Source(url=server.url("/feed.xml"), allow_loopback=True))
        assert source.id is not None
        desk = Desk(nd, OutputTargets(records_dir=tmp_path / "records"), check_s=0.3)
        desk.start()
        try:
            _wait(
                "the first cycle and its records",
                lambda: desk.status.cycles == 1 and desk.status.last_output_at,
            )
            time.sleep(1.5)  # a stamp from the current second is written once more when it is over
            exports = _exports(caplog)
            nd.sources.poll(source.id)  # due again, and the desk is woken
            _wait("a second cycle", lambda: desk.status.cycles == 2)
            time.sleep(1.0)  # several output checks
            assert server.hits("/feed.xml") == 2 and _exports(caplog) == exports

            article = nd.store.find_article(server.url("/a/one"))
            assert article is not None and article.id is not None
            nd.editorial.publish(article.id, actor="test", reason="")
            _wait("the decision in the records folder", lambda: _exports(caplog) == exports + 1)
            assert any("published: true" in p.read_text() for p in (tmp_path / "records").rglob("*.md"))
        finally:
            desk.stop()
            nd.close()
