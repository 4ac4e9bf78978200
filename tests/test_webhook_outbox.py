"""The webhook outbox: a change and the deliveries announcing it commit in one transaction. A process
killed (SIGKILL) the instant its decision commits still has the event sent after a restart; a change
that rolls back announces nothing. Real store (SQLite and PostgreSQL), real process, real loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from newsdesk import events
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Story
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply
from tests.test_webhooks import _article, _deliver  # the same article and delivery round

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent

# The child publishes one article and dies by SIGKILL as soon as the connection that changed the review
# state goes back to the pool — that is, right after its transaction committed and before anything else
# (the old separate "emit" step ran exactly there).
CHILD = """
import os, signal, sys
from pathlib import Path
from sqlalchemy import event
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings

nd = Newsdesk(load_settings(env=dict(os.environ), base_dir=Path(sys.argv[1])))
decided = []

@event.listens_for(nd.store.engine, "after_cursor_execute")
def saw(conn, cursor, statement, *rest):
    if statement.lstrip().upper().startswith("UPDATE ARTICLES") and "review_state" in statement:
        decided.append(True)

@event.listens_for(nd.store.engine, "checkin")
def committed(*rest):
    if decided:
        os.kill(os.getpid(), signal.SIGKILL)

nd.editorial.publish(int(sys.argv[2]), actor="ed", reason="crash test")
print("not killed")
"""


def _env(root: Path, database_url: str) -> dict[str, str]:
    return quiet_env(root / "data", database_url, NEWSDESK_WEBHOOK_RETRY_BASE="0")


def _desk(root: Path, database_url: str) -> Newsdesk:
    return Newsdesk(load_settings(env=_env(root, database_url), base_dir=root))


def test_a_process_killed_right_after_a_decision_commits_still_sends_its_event(
    tmp_path: Path, store_url: str
) -> None:
    with LoopbackServer({"/hook": Reply(status=204)}) as receiver:
        nd = _desk(tmp_path, store_url)
        nd.webhooks.add(receiver.url("/hook"), ["publish"], allow_private=True)
        article_id = _article(nd)
        nd.close()

        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)} | _env(tmp_path, store_url)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path), str(article_id)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
        assert "not killed" not in child.stdout

        restarted = _desk(tmp_path, store_url)
        try:
            assert restarted.store.get_article(article_id).review_state == "published"  # the decision held
            assert _deliver(restarted) == {"delivered": 1, "retry": 0, "dead": 0}
        finally:
            restarted.close()
        [seen] = receiver.requests
    body = json.loads(seen.body)
    assert body["event"] == "publish" and body["data"]["article"]["id"] == article_id
    assert body["data"]["reason"] == "crash test"


def test_a_decision_that_rolls_back_announces_nothing(tmp_path: Path, store_url: str) -> None:
    nd = _desk(tmp_path, store_url)
    try:
        with LoopbackServer({"/hook": Reply(status=204)}) as receiver:
            nd.webhooks.add(receiver.url("/hook"), ["publish"], allow_private=True)
            article_id = _article(nd)

            def fail_the_log(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
                if statement.lstrip().upper().startswith("INSERT INTO DECISIONS"):
                    raise RuntimeError("the disk went away")

            sa_event.listen(nd.store.engine, "before_cursor_execute", fail_the_log)
            with pytest.raises(RuntimeError):
                nd.editorial.publish(article_id, actor="ed")
            sa_event.remove(nd.store.engine, "before_cursor_execute", fail_the_log)

            assert nd.store.get_article(article_id).review_state == "pending"  # the state rolled back too
            assert nd.webhooks.deliveries() == []
            assert _deliver(nd) == {"delivered": 0, "retry": 0, "dead": 0}
            assert receiver.requests == []
            assert nd.editorial.publish(article_id, actor="ed")  # done again, it is announced once
            assert _deliver(nd)["delivered"] == 1
            assert len(receiver.requests) == 1
    finally:
        nd.close()


def test_a_new_story_and_its_event_commit_together(tmp_path: Path, store_url: str) -> None:
    nd = _desk(tmp_path, store_url)
    try:
        nd.webhooks.add("https://hooks.example.com/in", ["story"])
        story = Story(None, "A story", T0, T0, 1, ("a.example.com",))

        def broken(story_id: int) -> events.Event:
            raise RuntimeError("no event")

        with pytest.raises(RuntimeError):
            nd.store.create_story(story, None, {}, event=broken)
        assert nd.store.recent_stories(T0) == [] and nd.webhooks.deliveries() == []

        def announce(story_id: int) -> events.Event:
            return events.event("story", {"story": {"id": story_id}})

        story_id = nd.store.create_story(story, None, {}, event=announce)
        [queued] = nd.webhooks.deliveries()
        assert json.loads(queued["body"])["data"]["story"]["id"] == story_id
    finally:
        nd.close()
