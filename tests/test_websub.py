"""WebSub against a small hub written here and run on loopback: the hub verifies intent at newsdesk's
callback (real HTTP, the whole app under uvicorn), then pushes a signed feed document; also a bad
signature, a hub that fails (polling goes on), a lapsed lease (renewed), and newsdesk as a publisher
(its feeds declare the hub, which is pinged when the published records change)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Provider, Source, now
from newsdesk.sources.feeds import discover_hubs
from newsdesk.websub import WebSub, signature_ok
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

WAIT_S = 20.0


def rss(hub: str, self_url: str, *titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://pushed.example/{t.replace(' ', '-')}</link>"
        f"<description>About {t}.</description><pubDate>Sat, 05 Dec 2026 10:00:00 GMT</pubDate></item>"
        for t in titles
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f'<title>Pushy</title><link>https://pushed.example/</link><atom:link rel="hub" href="{hub}"/>'
        f'<atom:link rel="self" href="{self_url}"/>{items}</channel></rss>'
    ).encode()


@dataclass
class Hub:
    """A minimal WebSub hub: records every POST; on a subscribe it answers 202 (or ``fail_with``), then
    verifies intent at the callback and, when the challenge comes back, pushes ``push_body`` signed
    with the subscriber's secret (or with ``signature`` when that is set). On an unsubscribe it answers
    202 and verifies that intent too (``unsubscribed`` records whether the challenge came back)."""

    push_bodies: list[bytes] = field(default_factory=list)
    signature: Callable[[str, bytes], str | None] | None = None
    fail_with: int | None = None
    lease: str = "3600"
    posts: list[dict[str, str]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)  # status of each push
    unsubscribed: list[bool] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub"

    def handle(self, form: dict[str, str]) -> int:
        self.posts.append(form)
        if self.fail_with is not None:
            return self.fail_with
        if form.get("hub.mode") == "subscribe":
            threading.Thread(target=self._verify_then_push, args=(form,), daemon=True).start()
        if form.get("hub.mode") == "unsubscribe":
            threading.Thread(target=self._verify_unsubscribe, args=(form,), daemon=True).start()
        return 202

    def _verify_unsubscribe(self, form: dict[str, str]) -> None:
        challenge = secrets.token_hex(8)
        params = {"hub.mode": "unsubscribe", "hub.topic": form["hub.topic"], "hub.challenge": challenge}
        answer = httpx.get(form["hub.callback"], params=params)
        self.unsubscribed.append(answer.status_code == 200 and answer.text == challenge)

    def _verify_then_push(self, form: dict[str, str]) -> None:
        challenge = secrets.token_hex(8)
        params = {"hub.mode": "subscribe", "hub.topic": form["hub.topic"], "hub.challenge": challenge,
                  "hub.lease_seconds": self.lease}  # fmt: skip
        answer = httpx.get(form["hub.callback"], params=params)
        ok = answer.status_code == 200 and answer.text == challenge
        self.verified.append(ok)
        for body in self.push_bodies if ok else []:
            sign = self.signature or (lambda secret, data: "sha256=" + _hmac(secret, data, hashlib.sha256))
            headers = {"Content-Type": "application/rss+xml"}
            if (value := sign(form["hub.secret"], body)) is not None:
                headers["X-Hub-Signature"] = value
            self.pushed.append(httpx.post(form["hub.callback"], content=body, headers=headers).status_code)


def _hmac(secret: str, body: bytes, algorithm: Callable[..., object]) -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()  # type: ignore[arg-type]


@contextmanager
def running(hub: Hub) -> Iterator[Hub]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self.send_response(hub.handle(form))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def desk(tmp_path: Path, database_url: str = "", **settings: str) -> Iterator[Newsdesk]:
    """A desk whose app is served on loopback at its ``public_url``."""
    port = _free_port()
    env = quiet_env(
        tmp_path / "data",
        database_url,
        NEWSDESK_FETCH_PAGES="0",
        NEWSDESK_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    env |= {f"NEWSDESK_{k.upper()}": v for k, v in settings.items()}
    nd = Newsdesk(load_settings(env=env, base_dir=tmp_path))
    server = uvicorn.Server(uvicorn.Config(create_app(nd), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield nd
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        nd.close()


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def titles(nd: Newsdesk) -> set[str]:
    return {a.title for a in nd.store.iter_articles()}


def feed_source(nd: Newsdesk, site: LoopbackServer) -> Source:
    return nd.sources.add(Source(site.url("/feed"), name="Pushy", allow_loopback=True))


# ---------------------------------------------------------------------------------------- subscriber


def test_a_declared_hub_is_subscribed_verified_and_its_signed_push_ingested(
    tmp_path: Path, store_url: str
) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path, store_url) as nd:
        topic = site.url("/feed")
        hub.push_bodies = [rss(hub.url, topic, "Pushed story")]
        site.route(
            "/feed", Reply(body=rss(hub.url, topic, "Polled story"), content_type="application/rss+xml")
        )
        source = feed_source(nd, site)
        websub = WebSub(nd)
        assert websub.tend([]) == []
        wait_for(lambda: nd.store.get_source(source.id or 0).health.last_polled_at is not None)
        wait_for(lambda: len(hub.pushed) == 1)  # the hub notes the answer after the ingest may have begun
        assert "Pushed story" in titles(nd)
        (form,) = hub.posts
        assert form["hub.mode"] == "subscribe" and form["hub.topic"] == topic
        assert form["hub.callback"].startswith(nd.settings.public_url + "/api/v1/websub/")
        assert len(form["hub.secret"]) >= 32 and form["hub.lease_seconds"] == str(nd.settings.websub_lease_s)
        assert hub.verified == [True] and hub.pushed == [202]
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["state"] == "active" and row["pushes"] == 1
        assert row["lease_s"] == 3600  # the hub's lease, not the one asked for
        pushed = nd.store.get_source(source.id or 0)
        assert websub.to_poll([pushed]) == []  # push-fed: not polled again today
        assert site.hits("/feed") == 1  # the discovery GET only: the push needed no fetch
        assert "Polled story" not in titles(nd)


def test_a_bad_or_missing_signature_is_acknowledged_and_ignored(tmp_path: Path) -> None:
    forged = rss("x", "x", "Forged story")
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        good = rss(hub.url, topic, "Genuine story")
        garbage = b"<html>not a feed</html>"  # signed, but unreadable: recorded, nothing stored
        hub.push_bodies = [forged, forged, forged, garbage, good]
        bad = iter([f"sha256={'0' * 64}", None, "md5=" + hashlib.md5(forged).hexdigest()])

        def sign(secret: str, body: bytes) -> str | None:
            return next(bad) if body is forged else "sha1=" + _hmac(secret, body, hashlib.sha1)

        hub.signature = sign
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        WebSub(nd).tend([])
        wait_for(lambda: "Genuine story" in titles(nd) and len(hub.pushed) == 5)
        wait_for(lambda: bool(nd.store.events(source_id=source.id)))  # the pushes may finish in any order
        assert hub.pushed == [202, 202, 202, 202, 202]
        assert titles(nd) == {"Genuine story"}
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["pushes"] == 2
        assert [e["kind"] for e in nd.store.events(source_id=source.id)] == ["parse"]


def test_a_push_over_the_body_cap_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        WebSub(nd).tend([])
        wait_for(lambda: hub.verified == [True])
        huge = rss(hub.url, topic, "Huge story") + b" " * 1_100_000
        signature = "sha256=" + _hmac(hub.posts[0]["hub.secret"], huge, hashlib.sha256)
        answer = httpx.post(
            hub.posts[0]["hub.callback"], content=huge, headers={"X-Hub-Signature": signature}
        )
        assert answer.status_code == 413
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["pushes"] == 0 and titles(nd) == set()


def test_the_challenge_is_echoed_only_for_a_subscription_we_asked_for(tmp_path: Path) -> None:
    with running(Hub(lease="60")) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        WebSub(nd).tend([])
        wait_for(lambda: hub.verified == [True])
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None
        callback = hub.posts[0]["hub.callback"]
        asks = [
            (callback, {"hub.mode": "subscribe", "hub.topic": "http://elsewhere.example/", "hub.challenge": "c"}),
            (callback, {"hub.mode": "unsubscribe", "hub.topic": topic, "hub.challenge": "c"}),
            (callback.rsplit("/", 1)[0] + "/not-a-key", {"hub.mode": "subscribe", "hub.topic": topic,
                                                         "hub.challenge": "c"}),
        ]  # fmt: skip
        for url, params in asks:
            answer = httpx.get(url, params=params)
            assert answer.status_code == 404 and answer.text != "c"
        assert httpx.post(callback.rsplit("/", 1)[0] + "/not-a-key", content=b"x").status_code == 410
        assert nd.store.websub_subscription(source.id or 0) == row  # nothing changed


def test_removing_a_source_unsubscribes_it_at_the_hub(tmp_path: Path, store_url: str) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path, store_url) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        WebSub(nd).tend([])
        wait_for(lambda: hub.verified == [True])
        callback, secret = hub.posts[0]["hub.callback"], hub.posts[0]["hub.secret"]
        assert nd.sources.remove(source.id or 0).id == source.id
        wait_for(lambda: bool(hub.unsubscribed))
        assert hub.posts[1] == {"hub.mode": "unsubscribe", "hub.topic": topic, "hub.callback": callback}
        assert hub.unsubscribed == [True]  # the hub's verification GET got its challenge back
        assert nd.sources.list() == [] and nd.store.websub_subscriptions() == []
        subscribe = {"hub.mode": "subscribe", "hub.topic": topic, "hub.challenge": "c"}
        assert httpx.get(callback, params=subscribe).status_code == 404  # not re-subscribed by a hub
        late = rss(hub.url, topic, "Late story")
        signed = {"X-Hub-Signature": "sha256=" + _hmac(secret, late, hashlib.sha256)}
        assert httpx.post(callback, content=late, headers=signed).status_code == 410
        assert titles(nd) == set()


def test_a_hub_that_fails_the_unsubscribe_does_not_stop_the_removal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        WebSub(nd).tend([])
        wait_for(lambda: hub.verified == [True])
        hub.fail_with = 503
        with caplog.at_level("WARNING", logger="newsdesk.websub"):
            nd.sources.remove(source.id or 0)
        assert [p["hub.mode"] for p in hub.posts] == ["subscribe", "unsubscribe"]
        assert nd.sources.list() == [] and hub.unsubscribed == []
        [failed] = [r for r in caplog.records if r.getMessage() == "websub unsubscribe failed"]
        assert "503" in str(getattr(failed, "error", ""))


def test_a_failing_hub_leaves_the_source_on_its_polling_schedule(tmp_path: Path) -> None:
    with running(Hub(fail_with=500)) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route(
            "/feed", Reply(body=rss(hub.url, topic, "Polled story"), content_type="application/rss+xml")
        )
        source = feed_source(nd, site)
        websub = WebSub(nd)
        due = nd.store.due_sources(now())
        assert websub.tend(due) == due  # the hub failed: polled as usual
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["state"] == "failed" and "500" in row["error"]
        nd.run(sources=websub.to_poll(due))
        assert "Polled story" in titles(nd)
        websub.tend([])
        assert len(hub.posts) == 1  # retried only after RECHECK["failed"], not every step


def test_a_lapsed_lease_falls_back_to_polling_and_is_renewed(tmp_path: Path) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        websub = WebSub(nd)
        websub.tend([])
        wait_for(lambda: hub.verified == [True])
        nd.run(sources=[nd.store.get_source(source.id or 0)])  # a poll: last_polled_at is now
        polled = nd.store.get_source(source.id or 0)
        assert websub.to_poll([polled]) == []
        an_hour_ago = now() - timedelta(hours=1)
        nd.store.save_websub(
            source.id or 0, lease_expires_at=now() - timedelta(seconds=1), requested_at=an_hour_ago
        )
        assert websub.to_poll([polled]) == [polled]  # lapsed: back on the schedule
        websub.tend([])
        wait_for(lambda: hub.verified == [True, True])
        assert [p["hub.mode"] for p in hub.posts] == ["subscribe", "subscribe"]
        assert hub.posts[0]["hub.callback"] == hub.posts[1]["hub.callback"]
        assert websub.to_poll([polled]) == []


def test_a_lease_is_renewed_before_it_ends_with_the_same_secret(tmp_path: Path) -> None:
    with running(Hub()) as hub, LoopbackServer() as site, desk(tmp_path) as nd:
        topic = site.url("/feed")
        site.route("/feed", Reply(body=rss(hub.url, topic), content_type="application/rss+xml"))
        source = feed_source(nd, site)
        websub = WebSub(nd)
        websub.tend([])
        wait_for(lambda: hub.verified == [True])
        websub.tend([])
        assert len(hub.posts) == 1  # a fresh lease: nothing to renew
        ending = now() + timedelta(minutes=10)  # within RENEW_MARGIN
        hub.fail_with = 202  # accept the renewal but never verify it
        nd.store.save_websub(source.id or 0, lease_expires_at=ending, requested_at=now() - timedelta(hours=1))
        websub.tend([])
        assert [p["hub.mode"] for p in hub.posts] == ["subscribe", "subscribe"]
        assert hub.posts[1]["hub.secret"] == hub.posts[0]["hub.secret"]  # pushes in flight stay valid
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["state"] == "active"  # still leased until it ends
        websub.tend([])
        assert len(hub.posts) == 2  # asked a moment ago: not again every step


def test_a_feed_without_a_hub_is_remembered_and_not_fetched_every_step(tmp_path: Path) -> None:
    with LoopbackServer() as site, desk(tmp_path) as nd:
        body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Plain</title></channel></rss>'
        site.route("/feed", Reply(body=body, content_type="application/rss+xml"))
        source = feed_source(nd, site)
        websub = WebSub(nd)
        websub.tend([])
        websub.tend([])
        row = nd.store.websub_subscription(source.id or 0)
        assert row is not None and row["state"] == "none" and site.hits("/feed") == 1


@pytest.mark.parametrize(
    ("body", "header", "hubs", "topic"),
    [
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="/h"/>'
         b'<link rel="self" href="https://a.example/self"/></feed>', "", ("https://a.example/h",),
         "https://a.example/self"),
        (json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "j", "items": [],
                     "hubs": [{"type": "WebSub", "url": "https://hub.example/"}]}).encode(), "",
         ("https://hub.example/",), "https://a.example/feed"),
        (b"not a feed", '<https://hub.example/a>; rel="hub", <https://a.example/t>; rel="self"',
         ("https://hub.example/a",), "https://a.example/t"),
        (b"<rss><channel><title>x</title></channel></rss>", "", (), "https://a.example/feed"),
    ],
)  # fmt: skip
def test_hub_discovery(body: bytes, header: str, hubs: tuple[str, ...], topic: str) -> None:
    assert discover_hubs(body, "https://a.example/feed", link_header=header) == (hubs, topic)


def test_signature_methods() -> None:
    body = b"<rss/>"
    for name in ("sha1", "sha256", "sha384", "sha512"):
        good = f"{name}=" + hmac.new(b"s", body, name).hexdigest()
        assert signature_ok("s", body, good)
        assert not signature_ok("other", body, good)
    assert not signature_ok("s", body, None)
    assert not signature_ok("s", body, "md5=" + hmac.new(b"s", body, "md5").hexdigest())


# ----------------------------------------------------------------------------------------- publisher


def test_our_feeds_declare_the_hub_and_it_is_pinged_when_they_change(tmp_path: Path) -> None:
    with running(Hub()) as hub, desk(tmp_path, websub_hub="http://127.0.0.1:1/placeholder") as nd:
        nd.settings = nd.settings.with_values(websub_hub=hub.url)  # the hub's port is known only now
        base = nd.settings.public_url
        for ext in ("rss", "atom"):
            answer = httpx.get(f"{base}/api/v1/feeds/all.{ext}")
            assert discover_hubs(answer.content, str(answer.url))[0] == (hub.url,)
        document = httpx.get(f"{base}/api/v1/feeds/all.json").json()
        assert document["hubs"] == [{"type": "WebSub", "url": hub.url}]
        websub = WebSub(nd)
        websub.tend([])
        expected = [f"{base}/api/v1/feeds/all.{ext}" for ext in ("rss", "atom", "json")]
        assert [(p["hub.mode"], p["hub.url"]) for p in hub.posts] == [("publish", u) for u in expected]
        websub.tend([])
        assert len(hub.posts) == 3  # nothing changed: no ping
        saved = nd.store.save_article(
            Article(
                title="New",
                web_url="https://n.example/1",
                original_url="https://n.example/1",
                provider=Provider("N", "n.example"),
            )
        )
        nd.store.set_review_state(saved.id, "published")
        websub.tend([])
        assert len(hub.posts) == 6
