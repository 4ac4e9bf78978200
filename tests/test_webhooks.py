"""Webhooks end to end: an editorial decision becomes a signed POST to a real receiver on loopback, which
fails (500), times out, and succeeds; retries, the dead-letter state, redelivery by hand, durability
across a restart, and the SSRF guard on webhook URLs. Real store (SQLite and PostgreSQL), real HTTP."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsdesk import events
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.errors import NewsdeskError
from newsdesk.model import Article, Provider
from newsdesk.webhooks import HEADER, verify
from newsdesk.webhooks.delivery import MAX_DELAY_S, retry_delay
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_desk(root: Path, database_url: str = "", **settings: str) -> Newsdesk:
    env = quiet_env(root / "data", database_url, NEWSDESK_WEBHOOK_RETRY_BASE="0") | {
        f"NEWSDESK_{k.upper()}": v for k, v in settings.items()
    }
    return Newsdesk(load_settings(env=env, base_dir=root))


@pytest.fixture
def desk(tmp_path: Path, store_url: str) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url, webhook_max_attempts="3", webhook_timeout="0.5")
    yield nd
    nd.close()


def _article(nd: Newsdesk, n: int = 1) -> int:
    article = Article(
        title=f"Banks adopt AI {n}", web_url=f"https://a.example.com/{n}", original_url=f"https://a.example.com/{n}",
        provider=Provider("A", "a.example.com"), published_at=T0, topics=("AI",),
    )  # fmt: skip
    saved = nd.store.save_article(article).id
    assert saved is not None
    return saved


def _deliver(nd: Newsdesk) -> dict[str, int]:
    return asyncio.run(nd.webhooks.deliverer().deliver_due())


def test_a_publish_is_posted_signed_with_the_documented_scheme(desk: Newsdesk) -> None:
    with LoopbackServer({"/hook": Reply(status=204)}) as receiver:
        hook_id, secret = desk.webhooks.add(receiver.url("/hook"), ["publish", "reject"], allow_private=True)
        article_id = _article(desk)
        assert desk.editorial.publish(article_id, actor="ed", reason="on the beat")
        assert _deliver(desk) == {"delivered": 1, "retry": 0, "dead": 0}
        [seen] = receiver.requests
    assert seen.method == "POST" and seen.headers["x-newsdesk-event"] == "publish"
    assert verify(secret, seen.headers[HEADER.lower()], seen.body, at=int(time.time()))
    assert not verify(secret, seen.headers[HEADER.lower()], seen.body + b" ", at=int(time.time()))
    assert not verify("whsec_other", seen.headers[HEADER.lower()], seen.body, at=int(time.time()))
    assert not verify(secret, seen.headers[HEADER.lower()], seen.body, at=int(time.time()) + 301)  # replayed
    body = json.loads(seen.body)
    assert body["event"] == "publish" and body["data"]["article"]["id"] == article_id
    assert body["data"]["article"]["published"] is True and body["data"]["actor"] == "ed"
    [logged] = desk.webhooks.deliveries(webhook_id=hook_id)
    assert (logged["state"], logged["attempts"], logged["last_status"]) == ("delivered", 1, 204)
    assert _deliver(desk)["delivered"] == 0  # delivered once, never again


def test_a_failing_receiver_is_retried_then_dead_then_redelivered_by_hand(desk: Newsdesk) -> None:
    answers = [500, 500, 500, 200]

    def receive(seen: Seen) -> Reply:
        return Reply(status=answers.pop(0))

    with LoopbackServer({"/hook": receive}) as receiver:
        desk.webhooks.add(receiver.url("/hook"), ["reject"], allow_private=True)
        desk.editorial.reject(_article(desk), actor="ed", reason="off topic")
        outcomes = [_deliver(desk) for _ in range(4)]
        assert [o["retry"] for o in outcomes] == [1, 1, 0, 0]
        assert outcomes[2]["dead"] == 1 and outcomes[3] == {"delivered": 0, "retry": 0, "dead": 0}
        [dead] = desk.webhooks.deliveries(state="dead")
        assert (dead["attempts"], dead["last_status"], dead["last_error"]) == (3, 500, "HTTP 500")
        again = desk.webhooks.redeliver(dead["id"])
        assert (again["state"], again["attempts"]) == ("pending", 0)
        assert _deliver(desk)["delivered"] == 1
        assert receiver.hits("/hook") == 4
        bodies = {seen.body for seen in receiver.requests}
    assert len(bodies) == 1  # every attempt sends the same bytes


def test_a_receiver_that_times_out_is_a_failed_attempt(desk: Newsdesk) -> None:
    with LoopbackServer({"/slow": Reply(status=200, delay=2.0)}) as receiver:
        desk.webhooks.add(receiver.url("/slow"), ["publish"], allow_private=True)
        desk.editorial.publish(_article(desk), actor="ed")
        started = time.perf_counter()
        assert _deliver(desk)["retry"] == 1
        assert time.perf_counter() - started < 1.8
    [logged] = desk.webhooks.deliveries()
    assert logged["state"] == "pending" and logged["last_status"] is None
    assert "timed out" in logged["last_error"]


def test_a_delivery_queued_before_a_restart_is_sent_after_it(tmp_path: Path, store_url: str) -> None:
    with LoopbackServer({"/hook": Reply(status=200)}) as receiver:
        first = make_desk(tmp_path, store_url)
        first.webhooks.add(receiver.url("/hook"), ["publish"], allow_private=True)
        first.editorial.publish(_article(first), actor="ed")
        first.close()  # the process ends before the worker ran
        assert receiver.requests == []
        second = make_desk(tmp_path, store_url)
        try:
            assert _deliver(second)["delivered"] == 1
        finally:
            second.close()
        assert receiver.hits("/hook") == 1


def test_the_desk_sends_deliveries_off_the_request_path(desk: Newsdesk) -> None:
    """``newsdesk serve`` runs the desk; its delivery worker sends what a decision queued."""
    from newsdesk.desk import Desk, OutputTargets

    with LoopbackServer({"/hook": Reply(status=200)}) as receiver:
        desk.webhooks.add(receiver.url("/hook"), ["publish"], allow_private=True)
        service = Desk(desk, OutputTargets())
        service.start()
        try:
            assert service.webhooks.alive
            desk.editorial.publish(_article(desk), actor="ed")
            deadline = time.monotonic() + 10
            while receiver.hits("/hook") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            assert service.stop()
        assert receiver.hits("/hook") == 1 and not service.webhooks.alive


def test_a_private_target_needs_the_admin_flag(desk: Newsdesk) -> None:
    with pytest.raises(NewsdeskError, match="loopback"):
        desk.webhooks.add("http://127.0.0.1:9/hook", ["publish"])
    assert desk.store.list_webhooks() == []
    with LoopbackServer({"/hook": Reply(status=200)}) as receiver:
        # a name that resolves to loopback passes the early check; the connect-time guard refuses it
        desk.webhooks.add(receiver.url("/hook").replace("127.0.0.1", "localhost"), ["publish"])
        desk.editorial.publish(_article(desk), actor="ed")
        assert _deliver(desk)["retry"] == 1
        assert receiver.requests == []
    [logged] = desk.webhooks.deliveries()
    assert "loopback" in logged["last_error"]


@pytest.mark.parametrize(
    ("url", "kinds", "message"),
    [
        ("ftp://example.com/hook", ["publish"], "http"),
        ("https://example.com/hook", ["published"], "events must be"),
        ("https://example.com/hook", [], "events must be"),
        ("https://example.com/" + "a" * 3000, ["publish"], "longer than"),
    ],
)
def test_bad_webhooks_are_refused_and_nothing_is_stored(
    desk: Newsdesk, url: str, kinds: list[str], message: str
) -> None:
    with pytest.raises(NewsdeskError, match=message):
        desk.webhooks.add(url, kinds)
    assert desk.store.list_webhooks() == []


def test_only_subscribed_webhooks_get_an_event_and_removal_drops_the_log(desk: Newsdesk) -> None:
    hooks = desk.webhooks
    publish_id, _ = hooks.add("https://hooks.example.com/p", ["publish"])
    story_id, _ = hooks.add("https://hooks.example.com/s", ["story"])
    assert events.emit(desk.store, "story", {"story": {"id": 1}}) == 1
    assert [d["webhook_id"] for d in hooks.deliveries()] == [story_id]
    hooks.remove(story_id)
    assert hooks.deliveries() == [] and [w["id"] for w in hooks.list()] == [publish_id]
    assert "secret" not in hooks.list()[0]
    with pytest.raises(NewsdeskError):
        hooks.remove(story_id)


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(MAX_DELAY_S, 30.0 * 2 ** (attempt - 1))
        delay = retry_delay(attempt, 30.0, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert {round(retry_delay(3, 30.0, rng)) for _ in range(20)} != {60}  # jittered, not fixed


def test_a_claimed_delivery_is_not_sent_twice(desk: Newsdesk) -> None:
    desk.webhooks.add("https://hooks.example.com/p", ["publish"])
    events.emit(desk.store, "publish", {"article": {"id": 1}})
    [due] = desk.store.due_deliveries(datetime.now(UTC) + timedelta(seconds=1), 10)
    lease = datetime.now(UTC) + timedelta(minutes=1)
    assert desk.store.claim_delivery(due["id"], due["next_attempt_at"], lease)
    assert not desk.store.claim_delivery(due["id"], due["next_attempt_at"], lease)


# ------------------------------------------------------------------------------------------------ the API


def test_the_api_manages_webhooks_and_shows_the_secret_once(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from newsdesk.api import create_app

    nd = make_desk(tmp_path, webhook_max_attempts="1")
    admin = {"Authorization": "Bearer " + nd.tokens.create("admin", "admin")[1]}
    base = "/api/v1"
    try:
        with (
            TestClient(create_app(nd, include_web=False)) as client,
            LoopbackServer({"/h": Reply(status=500)}) as receiver,
        ):
            made = client.post(
                f"{base}/webhooks",
                json={"url": receiver.url("/h"), "events": ["publish"], "allowPrivate": True},
                headers=admin,
            )
            assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
            hook = made.json()["id"]
            assert "secret" not in client.get(f"{base}/webhooks", headers=admin).json()["items"][0]
            nd.editorial.publish(_article(nd), actor="ed")
            assert _deliver(nd)["dead"] == 1
            log = client.get(f"{base}/webhooks/{hook}/deliveries", headers=admin).json()["items"]
            assert [(d["state"], d["lastStatus"]) for d in log] == [("dead", 500)]
            again = client.post(f"{base}/deliveries/{log[0]['id']}/redeliver", headers=admin)
            assert again.status_code == 200 and again.json()["state"] == "pending"
            receiver.route("/h", Reply(status=200))
            assert _deliver(nd)["delivered"] == 1
            assert client.get(f"{base}/webhooks/{hook}/deliveries?state=delivered", headers=admin).json()[
                "items"
            ]
            bad = [
                ({"url": "https://x.example.com/h", "events": ["nope"]}, 422),
                ({"url": "https://x.example.com/h", "events": []}, 422),
                ({"url": "file:///etc/passwd", "events": ["publish"]}, 422),
                ({"url": "http://10.0.0.1/h", "events": ["publish"]}, 400),
                ({"url": "https://x.example.com/h", "events": ["publish"], "secret": "mine"}, 422),
            ]
            for body, status in bad:
                assert client.post(f"{base}/webhooks", json=body, headers=admin).status_code == status, body
            huge = {"url": "https://x.example.com/h", "events": ["publish"] * 400_000}
            assert client.post(f"{base}/webhooks", json=huge, headers=admin).status_code == 413
            assert client.get(f"{base}/webhooks/999/deliveries", headers=admin).status_code == 404
            assert client.post(f"{base}/deliveries/999/redeliver", headers=admin).status_code == 404
            assert (
                client.get(f"{base}/webhooks/{hook}/deliveries?state=lost", headers=admin).status_code == 422
            )
            assert client.delete(f"{base}/webhooks/{hook}", headers=admin).status_code == 200
            assert client.delete(f"{base}/webhooks/{hook}", headers=admin).status_code == 404
        assert nd.store.list_webhooks() == [] and nd.store.list_deliveries() == []
    finally:
        nd.close()


def test_the_webhook_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from newsdesk.cli import app

    for key, value in quiet_env(tmp_path / "data", NEWSDESK_WEBHOOK_MAX_ATTEMPTS="1").items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    with LoopbackServer({"/h": Reply(status=503)}) as receiver:
        refused = runner.invoke(app, ["webhook", "add", receiver.url("/h"), "--events", "publish"])
        assert refused.exit_code == 1 and "loopback" in refused.output
        made = runner.invoke(
            app,
            ["webhook", "add", receiver.url("/h"), "--events", "publish,story", "--allow-private", "--json"],
        )
        assert made.exit_code == 0, made.output
        assert json.loads(made.stdout)["secret"].startswith("whsec_")
        assert (
            runner.invoke(app, ["webhook", "add", "https://x.example.com/", "--events", "pub"]).exit_code == 1
        )
        nd = make_desk(tmp_path)
        try:
            nd.editorial.publish(_article(nd), actor="ed")
        finally:
            nd.close()
        assert json.loads(runner.invoke(app, ["webhook", "deliver", "--json"]).stdout)["dead"] == 1
        [dead] = json.loads(runner.invoke(app, ["webhook", "deliveries", "--state", "dead", "--json"]).stdout)
        receiver.route("/h", Reply(status=200))
        assert runner.invoke(app, ["webhook", "redeliver", str(dead["id"])]).exit_code == 0
        assert json.loads(runner.invoke(app, ["webhook", "deliver", "--json"]).stdout)["delivered"] == 1
        assert runner.invoke(app, ["webhook", "redeliver", "999"]).exit_code == 1
    listed = json.loads(runner.invoke(app, ["webhook", "list", "--json"]).stdout)
    assert [w["events"] for w in listed] == [["publish", "story"]] and "secret" not in listed[0]
    assert runner.invoke(app, ["webhook", "remove", str(listed[0]["id"])]).exit_code == 0
    assert runner.invoke(app, ["webhook", "remove", str(listed[0]["id"])]).exit_code == 1


def test_a_new_story_and_a_rule_decision_are_events(tmp_path: Path) -> None:
    """The other two places events come from: enrichment creating a story, and a publish rule."""
    nd = make_desk(tmp_path, enrich="1", embed_backend="onnx", publish_rules="publish: quality >= 0")
    try:
        hooks = nd.webhooks
        story_hook, _ = hooks.add("https://hooks.example.com/s", ["story"])
        publish_hook, _ = hooks.add("https://hooks.example.com/p", ["publish"])
        first = _article(nd, 1)
        asyncio.run(nd.finish_pending())
        stories = [json.loads(d["body"])["data"]["story"] for d in hooks.deliveries(webhook_id=story_hook)]
        article = nd.store.get_article(first)
        assert [s["id"] for s in stories] == [article.story_id] and stories[0]["firstArticleId"] == first
        [published] = [json.loads(d["body"])["data"] for d in hooks.deliveries(webhook_id=publish_hook)]
        assert published["article"]["id"] == first and published["actor"].startswith("rule: ")
        assert published["article"]["published"] is True and article.published
    finally:
        nd.close()
