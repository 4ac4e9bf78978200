"""The scale-out executor: a scheduler enqueues one job per due source on a Redis queue (rq), and workers
on any number of machines run the same stages as the local run, against a shared PostgreSQL store.

The flow, end to end::

    schedule_forever ── every interval ──> enqueue_due(nd, queue, now=...)
        due_sources(now) ─> one job per source, id "<queue>-poll-<source id>-<next_poll_at>"
                            (rq's ``unique=True``: the same due poll is never queued twice while it exists)
    run_worker (rq Worker) ──> poll_source_job(source_id, settings_env, resolve)
        take the source's Redis lock (held elsewhere: return {"skipped": "locked"})
        Newsdesk(load_settings(env=settings_env)).run_async(sources=[source], finish=False)  # ingest
        then, under the queue's enrichment lock: nd.finish_pending()              # enrich → … → alerts
        release the lock; the run summary is the job's result

A job carries only a source id, the settings as ``NEWSDESK_*`` strings and the host map; articles travel
through the store, never through Redis. A source's own failures (HTTP errors, bad feeds) are recorded by
the run on the source (health, events) and the job still succeeds; a job *raises* only when the run could
not happen at all (database unreachable, a crash), and rq retries it (:data:`RETRY`). An unknown source or
bad settings cannot get better by waiting: such a job fails at once, into rq's failed registry.

Errors raised here: :class:`QueueError` (Redis unreachable or refusing) and :class:`UnknownSourceError`
(a job for a source id the store does not hold), both under ``NewsdeskError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from redis import Redis
from redis.exceptions import LockError
from redis.exceptions import RedisError as _RedisError
from redis.lock import Lock
from rq import Queue, Retry, SimpleWorker, Worker, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job

from .app import Newsdesk
from .config import SETTINGS, Settings, load_settings
from .errors import NewsdeskError, QueueError, SettingsError, StorageError, UnknownSourceError
from .model import Source, now

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_QUEUE",
    "QueueError",
    "UnknownSourceError",
    "connect",
    "enqueue_due",
    "enqueue_source",
    "job_id_for",
    "make_queue",
    "poll_source_job",
    "run_worker",
    "schedule_forever",
    "settings_to_env",
    "source_lock_key",
]

DEFAULT_QUEUE = "newsdesk"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# A demo job takes seconds; a big one (100 pages at the default per-host delay, then their enrichment)
# about a minute and a half, estimated from measured parts (docs/benchmarks.md, "Figures behind the
# code"). rq kills a job past this limit, so it leaves a wide margin.
JOB_TIMEOUT_S = 600
# The per-source lock outlives the longest job rq allows, so a live job never loses it; a worker that
# dies holding it blocks the source for at most this long.
LOCK_TTL_S = JOB_TIMEOUT_S + 60
# A finished job's id must outlive the gap between the scheduler reading due_sources and enqueueing
# (milliseconds); an hour also leaves results to inspect with `rq info`.
RESULT_TTL_S = 3600
# A failed job keeps its id this long, so the scheduler does not queue the same failed poll again every
# round: after an outage each source is tried again at most hourly until its next poll succeeds.
FAILURE_TTL_S = 3600
# Back-off chosen in the design brief: a database blip (seconds), a restart (a minute), an outage (minutes).
RETRY_MAX = 3
RETRY_INTERVALS_S = (10, 60, 300)
# A PING on loopback takes well under a millisecond (docs/benchmarks.md); 5 s means "not there", not "slow".
REDIS_TIMEOUT_S = 5.0
KEPT_DESKS = 4  # facades a non-forking worker keeps warm (one per distinct settings + host map)

_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # rq job ids allow only these characters


# Failures that waiting cannot fix: their jobs are not retried.
PERMANENT_ERRORS: tuple[type[NewsdeskError], ...] = (UnknownSourceError, SettingsError)


# ----------------------------------------------------------------------------------- connections


def connect(redis_url: str = DEFAULT_REDIS_URL) -> Redis:
    """A checked connection: a Redis that does not answer PING is a :class:`QueueError` now, not later."""
    try:
        connection = Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        connection.ping()
    except (_RedisError, ValueError) as e:
        raise QueueError(f"cannot reach Redis at {_display(redis_url)}: {e}") from e
    return connection


def make_queue(redis_url: str = DEFAULT_REDIS_URL, name: str = DEFAULT_QUEUE) -> Queue:
    return Queue(name, connection=connect(redis_url))


def _display(redis_url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", redis_url)


# ------------------------------------------------------------------------------------ scheduling


def settings_to_env(settings: Settings) -> dict[str, str]:
    """Every setting except secrets as ``NEWSDESK_*`` strings, so a worker rebuilds the same settings from
    the job alone (a worker's own newsdesk.toml cannot change a value the mapping names). Secrets stay out
    of Redis: workers get the key through ``key_file`` (the same file on every machine)."""
    env = {}
    for setting in SETTINGS:
        if not setting.secret:
            env[f"NEWSDESK_{setting.name.upper()}"] = _env_text(settings.values[setting.name])
    return env


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)  # config reads one list item per line
    if isinstance(value, Path) and str(value) == ".":
        return ""  # an unset path setting, as config wrote it
    return str(value)


def job_id_for(queue_name: str, source: Source) -> str:
    """One id per due poll: the same (source, next_poll_at) gives the same id until the run moves
    next_poll_at on. A source never polled is "new"."""
    due = source.health.next_poll_at
    stamp = "new" if due is None else str(int(due.timestamp()))
    return f"{_JOB_ID_UNSAFE.sub('_', queue_name)}-poll-{source.id}-{stamp}"


def enqueue_source(
    queue: Queue,
    source_id: int,
    env: Mapping[str, str],
    *,
    resolve: Mapping[str, str] | None = None,
    job_id: str | None = None,
) -> Job | None:
    """Queue one poll of ``source_id``; None when a job with ``job_id`` already exists (pending,
    running, or ended within its TTL). The job carries only the id, the settings and the host map."""
    try:
        return queue.enqueue_call(
            poll_source_job,
            args=(source_id, dict(env)),
            kwargs={"resolve": dict(resolve or {})},
            timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            job_id=job_id,
            unique=job_id is not None,
            retry=Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS_S)),
            description=f"poll source {source_id}",
        )
    except DuplicateJobError:
        return None
    except _RedisError as e:
        raise QueueError(f"cannot enqueue on Redis queue {queue.name!r}: {e}") from e


def enqueue_due(
    nd: Newsdesk, queue: Queue, *, now: datetime, env: Mapping[str, str] | None = None
) -> list[str]:
    """The scheduler's step: one job per source due at ``now``. Returns the ids of the jobs queued by
    this call — a due poll already queued (or running) is skipped, so calling this every few seconds
    never piles up work. ``env`` defaults to :func:`settings_to_env` of ``nd``'s settings."""
    job_env = settings_to_env(nd.settings) if env is None else dict(env)
    queued = []
    for source in nd.store.due_sources(now):
        assert source.id is not None  # sources read from the store have ids
        job_id = job_id_for(queue.name, source)
        if enqueue_source(queue, source.id, job_env, resolve=nd.resolve, job_id=job_id) is not None:
            queued.append(job_id)
    log.info("enqueued due sources", extra={"queue": queue.name, "jobs": len(queued)})
    return queued


def schedule_forever(
    nd: Newsdesk,
    redis_url: str,
    interval_s: float,
    *,
    queue_name: str = DEFAULT_QUEUE,
    max_rounds: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The scheduler process: :func:`enqueue_due` every ``interval_s`` seconds. A round that fails
    (Redis or the database briefly gone) is logged and the next round tries again; only an unreachable
    Redis at start is fatal. Returns the number of jobs queued (``max_rounds`` is for tests)."""
    queue = make_queue(redis_url, queue_name)
    rounds = queued = 0
    while max_rounds is None or rounds < max_rounds:
        try:
            queued += len(enqueue_due(nd, queue, now=now()))
        except (QueueError, StorageError) as error:
            log.warning("scheduler round failed", extra={"queue": queue_name, "error": str(error)})
        rounds += 1
        if max_rounds is None or rounds < max_rounds:
            sleep(interval_s)
    return queued


# ------------------------------------------------------------------------------------------- jobs


def source_lock_key(queue_name: str, source_id: int) -> str:
    """The Redis key that makes one source's polls exclusive across every worker of a queue."""
    return f"newsdesk:{queue_name}:lock:source:{source_id}"


def poll_source_job(
    source_id: int, settings_env: dict[str, str], resolve: dict[str, str] | None = None
) -> dict[str, Any]:
    """The job: poll one source through the facade, exactly as ``newsdesk run`` would, and return the
    run summary. Settings come from ``settings_env`` alone (``NEWSDESK_*`` names); ``resolve`` maps
    host names to ``ip:port`` (the demo). Under a worker, a job whose source is already being polled
    elsewhere returns ``{"skipped": "locked"}`` without touching anything."""
    settings = load_settings(env=settings_env)
    lock = _source_lock(source_id)
    if lock is not None and not lock.acquire(blocking=False):
        log.info("source already being polled", extra={"source_id": source_id})
        return {"source_id": source_id, "skipped": "locked"}
    try:
        key = (tuple(sorted(settings_env.items())), tuple(sorted((resolve or {}).items())))
        return {"source_id": source_id, **_poll(settings, source_id, resolve or {}, key)}
    finally:
        _release(lock, source_id)


def _poll(settings: Settings, source_id: int, resolve: dict[str, str], key: Hashable) -> dict[str, Any]:
    """Ingest here, in parallel with other workers; enrich and finish one worker at a time — two jobs
    enriching the same unenriched articles at once would make duplicate stories."""
    with _desk(settings, resolve, key) as nd:
        source = _known_source(nd, source_id)
        summary = asyncio.run(nd.run_async(sources=[source], finish=False)).as_dict()
        with _enrich_lock():
            finished = asyncio.run(nd.finish_pending()).as_dict()
    errors = dict(summary.pop("errors"))
    for kind, count in finished.pop("errors").items():
        errors[kind] = errors.get(kind, 0) + count
    return {
        **summary,
        **{f"finish_{k}" if k in summary else k: v for k, v in finished.items()},
        "errors": errors,
    }


class _Desks:
    """The facades a non-forking worker keeps between jobs, by settings and host map: the process pool,
    the embedding model and the store connections stay warm (a cold demo job spends most of its time
    starting the pool — docs/scale-out.md). Off (a fresh facade per job) outside :func:`run_worker` and in
    the forking worker, whose work horse exits after each job anyway."""

    def __init__(self) -> None:
        self.keep = False
        self.opened = 0  # facades opened so far (how many jobs did not find one warm)
        self._open: dict[Hashable, Newsdesk] = {}

    def __len__(self) -> int:
        return len(self._open)

    def get(self, settings: Settings, resolve: dict[str, str], key: Hashable) -> Newsdesk:
        """The kept facade for ``key`` (the job's settings and host map), opened on first use."""
        if key not in self._open:
            while len(self._open) >= KEPT_DESKS:
                self._open.pop(next(iter(self._open))).close()
            self._open[key] = Newsdesk(settings, resolve=resolve)
            self.opened += 1
        kept = self._open[key]
        kept.forget_enrichment_state()  # other workers share the store: only the model and pool stay
        return kept

    def close_all(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


kept_desks = _Desks()


@contextlib.contextmanager
def _desk(settings: Settings, resolve: dict[str, str], key: Hashable) -> Iterator[Newsdesk]:
    if kept_desks.keep:
        yield kept_desks.get(settings, resolve, key)
        return
    with Newsdesk(settings, resolve=resolve) as nd:
        yield nd


@contextlib.contextmanager
def _enrich_lock() -> Iterator[None]:
    """Wait for the queue's enrichment lock (one enricher at a time); no lock outside a worker."""
    job = get_current_job()
    if job is None:
        yield
        return
    lock = Lock(job.connection, f"newsdesk:{job.origin}:lock:enrich", timeout=LOCK_TTL_S)
    if not lock.acquire(blocking=True, blocking_timeout=JOB_TIMEOUT_S / 2):
        raise QueueError(
            "another worker held the enrichment lock for too long; the next job finishes the work"
        )
    try:
        yield
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _known_source(nd: Newsdesk, source_id: int) -> Source:
    try:
        return nd.store.get_source(source_id)
    except StorageError as e:
        if str(e).startswith("no such source"):
            raise UnknownSourceError(source_id) from e
        raise


def _source_lock(source_id: int) -> Lock | None:
    """The lock of the current rq job's queue; None when called outside a worker (a direct call is
    the caller's own serialisation)."""
    job = get_current_job()
    if job is None:
        return None
    return Lock(job.connection, source_lock_key(job.origin, source_id), timeout=LOCK_TTL_S)


def _release(lock: Lock | None, source_id: int) -> None:
    if lock is None:
        return
    try:
        lock.release()
    except LockError:  # expired past LOCK_TTL_S and maybe taken by another job: theirs now
        log.warning("source lock expired before the job ended", extra={"source_id": source_id})


# ---------------------------------------------------------------------------------------- workers


def run_worker(queue_names: Sequence[str], redis_url: str, *, burst: bool = False, fork: bool = True) -> bool:
    """Run an rq worker on ``queue_names`` until stopped (SIGINT/SIGTERM: finish the job, then exit).
    Returns whether any job was processed.

    ``fork`` (the default): rq forks a work horse per job, so a crashing job cannot take the worker down,
    but every job starts its own process pool and model. Without it (and always with ``burst``, which
    drains what is queued now and returns) jobs run in this process, which keeps one facade per settings
    warm between jobs — many small sources run several times faster; a supervisor restarts the worker
    if a job kills it. Both run rq's scheduler except in burst mode, which puts retries back on the
    queue when their interval has passed."""
    connection = connect(redis_url)
    queues = [Queue(name, connection=connection) for name in queue_names]
    in_process = burst or not fork
    worker_class = SimpleWorker if in_process else Worker
    worker = worker_class(queues, connection=connection, exception_handlers=[_no_retry_when_permanent])
    kept_desks.keep = in_process
    try:
        return bool(worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING"))
    except _RedisError as e:
        raise QueueError(f"lost Redis at {_display(redis_url)}: {e}") from e
    finally:
        kept_desks.keep = False
        kept_desks.close_all()


def _no_retry_when_permanent(
    job: Job, exc_type: type[BaseException], exc_value: BaseException, traceback: TracebackType | None
) -> bool:
    """rq exception handler: a failure that waiting cannot fix (unknown source, bad settings) uses up
    the job's retries, so rq files it as failed at once instead of trying three more times."""
    if isinstance(exc_value, PERMANENT_ERRORS):
        job.retries_left = 0
        log.warning("job failed for good", extra={"job_id": job.id, "error": str(exc_value)})
    return True
