"""The scale-out executor on a real Redis (127.0.0.1:6379) and, end to end, a real PostgreSQL.

Each test works on its own rq queue (a unique name that also prefixes its job ids and lock keys) and
deletes every key it made. Without Redis the tests skip, saying so; with NEWSDESK_REQUIRE_SERVICES=1
(CI) they fail instead. The end-to-end tests drain the demo site's jobs with a burst worker in this
process and with two worker processes, and check the demo's ground truth: every listed article stored
exactly once (word-for-word syndicated copies folded into their original), every source's health written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from redis.lock import Lock
from rq import Queue
from rq.job import Job, JobStatus

from newsdesk.app import Newsdesk, demo_sources
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.model import Source, SourceHealth, now
from newsdesk.queue import (
    RETRY_MAX,
    QueueError,
    UnknownSourceError,
    connect,
    enqueue_due,
    enqueue_source,
    kept_desks,
    poll_source_job,
    run_worker,
    schedule_forever,
    settings_to_env,
    source_lock_key,
)
from tests.conftest import quiet_env

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[1]
WORKER_SCRIPT = (
    "import sys; from newsdesk.queue import run_worker; run_worker([sys.argv[1]], sys.argv[2], burst=True)"
)
WORKER_PROCESS_TIMEOUT_S = 240  # a drain of the demo takes ~30 s on a loaded 2-core machine


@pytest.fixture
def redis_conn() -> Redis:
    try:
        return connect(REDIS_URL)
    except QueueError as e:
        if os.environ.get("NEWSDESK_REQUIRE_SERVICES") == "1":
            pytest.fail(f"NEWSDESK_REQUIRE_SERVICES=1 but {e}")
        pytest.skip(f"Redis not reachable, queue tests skipped: {e}")


@pytest.fixture
def queue(redis_conn: Redis) -> Iterator[Queue]:
    """A queue of this test's own; every key containing its name is deleted afterwards."""
    name = f"nd-test-{uuid.uuid4().hex[:12]}"
    yield Queue(name, connection=redis_conn)
    for key in redis_conn.scan_iter(match=f"*{name}*"):
        redis_conn.delete(key)
    redis_conn.srem("rq:queues", f"rq:queue:{name}")


