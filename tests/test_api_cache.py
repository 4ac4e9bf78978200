"""The response cache (``api/cache.py``) and ``serve --workers``: validators and 304s on what anonymous
readers see, a new answer after each change (made here or in another process), nothing kept for one
caller ever shown to another, each visitor's own CSRF token in a kept page, and several server
processes behind one socket sharing sessions, with the desk run once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.api.cache import STALE_S, STAMP_TTL_S, ResponseCache, cacheable_path
from newsdesk.api.workers import worker_count
from newsdesk.app import Newsdesk
from newsdesk.model import ReviewState
from newsdesk.web.context import Web, render
from newsdesk.web.routes import mount_static
from tests.conftest import quiet_env
from tests.readerapp import serve
from tests.test_api import article, make_desk, token
from tests.test_desk import cli, free_port, wait_for

BASE = "/api/v1"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    nd.store.save_article(article(1, review_state=ReviewState.PUBLISHED))
    nd.store.save_article(article(2))  # pending: only callers with a token see it
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk) -> Iterator[TestClient]:
    with TestClient(create_app(desk)) as c:
        yield c


def _titles(response: httpx.Response) -> set[str]:
    return {item["title"] for item in response.json()["items"]}


def test_etag_and_304_on_lists_articles_and_pages(client: TestClient, desk: Newsdesk) -> None:
    published = desk.store.find_article(article(1).web_url)
    assert published is not None
    for path in (
        f"{BASE}/articles?limit=5",
        f"{BASE}/articles/{published.id}",
        f"{BASE}/search?q=article",
        "/",
    ):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["etag"], path
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == first.headers["etag"]
        other = client.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content, path


def test_a_publish_gives_a_new_etag_and_the_new_content(client: TestClient, desk: Newsdesk) -> None:
    first = client.get(f"{BASE}/articles")
    assert _titles(first) == {"Article number 1"}
    pending = desk.store.find_article(article(2).web_url)
    assert pending is not None
    published = client.post(f"{BASE}/articles/{pending.id}/publish", headers=token(desk, "write"), json={})
    assert published.status_code == 200, published.text
    after = client.get(f"{BASE}/articles", headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != first.headers["etag"]
    assert _titles(after) == {"Article number 1", "Article number 2"}


PUBLISH_ELSEWHERE = (
    "import sys; from tests.test_api import make_desk; from pathlib import Path; "
    "from newsdesk.model import ReviewState; nd = make_desk(Path(sys.argv[1])); "
    "a = nd.store.find_article(sys.argv[2]); nd.store.set_review_state(a.id, ReviewState.PUBLISHED)"
)


def _publish_elsewhere(tmp_path: Path, number: int) -> None:
    """Publish ``article(number)`` from another process (as the desk, or another server, would)."""
    command = [sys.executable, "-c", PUBLISH_ELSEWHERE, str(tmp_path), article(number).web_url]
    subprocess.run(command, check=True, cwd=Path.cwd())


def test_a_change_made_by_another_process_shows(client: TestClient, desk: Newsdesk, tmp_path: Path) -> None:
    """The desk writes in one process, the API answers in another: once the stamp the other process
    moved is read (within STAMP_TTL_S), the kept list is stale: served while it is made anew, never
    past STALE_S."""
    assert _titles(client.get(f"{BASE}/articles")) == {"Article number 1"}
    _publish_elsewhere(tmp_path, 2)
    time.sleep(STAMP_TTL_S + STALE_S + 0.05)
    assert _titles(client.get(f"{BASE}/articles")) == {"Article number 1", "Article number 2"}


def test_no_cache_gets_the_change_at_once(client: TestClient, desk: Newsdesk, tmp_path: Path) -> None:
    """A client that asks for a checked answer (the live UI's refetch) never gets a stale one."""
    first = client.get(f"{BASE}/articles")
    _publish_elsewhere(tmp_path, 2)
    fresh = client.get(f"{BASE}/articles", headers={"Cache-Control": "no-cache"})
    assert _titles(fresh) == {"Article number 1", "Article number 2"}
    assert fresh.headers["etag"] != first.headers["etag"]
    assert _titles(client.get(f"{BASE}/articles")) == {"Article number 1", "Article number 2"}


def test_nothing_kept_for_one_caller_reaches_another(client: TestClient, desk: Newsdesk) -> None:
    anonymous = client.get(f"{BASE}/articles")  # kept: the published list
    editor = token(desk, "read", "ana")
    assert _titles(client.get(f"{BASE}/articles", headers=editor)) == {"Article number 1", "Article number 2"}
    assert "etag" not in client.get(f"{BASE}/articles", headers=editor).headers  # never from the cache
    again = client.get(f"{BASE}/articles")
    assert _titles(again) == {"Article number 1"} and again.headers["etag"] == anonymous.headers["etag"]
    with_token = client.get(
        f"{BASE}/articles", headers={**editor, "If-None-Match": anonymous.headers["etag"]}
    )
    assert with_token.status_code == 200  # a validator never stands in for the caller's own answer
    ids = {a.title: a.id for a in desk.store.iter_articles()}
    assert client.get(f"{BASE}/articles/{ids['Article number 2']}").status_code == 404
    assert client.get(f"{BASE}/articles/{ids['Article number 2']}", headers=editor).status_code == 200


def test_a_revoked_token_is_refused_even_where_an_answer_is_kept(client: TestClient, desk: Newsdesk) -> None:
    token_id, secret = desk.tokens.create("gone", "read")
    header = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{BASE}/articles", headers=header).status_code == 200
    client.get(f"{BASE}/articles")
    desk.tokens.revoke(token_id)
    assert client.get(f"{BASE}/articles", headers=header).status_code == 401


def test_an_editors_pages_are_never_kept_nor_shown_to_readers(client: TestClient, desk: Newsdesk) -> None:
    _, secret = desk.tokens.create("ed", "write")
    reader = TestClient(client.app)
    assert "Article number 2" not in reader.get("/").text  # kept for anonymous readers
    csrf = CSRF_INPUT.search(client.get("/login").text)
    assert csrf is not None
    signed = client.post(
        "/login", data={"token": secret, "csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert signed.status_code == 303
    editors = client.get("/")
    assert "Article number 2" in editors.text and "etag" not in editors.headers
    assert "Article number 2" not in reader.get("/").text


def test_each_visitor_gets_their_own_csrf_token_in_a_kept_page(desk: Newsdesk) -> None:
    """No reader's page holds a form today, so a page that does (the sign-in form, at a path the cache
    keeps) is served through the real cache and the real renderer."""
    app = FastAPI()
    app.state.newsdesk = desk

    @app.get("/articles/with-a-form")
    def with_a_form(request: Request, web: Web) -> HTMLResponse:
        return render(request, web, "login.html", next="/", error=None)

    mount_static(app)
    app.add_middleware(ResponseCache, stamp=desk.catalog.change_stamp, local=desk.catalog.local_changes)
    first, second = TestClient(app), TestClient(app)
    pages = [visitor.get("/articles/with-a-form") for visitor in (first, first, second)]
    tokens = [CSRF_INPUT.findall(page.text) for page in pages]
    assert all(tokens) and pages[1].headers["etag"] == pages[2].headers["etag"]  # one kept page
    assert set(tokens[0]) == set(tokens[1]) == {first.cookies["nd_csrf"]}
    assert set(tokens[2]) == {second.cookies["nd_csrf"]} and tokens[2] != tokens[0]
    assert "\x00" not in pages[2].text
    assert "set-cookie" not in pages[1].headers  # the first visitor holds theirs already


def test_an_answer_being_made_is_made_once(desk: Newsdesk) -> None:
    """Clients that ask at once for an answer nobody holds yet (the front page, just after a change)
    wait for the one being made."""
    app = FastAPI()
    made: list[int] = []

    @app.get("/articles/slow")
    async def slow() -> HTMLResponse:
        made.append(1)
        await asyncio.sleep(0.2)  # long enough for the other requests to arrive meanwhile
        return HTMLResponse("<p>made</p>")

    app.add_middleware(ResponseCache, stamp=desk.catalog.change_stamp, local=desk.catalog.local_changes)

    async def ask_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.get("/articles/slow") for _ in range(5)))

    answers = asyncio.run(ask_at_once())
    assert [a.text for a in answers] == ["<p>made</p>"] * 5 and len(made) == 1
    assert len({a.headers["etag"] for a in answers}) == 1


class Versioned:
    """An app whose one page says which version of the store it was made under, with a stamp and a
    count of this process's own changes the test moves, and each making held until the test lets it
    finish (so what a request gets does not depend on the machine's speed)."""

    def __init__(self, *, stale: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.version, self.own, self.made = 1, 0, list[int]()
        self.release = asyncio.Event()
        app = FastAPI()

        @app.get("/articles/page")
        async def page() -> HTMLResponse:
            version = self.version
            self.made.append(version)
            if version > 1:
                await self.release.wait()
            return HTMLResponse(f"<p>v{version}</p>")

        app.add_middleware(
            ResponseCache,
            stamp=lambda: self.version,
            local=lambda: self.own,
            ttl=0.0,
            stale=stale,
            clock=clock,
        )
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def get(self, **headers: str) -> str:
        answer = await asyncio.wait_for(self.client.get("/articles/page", headers=headers), timeout=10)
        return answer.text


def test_a_stale_answer_is_served_while_the_new_one_is_made() -> None:
    async def scenario(site: Versioned) -> None:
        assert await site.get() == "<p>v1</p>"
        site.version = 2  # another process changed the store
        assert await site.get() == "<p>v1</p>" and site.made == [1]  # asked once: served, not made
        assert await site.get() == "<p>v1</p>"  # asked again: made in the background, served stale
        assert await site.get() == "<p>v1</p>"
        assert await site.get() == "<p>v1</p>" and site.made == [1, 2]  # one making, not one each
        site.release.set()
        for _ in range(100):
            if await site.get() == "<p>v2</p>":
                break
            await asyncio.sleep(0.01)
        assert await site.get() == "<p>v2</p>" and site.made == [1, 2]

    site = Versioned(stale=60.0)
    asyncio.run(scenario(site))


def test_a_stale_answer_is_never_served_past_its_window() -> None:
    """On the cache's own clock, moved by the test: a loaded machine's pause between two requests
    (0.1 s at load 20) must not close the window before the test means it to."""
    now = [0.0]

    async def scenario(site: Versioned) -> None:
        assert await site.get() == "<p>v1</p>"
        site.version = 2
        assert await site.get() == "<p>v1</p>"  # inside the window: served stale
        now[0] += 0.15  # past the window: the next request waits for the new answer
        waiting = asyncio.create_task(site.get())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        site.release.set()
        assert await waiting == "<p>v2</p>"

    asyncio.run(scenario(Versioned(stale=0.1, clock=lambda: now[0])))


def test_no_stale_answer_after_this_process_changed_or_the_client_asks() -> None:
    async def own_change(site: Versioned) -> None:
        assert await site.get() == "<p>v1</p>"
        site.version, site.own = 2, 1  # this process wrote: its readers see it at once
        site.release.set()
        assert await site.get() == "<p>v2</p>"

    async def no_cache(site: Versioned) -> None:
        assert await site.get() == "<p>v1</p>"
        site.version = 2
        site.release.set()
        assert await site.get(**{"Cache-Control": "no-cache"}) == "<p>v2</p>"

    asyncio.run(own_change(Versioned(stale=60.0)))
    asyncio.run(no_cache(Versioned(stale=60.0)))


def test_over_loopback_a_change_shows_within_the_bound(desk: Newsdesk, tmp_path: Path) -> None:
    """Real HTTP: readers keep asking while another process publishes; the new list reaches them
    within STAMP_TTL_S + STALE_S (and the time it takes to make), and nobody gets the old one after."""
    with serve(desk) as base, httpx.Client(base_url=base) as reader:
        assert _titles(reader.get(f"{BASE}/articles")) == {"Article number 1"}
        _publish_elsewhere(tmp_path, 2)
        started = time.monotonic()
        while _titles(reader.get(f"{BASE}/articles")) != {"Article number 1", "Article number 2"}:
            assert time.monotonic() - started < STAMP_TTL_S + STALE_S + 1.0, "still the old list"
            time.sleep(0.02)
        after = [_titles(reader.get(f"{BASE}/articles")) for _ in range(20)]
        assert all(titles == {"Article number 1", "Article number 2"} for titles in after)


def test_only_the_readers_routes_are_kept() -> None:
    kept = ["/", "/topics", "/topics/AI", "/articles/3", "/search", f"{BASE}/articles", f"{BASE}/articles/3"]
    kept += [f"{BASE}/articles/3/record.md", f"{BASE}/search", f"{BASE}/stories/2", f"{BASE}/topics"]
    never = [f"{BASE}/articles/3/secured", f"{BASE}/sources", f"{BASE}/review", "/review", "/sources"]
    never += ["/stats", "/live/stamp", "/metrics", f"{BASE}/feeds/all.xml", "/login", "/reader/api/0/stream"]
    assert all(cacheable_path(p) for p in kept)
    assert not any(cacheable_path(p) for p in never)


def test_worker_count_follows_the_cores() -> None:
    assert worker_count(3) == 3
    assert worker_count(0) == (os.cpu_count() or 1)


def test_serve_with_workers_shares_sessions(tmp_path: Path) -> None:
    """``serve --workers 2``: two front-end processes behind one port (the desk in their supervisor). An
    editor signed in by one worker stays signed in whichever answers next."""
    env = os.environ | quiet_env(tmp_path / "data")
    cli(env, "init")
    secret = cli(env, "token", "create", "ed", "--scope", "write").split()[-1]
    port = free_port()
    command = [sys.executable, "-m", "newsdesk", "serve", "--port", str(port), "--workers", "2"]
    service = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("the workers", lambda: len(_workers(service.pid)) >= 2 and _ready(base))
        assert len(_workers(service.pid)) == 2
        with httpx.Client(base_url=base) as browser:
            csrf = CSRF_INPUT.search(browser.get("/login").text)
            assert csrf is not None
            signed = browser.post("/login", data={"token": secret, "csrf_token": csrf.group(1)})
            assert signed.status_code in (200, 303)
            answers = [browser.get("/review", follow_redirects=False) for _ in range(20)]
            assert [a.status_code for a in answers] == [200] * 20  # never sent back to sign in
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)


def _workers(pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes (spawned), not the desk's extraction pool."""
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
