"""The desk end to end: `newsdesk serve` as a real process polls a loopback feed, stores what appears,
keeps the records and feed folders current, publishes through the API, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen

RSS = "application/rss+xml"
WAIT_S = 40.0  # generous on a loaded two-core machine; the desk itself checks every 2 s


@dataclass
class Feed:
    """A feed whose items the test adds while the service runs."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (slug, title)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, slug: str, title: str) -> None:
        with self.lock:
            self.items.append((slug, title))

    def reply(self, seen: Seen, base: str) -> Reply:
        with self.lock:
            entries = "".join(
                f"<item><title>{title}</title><link>{base}/a/{slug}</link><guid>{base}/a/{slug}</guid>"
                f"<pubDate>Sun, 06 Dec 2026 05:00:00 GMT</pubDate><description>{title} in brief.</description></item>"
                for slug, title in self.items
            )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk Wire</title><link>{base}/</link>{entries}</channel></rss>'
        return Reply(body=body.encode(), content_type=RSS)


def page(seen: Seen) -> Reply:
    slug = seen.path.rsplit("/", 1)[-1]
    paragraphs = "".join(
        f"<p>Paragraph {i} of the report on {slug}, with enough words to be an article body.</p>"
        for i in range(8)
    )
    return Reply(
        body=f"<html><head><title>{slug}</title></head><body><article><h1>{slug}</h1>{paragraphs}</article></body></html>".encode()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "newsdesk", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for(what: str, probe: Callable[[], object]) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def record_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.md")
        if not any(part.startswith(".") for part in p.parts[len(folder.parts) :])
    )


@pytest.fixture
def desk_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Feed, LoopbackServer]]:
    feed = Feed()
    holder: dict[str, str] = {}
    routes = {"/feed.xml": lambda seen: feed.reply(seen, holder["base"]), "/a/first": page, "/a/second": page}
    with LoopbackServer(routes) as server:
        holder["base"] = server.url("").rstrip("/")
        env = os.environ | quiet_env(
            tmp_path / "data",
            NEWSDESK_RECORDS_DIR=str(tmp_path / "records"),
            NEWSDESK_FEEDS_DIR=str(tmp_path / "feeds"),
            NEWSDESK_POLL_MIN_INTERVAL="1",
            NEWSDESK_POLL_MAX_INTERVAL="2",
            NEWSDESK_WORKERS="1",
        )
        yield env, feed, server


def test_serve_polls_publishes_and_stops_cleanly(
    desk_env: tuple[dict[str, str], Feed, LoopbackServer], tmp_path: Path
) -> None:
    env, feed, server = desk_env
    feed.add("first", "Regulator opens consultation on AI credit scoring")
    cli(env, "init")
    cli(env, "source", "add", server.url("/feed.xml"), "--kind", "feed", "--allow-loopback")
    token = json.loads(cli(env, "token", "create", "editor", "--scope", "write", "--json"))["token"]
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")  # a file, not a pipe: the pool's processes inherit it
    service = subprocess.Popen(
        [sys.executable, "-m", "newsdesk", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    try:
        wait_for("readiness", lambda: _ready(api))
        records = tmp_path / "records"
        wait_for("the first record file", lambda: record_files(records))

        feed.add("second", "Bank pilots language models in its loan desk")
        found = wait_for("the new item in the API", lambda: _article_at(api, "/a/second"))
        assert isinstance(found, dict)
        wait_for("the new item's record file", lambda: len(record_files(records)) == 2)

        assert api.post(f"/api/v1/articles/{found['id']}/publish", json={}).status_code == 200
        wait_for(
            "published: true in its file",
            lambda: any("published: true" in p.read_text() for p in record_files(records)),
        )
        wait_for(
            "the item in the feed file",
            lambda: "/a/second" in _read(tmp_path / "feeds" / "all.rss"),
        )
        metrics = api.get("/metrics").text
        assert "newsdesk_articles_ingested_total 2.0" in metrics and "newsdesk_polls_total" in metrics
    finally:
        api.close()
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=90)
        except subprocess.TimeoutExpired:
            service.kill()
            pytest.fail("the service did not stop within 90 s of SIGTERM")
        finally:
            log.close()
    # uvicorn re-raises the signal once it has shut down gracefully (systemd counts that as a clean stop)
    output = (tmp_path / "serve.log").read_text()
    assert service.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output
    leftovers = [
        p for p in tmp_path.rglob("*") if p.name.endswith(".partial") or p.name == ".newsdesk-export.tmp"
    ]
    assert leftovers == []


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def _article_at(api: httpx.Client, path: str) -> dict[str, object] | None:
    items = api.get("/api/v1/articles", params={"published": "false"}).json()["items"]
    return next((a for a in items if str(a["webUrl"]).endswith(path)), None)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
