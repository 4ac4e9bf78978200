"""Source control while the desk runs: "poll now", pause/resume and rename through the API and the web
UI, and a source added through the API polled at once by a running desk (real store, real loopback
feed, the real Desk thread)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.desk import Desk, OutputTargets
from newsdesk.model import Source, SourceHealth, now
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

BASE = "/api/v1"
RSS = "application/rss+xml"
WOKEN_WITHIN_S = 20.0  # the desk checks every 60 s in this test: anything sooner came from the wake-up


def make_nd(tmp_path: Path, database_url: str = "") -> Newsdesk:
    env = quiet_env(tmp_path / "data", database_url, NEWSDESK_WORKERS="1")
    return Newsdesk(load_settings(env=env, base_dir=tmp_path))


def bearer(nd: Newsdesk, scope: str) -> dict[str, str]:
    _, secret = nd.tokens.create(f"{scope}-token", scope)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def nd(store_url: str, tmp_path: Path) -> Iterator[Newsdesk]:
    desk = make_nd(tmp_path, store_url)
    yield desk
    desk.close()


def test_api_pause_resume_poll_now_and_rename(nd: Newsdesk) -> None:
    writer, reading = bearer(nd, "write"), bearer(nd, "read")
    with TestClient(create_app(nd, include_web=False)) as client:
        created = client.post(f"{BASE}/sources", json={"url": "https://wire.example.com/rss"}, headers=writer)
        assert created.status_code == 201 and created.json()["paused"] is False
        source_id = created.json()["id"]
        url = f"{BASE}/sources/{source_id}"
        later = now() + timedelta(hours=6)
        nd.store.save_health(source_id, SourceHealth(next_poll_at=later, interval_s=21600))
        assert nd.store.due_sources(now()) == []

        polled = client.post(f"{url}/poll", headers=writer)
        assert polled.status_code == 202, polled.text
        assert [s.id for s in nd.store.due_sources(now())] == [source_id]
        assert nd.store.get_source(source_id).health.interval_s == 21600  # back-off history kept

        paused = client.patch(url, json={"paused": True}, headers=writer).json()
        assert paused["paused"] is True and nd.store.due_sources(now()) == []
        assert client.post(f"{url}/poll", headers=writer).status_code == 409
        assert client.get(url, headers=writer).json()["paused"] is True
        resumed = client.patch(url, json={"paused": False, "name": "Wire Desk"}, headers=writer).json()
        assert (resumed["paused"], resumed["name"]) == (False, "Wire Desk")
        assert [s.id for s in nd.store.due_sources(now())] == [source_id]

        assert client.post(f"{url}/poll").status_code == 401  # anonymous: nothing
        assert client.post(f"{url}/poll", headers=reading).status_code == 403
        assert client.patch(url, json={"paused": True}, headers=reading).status_code == 403
        assert client.post(f"{BASE}/sources/9999/poll", headers=writer).status_code == 404
    assert nd.store.get_source(source_id).paused is False


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_web_sources_page_controls(tmp_path: Path) -> None:
    nd = make_nd(tmp_path)
    _, secret = nd.tokens.create("editor", "write")
    source = nd.sources.add(Source(url="https://wire.example.com/rss"))
    with TestClient(create_app(nd)) as client:
        anonymous = client.get("/sources").text
        assert "Poll now" not in anonymous and "Pause" not in anonymous
        assert client.post(f"/sources/{source.id}/pause", data={"csrf_token": "x"}).status_code == 403
        assert nd.store.get_source(source.id).paused is False

        login = client.get("/login").text
        client.post("/login", data={"token": secret, "csrf_token": _csrf(login)})
        page = client.get("/sources").text
        assert "Poll now" in page and "Rename" in page
        csrf = _csrf(page)
        assert client.post(f"/sources/{source.id}/pause", data={"csrf_token": csrf}).status_code == 200
        paused = client.get("/sources").text
        assert nd.store.get_source(source.id).paused and ">Resume<" in paused and "Poll now" not in paused
        client.post(f"/sources/{source.id}/resume", data={"csrf_token": csrf})
        client.post(f"/sources/{source.id}/rename", data={"csrf_token": csrf, "name": "  Wire   Desk "})
        renamed = nd.store.get_source(source.id)
        assert (renamed.paused, renamed.name) == (False, "Wire Desk")
        nd.store.save_health(source.id, SourceHealth(next_poll_at=now() + timedelta(hours=1)))
        client.post(f"/sources/{source.id}/poll", data={"csrf_token": csrf})
        assert [s.id for s in nd.store.due_sources(now())] == [source.id]
        assert "Wire Desk" in client.get("/sources").text
    nd.close()


def test_a_source_added_through_the_api_is_polled_at_once(tmp_path: Path) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wake Wire</title>'
        b"<link>http://wire/</link></channel></rss>"
    )
    with LoopbackServer({"/feed.xml": Reply(body=body, content_type=RSS)}) as server:
        nd = make_nd(tmp_path)
        admin = bearer(nd, "admin")
        desk = Desk(nd, OutputTargets(), check_s=60.0)
        with TestClient(create_app(nd, include_web=False, desk=desk)) as client:
            time.sleep(1.0)  # the desk's first look (nothing due) is over; it now sleeps for 60 s
            feed = {"url": server.url("/feed.xml"), "allowLoopback": True}
            added = client.post(f"{BASE}/sources", json=feed, headers=admin)
            assert added.status_code == 201, added.text
            started = time.monotonic()
            while server.hits("/feed.xml") == 0 and time.monotonic() - started < WOKEN_WITHIN_S:
                time.sleep(0.1)
            assert server.hits("/feed.xml") == 1, "the new source was not polled on the wake-up"
        assert not desk.alive
        nd.close()


def _wire(title: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://wire/</link></channel></rss>"
    ).encode()


def test_four_sources_added_in_a_row_are_polled_in_one_cycle(tmp_path: Path) -> None:
    """Each addition wakes the desk; the wakes of a burst are gathered, so one cycle polls all four
    (without the gathering, the first wake's cycle polled the first feed and a second cycle the rest)."""
    paths = [f"/feed{i}.xml" for i in range(4)]
    with LoopbackServer({p: Reply(body=_wire(p), content_type=RSS) for p in paths}) as server:
        nd = make_nd(tmp_path)
        admin = bearer(nd, "admin")
        desk = Desk(nd, OutputTargets(), check_s=60.0)
        with TestClient(create_app(nd, include_web=False, desk=desk)) as client:
            time.sleep(1.0)  # the desk's first look (nothing due) is over; it now sleeps for 60 s
            for path in paths:
                feed = {"url": server.url(path), "allowLoopback": True}
                assert client.post(f"{BASE}/sources", json=feed, headers=admin).status_code == 201
            deadline = time.monotonic() + WOKEN_WITHIN_S
            while desk.status.totals.get("sources_polled", 0) < 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            status = desk.status
        assert [server.hits(p) for p in paths] == [1, 1, 1, 1]
        assert (status.cycles, status.totals["sources_polled"]) == (1, 4)
        nd.close()


def test_stop_does_not_wait_out_the_gather_window(tmp_path: Path) -> None:
    env = quiet_env(tmp_path / "data", NEWSDESK_WORKERS="1", NEWSDESK_DESK_WAKE_GATHER_S="30")
    nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
    assert nd.sources.list() == []  # the store opened (and migrated) here, before the desk's threads
    desk = Desk(nd, OutputTargets(), check_s=60.0)
    desk.start()
    time.sleep(1.0)  # the first look is over: the next wake starts a 30 s gather window
    nd.sources.add(Source(url="https://wire.example.com/rss"))  # wakes the desk
    time.sleep(0.3)
    started = time.monotonic()
    assert desk.stop(timeout=10.0), "the desk did not stop"
    assert time.monotonic() - started < 5.0, "stop waited out the gather window"
    assert desk.status.cycles == 0  # stopped before the gathered cycle began
    nd.close()