def job_env(data_dir: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    """The job's settings: ``quiet_env`` with one pool process (a job's pool starts per job: one
    process starts fastest)."""
    return quiet_env(data_dir, database_url, NEWSDESK_WORKERS="1", **extra)


def desk(env: dict[str, str], resolve: dict[str, str] | None = None) -> Newsdesk:
    return Newsdesk(load_settings(env=env), resolve=resolve)


def fake_sources(count: int) -> list[Source]:
    return [Source(url=f"https://news{i}.invalid/feed.xml") for i in range(count)]


# --------------------------------------------------------------------------- no services needed


def test_unreachable_redis_is_a_clear_queue_error_without_the_password() -> None:
    with pytest.raises(
        QueueError, match=r"cannot reach Redis at redis://user:\*\*\*@127\.0\.0\.1:1/0"
    ) as caught:
        connect("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in str(caught.value)


def test_the_job_env_rebuilds_the_same_settings_except_secrets(tmp_path: Path) -> None:
    rules = ['publish: quality >= 40 and "AI in Finance" in topics', "reject: quality < 10"]
    settings = load_settings(env=job_env(tmp_path, NEWSDESK_SECRET_KEY="c2VjcmV0") | {
        "NEWSDESK_PUBLISH_RULES": "\n".join(rules), "NEWSDESK_HEAT_HALF_LIFE_HOURS": "2.5"})  # fmt: skip
    env = settings_to_env(settings)
    assert "NEWSDESK_SECRET_KEY" not in env
    rebuilt = load_settings(env=env)
    differing = {k for k in settings.values if settings.values[k] != rebuilt.values[k]}
    assert differing == {"secret_key"}
    assert rebuilt.publish_rules == rules and rebuilt.heat_half_life_hours == 2.5


def test_a_direct_call_for_an_unknown_source_raises_unknown_source(tmp_path: Path) -> None:
    env = job_env(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}")
    with pytest.raises(UnknownSourceError, match="no such source: 424242"):
        poll_source_job(424242, env)


# ------------------------------------------------------------------------------------ with Redis


def test_each_due_source_is_queued_once_per_due_poll(queue: Queue, tmp_path: Path) -> None:
    with desk(job_env(tmp_path)) as nd:
        sources = [nd.sources.add(s) for s in fake_sources(3)]
        first = enqueue_due(nd, queue, now=now())
        assert len(first) == 3 and queue.count == 3
        assert enqueue_due(nd, queue, now=now()) == [] and queue.count == 3
        job = Job.fetch(first[0], connection=queue.connection)
        assert job.args[0] == sources[0].id and job.kwargs == {"resolve": {}}
        assert job.args[1]["NEWSDESK_DATA_DIR"] == str(tmp_path)  # ids and settings, nothing else

        later, earlier = now() + timedelta(hours=1), now() - timedelta(minutes=1)
        nd.store.save_health(sources[1].id or 0, SourceHealth(next_poll_at=later))  # polled: not due now
        nd.store.save_health(sources[2].id or 0, SourceHealth(next_poll_at=earlier))  # polled, due again
        again = enqueue_due(nd, queue, now=now())
    assert again == [f"{queue.name}-poll-{sources[2].id}-{int(earlier.timestamp())}"]
    assert queue.count == 4


def test_the_scheduler_loop_queues_due_sources_each_round(queue: Queue, tmp_path: Path) -> None:
    slept: list[float] = []
    with desk(job_env(tmp_path)) as nd:
        for source in fake_sources(2):
            nd.sources.add(source)
        queued = schedule_forever(nd, REDIS_URL, 7.5, queue_name=queue.name, max_rounds=2, sleep=slept.append)
    assert queued == 2 and queue.count == 2  # the second round found both already queued
    assert slept == [7.5]


def test_a_job_for_an_unknown_source_fails_at_once_without_retries(queue: Queue, tmp_path: Path) -> None:
    with desk(job_env(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}")) as nd:
        nd.init()
    job = enqueue_source(queue, 424242, job_env(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}"))
    assert job is not None
    assert run_worker([queue.name], REDIS_URL, burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert queue.scheduled_job_registry.count == 0
    result = job.latest_result()
    assert result is not None and "no such source: 424242" in (result.exc_string or "")


def test_a_job_that_cannot_reach_the_database_is_retried_later(queue: Queue, tmp_path: Path) -> None:
    unreachable = "postgresql+psycopg://newsdesk@127.0.0.1:1/none?connect_timeout=2"
    job = enqueue_source(queue, 1, job_env(tmp_path, unreachable))
    assert job is not None
    run_worker([queue.name], REDIS_URL, burst=True)
    job = Job.fetch(job.id, connection=queue.connection)
    assert job.get_status() == JobStatus.SCHEDULED  # back in 10 s, on a worker that runs rq's scheduler
    assert job.id in queue.scheduled_job_registry.get_job_ids()
    assert job.retries_left == RETRY_MAX - 1
    assert queue.failed_job_registry.count == 0


def test_a_source_being_polled_elsewhere_is_skipped(queue: Queue, redis_conn: Redis, tmp_path: Path) -> None:
    env = job_env(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}")
    with desk(env) as nd:
        source = nd.sources.add(fake_sources(1)[0])
    assert source.id is not None
    held = Lock(redis_conn, source_lock_key(queue.name, source.id), timeout=60)
    assert held.acquire(blocking=False)
    try:
        job = enqueue_source(queue, source.id, env)
        assert job is not None
        run_worker([queue.name], REDIS_URL, burst=True)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == {"source_id": source.id, "skipped": "locked"}
    finally:
        held.release()
    with desk(env) as nd:
        assert nd.store.get_source(source.id).health.last_polled_at is None  # nothing was fetched


# ----------------------------------------------------------------------- end to end on PostgreSQL


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as demo:
        yield demo


def assert_every_demo_article_stored_once(nd: Newsdesk, site: DemoSite) -> None:
    """Every listed article is found under its canonical or feed URL; word-for-word syndicated copies share
    their original's row, everything else has a row of its own."""
    by_url = {a.url: a for a in site.articles()}
    copies = {
        a.url for a in site.articles() if a.syndicated_from and a.body == by_url[a.syndicated_from].body
    }
    found = {}
    for article in site.articles():
        row = nd.store.find_article(article.url) or nd.store.find_article(article.feed_url)
        assert row is not None, f"{article.id} was not stored"
        found[article.url] = row.id
    assert nd.store.count_articles() == len(site.articles()) - len(copies)
    assert len(set(found.values())) == len(site.articles()) - len(copies)


def assert_health_written(nd: Newsdesk) -> None:
    for source in nd.sources.list():
        health = source.health
        assert health.last_polled_at is not None and health.last_success_at == health.last_polled_at
        assert health.next_poll_at is not None and health.next_poll_at > health.last_polled_at


def test_draining_the_demo_stores_every_article_once(
    queue: Queue, site: DemoSite, postgres_url: str, tmp_path: Path
) -> None:
    env = job_env(tmp_path, postgres_url)
    with desk(env, site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        ids = enqueue_due(nd, queue, now=now(), env=env)
        assert len(ids) == len(site.sources())
        assert enqueue_due(nd, queue, now=now(), env=env) == [] and queue.count == len(ids)

        opened = kept_desks.opened
        assert run_worker([queue.name], REDIS_URL, burst=True)
        # An in-process worker keeps one facade (process pool, model) for all jobs of the same settings,
        # and closes it when it stops.
        assert kept_desks.opened == opened + 1 and len(kept_desks) == 0
        results = [Job.fetch(i, connection=queue.connection).return_value() for i in ids]
        assert [(r or {}).get("sources_polled") for r in results] == [1] * len(ids)
        assert_every_demo_article_stored_once(nd, site)
        assert_health_written(nd)
        assert enqueue_due(nd, queue, now=now(), env=env) == []  # every source polled, none due


def test_two_worker_processes_store_each_article_exactly_once(
    queue: Queue, site: DemoSite, postgres_url: str, tmp_path: Path
) -> None:
    env = job_env(tmp_path, postgres_url)
    with desk(env, site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        ids = enqueue_due(nd, queue, now=now(), env=env)
        command = [sys.executable, "-c", WORKER_SCRIPT, queue.name, REDIS_URL]
        workers = [subprocess.Popen(command, cwd=ROOT) for _ in range(2)]
        codes = [w.wait(timeout=WORKER_PROCESS_TIMEOUT_S) for w in workers]
        assert codes == [0, 0]
        jobs = [Job.fetch(i, connection=queue.connection) for i in ids]
        assert [j.get_status() for j in jobs] == [JobStatus.FINISHED] * len(ids)
        assert_every_demo_article_stored_once(nd, site)
        assert_health_written(nd)
