"""Operations: JSON-lines logs (a real `newsdesk serve` process), the log_format check, and the desk's
metrics — pending articles per stage and the last cycle's stage durations — after a real cycle over a
loopback feed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.desk import Desk, OutputTargets
from newsdesk.errors import SettingsError
from newsdesk.logs import JsonLines, check_log_format
from newsdesk.model import Source
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply
from tests.test_desk import cli, free_port, page, wait_for

RSS = "application/rss+xml"


def test_json_lines_carry_the_extra_keys_and_the_traceback() -> None:
    record = logging.LogRecord("newsdesk.desk", logging.WARNING, __file__, 1, "poll failed", None, None)
    record.source_id, record.duration_ms, record.path = 7, 12.5, Path("/tmp/x")
    line = json.loads(JsonLines().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("warning", "newsdesk.desk", "poll failed")
    assert (line["source_id"], line["duration_ms"], line["path"]) == (7, 12.5, "PosixPath('/tmp/x')")
    assert line["time"].endswith("+00:00")
    try:
        raise ValueError("bad feed")
    except ValueError:
        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "crash", None, sys.exc_info())
    assert "ValueError: bad feed" in json.loads(JsonLines().format(failing))["exception"]
    with pytest.raises(SettingsError, match="log_format"):
        check_log_format("xml")


def test_serve_writes_json_lines(tmp_path: Path) -> None:
    env = os.environ | quiet_env(tmp_path / "data", NEWSDESK_LOG_FORMAT="json")
    cli(env, "init")
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "newsdesk", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            wait_for("readiness", lambda: _ready(port))
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    lines = [line for line in log_path.read_text().splitlines() if line.startswith("{")]
    parsed = [json.loads(line) for line in lines]
    messages = [p["message"] for p in parsed]
    assert "Application startup complete." in messages and "Application shutdown complete." in messages
    assert any(p["logger"] == "newsdesk.api.app" and p.get("port") == port for p in parsed)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_metrics_report_pending_work_and_stage_durations(tmp_path: Path) -> None:
    with LoopbackServer({"/a/one": page, "/a/two": page}) as server:
        items = "".join(
            f"<item><title>Story {slug}</title><link>{server.url('/a/' + slug)}</link></item>"
            for slug in ("one", "two")
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>'
        server.route("/feed.xml", Reply(body=body.encode(), content_type=RSS))
        env = quiet_env(tmp_path / "data", NEWSDESK_WORKERS="1")
        nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
        nd.sources.add(Source(url=server.url("/feed.xml"), allow_loopback=True))
        desk = Desk(nd, OutputTargets(), check_s=60.0)
        with TestClient(create_app(nd, include_web=False, desk=desk)) as client:
            deadline = time.monotonic() + 60
            while desk.status.cycles < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            text = client.get("/metrics").text
        nd.close()
    assert 'newsdesk_pending_articles{stage="review"} 2.0' in text
    assert 'newsdesk_pending_articles{stage="enrich"} 2.0' in text  # enrichment is off in this test
    assert 'newsdesk_last_cycle_stage_seconds{stage="ingest"}' in text
    assert 'newsdesk_last_cycle_stage_seconds{stage="rules"}' in text
