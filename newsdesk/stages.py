"""The run, stage by stage: the table of contents of an article's path through newsdesk.

A run passes the due sources (or the given ones) through the stages of :data:`STAGES`, in this order.
Each is a :class:`Stage`: a name (in progress reports, in the ``<name>: …`` events it records and in the
``<name>_s`` seconds of the run summary), the setting that turns it on, and the function that does it.

    ingest   always        sources ─► articles, alternates, source health    (ingestor.py, decider.py)
                           poll (conditional GET) ─► parse ─► per entry: known URL? alternate : fetch
                           page ─► extract ─► decide ─► exact dedupe ─► seal the text ─► save
    enrich   enrich        the batch ─► vectors, stories, topics, scores, related      (enricher.py)
                           embed ─► near-dup (fold into the earlier) ─► story ─► topics ─► quality
                           ─► heat (per story) ─► related; then the batch is marked enriched
    images   cache_images  the batch's image URLs ─► cached files and thumbnails, or the image's error
    seal     encrypt       texts an older version left in the clear ─► sealed     (finishing.py)
    rules    always        the batch's pending articles ─► published / rejected, the rule as reason
    alerts   always        the batch × saved searches ─► alerts                   (alerts/)

The batch is this run's new articles plus any an earlier run left unenriched (it was interrupted, or its
enrich stage failed): an article stays unenriched until enrichment is done with it, so the next run takes
it again. When something fails, ``ingest`` records each source's and each entry's failure against it
(events, source health) and goes on with the others; only a failure of the stage itself (the store gone)
ends the run, since the later stages would have nothing to work on. From ``enrich`` on, a stage that
fails records one event on the run (``<name>: <error>``) and the next stage still runs.

Every caller runs these same stages through the facade (:class:`~newsdesk.app.Newsdesk`): ``newsdesk
run`` and ``--watch`` (:func:`run_async`, :func:`watch`) and the desk (``desk.py``) run them all; a
queue worker ingests in parallel with other workers, then runs the rest one worker at a time
(:func:`finish_pending`: two workers enriching the same articles would make duplicate stories); a
WebSub push is ingested by the same Ingestor from the pushed document, then finished the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import finishing
from .config import Settings
from .errors import NewsdeskError
from .longlived import loading
from .model import Source, now

if TYPE_CHECKING:  # the ingestor imports the extraction stack: a run loads it, `source list` does not
    from .app import Newsdesk
    from .fetch.client import Fetcher, KeptConnections
    from .ingestor import SealHook
    from .secure import KeyRing

ProgressHook = Callable[[str, int, int], None]  # (stage, done, total)
Figures = Mapping[str, float]  # what a stage counted ({"images_cached": 3}), kept in RunSummary.stages


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing table and the ``runs`` table."""

    sources_polled: int = 0
    unchanged: int = 0  # 304 Not Modified
    same_body: int = 0  # 200 with the very bytes parsed last time: not parsed again
    entries: int = 0
    new: int = 0
    updated: int = 0
    alternates: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    stages: dict[str, float] = field(default_factory=dict)  # each stage's figures and ``<name>_s`` seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources_polled": self.sources_polled,
            "unchanged": self.unchanged,
            "same_body": self.same_body,
            "entries": self.entries,
            "new": self.new,
            "updated": self.updated,
            "alternates": self.alternates,
            "errors": dict(self.errors),
            **self.stages,
        }


@dataclass(slots=True)
class Run:
    """What the stages of one run share. ``ingest`` fills ``summary`` and ``new_ids``; the later stages
    work on the batch (``ids``) and read sealed texts with ``ring``, both set before the first starts."""

    nd: Newsdesk
    fetcher: Fetcher
    run_id: int
    progress: ProgressHook | None
    sources: Sequence[Source] = ()
    seal: SealHook | None = None  # with encryption on, texts are sealed before their rows are written
    summary: RunSummary = field(default_factory=RunSummary)
    new_ids: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    ring: KeyRing | None = None
    used_pool: bool = False  # a job of ingest went to the process pool


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a run (see the module docstring for what each reads and writes)."""

    name: str
    setting: str | None  # the boolean setting that turns the stage on; None: it always runs
    step: Callable[[Run], Awaitable[Figures]]
    counts_itself: bool = False  # reports its own progress; any other stage is one step
    ends_run_on_failure: bool = False  # else its failure is recorded and the next stage runs

    def is_on(self, settings: Settings) -> bool:
        return self.setting is None or bool(settings.values[self.setting])


# ------------------------------------------------------------------------------------- the stages


async def _ingest(run: Run) -> Figures:
    from .ingestor import Ingestor

    nd = run.nd
    if run.progress is not None:  # the ingestor ticks as each source is done: say it started
        run.progress("poll", 0, len(run.sources))
    pool = _PoolOnFirstUse(nd)
    ingestor = Ingestor(
        nd.settings,
        nd.store,
        run.fetcher,
        pool,
        run_id=run.run_id,
        progress=run.progress,
        seal=run.seal,
    )
    run.summary = await ingestor.run(run.sources)
    run.new_ids = ingestor.new_ids
    run.used_pool = pool.started
    return {}


def _release_pool_before_enrichment(nd: Newsdesk) -> None:
    """Stop the extraction workers this run started before its enrichment loads the models beside
    them: idle through enrichment, they held their imports and extraction models (and what a few
    thousand pages left in their heaps) at the run's peak, which is the models' (docs/benchmarks.md,
    "Large runs"). Only a run past ``inline_jobs`` starts the pool, so restarting it at the next such
    run costs little against that run; every job of this run is done here, and a job from elsewhere
    (a WebSub push) still running is waited for, or starts a pool again when it comes later."""
    nd.release_idle_pool(sys.float_info.min)


async def _enrich(run: Run) -> Figures:
    if run.progress is not None:  # it counts its own articles; their number is not known yet
        run.progress("enrich", 0, 0)
    nd = run.nd
    with loading("enricher"):  # its modules: imported once, kept (longlived.py)
        enricher = nd.enricher  # one per facade: the model loads once

    def enrich_alone() -> Figures:
        # One enricher at a time on a database (store/locks.py); one that waited finds some of its
        # articles enriched by the other.
        with nd.store.one_at_a_time("enrich"):
            return enricher.run(nd.store.unenriched_among(run.ids), run.progress)

    return await asyncio.to_thread(enrich_alone)


async def _cache_images(run: Run) -> Figures:
    nd = run.nd
    return await finishing.cache_images(nd.store, nd.images, run.fetcher, run.ids, run_id=run.run_id)


async def _seal_leftovers(run: Run) -> Figures:
    return finishing.seal_texts(run.nd.store, run.nd.key_ring)


async def _apply_rules(run: Run) -> Figures:
    nd = run.nd
    return finishing.apply_rules(nd.store, nd.rules, run.ids, now(), ring=run.ring)


async def _match_alerts(run: Run) -> Figures:
    return run.nd.alerts.match(run.ids)  # saved searches (newsdesk.alerts)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", None, _ingest, counts_itself=True, ends_run_on_failure=True),
    Stage("enrich", "enrich", _enrich, counts_itself=True),
    Stage("images", "cache_images", _cache_images),
    Stage("seal", "encrypt", _seal_leftovers),
    Stage("rules", None, _apply_rules),
    Stage("alerts", None, _match_alerts),
)
INGEST = STAGES[0]
FINISHING = STAGES[1:]  # what a queue worker runs one at a time, after ingesting in parallel


# -------------------------------------------------------------------------------------- the run


async def run_async(
    nd: Newsdesk,
    *,
    sources: Sequence[Source] | None = None,
    progress: ProgressHook | None = None,
    finish: bool = True,
    connections: KeptConnections | None = None,
) -> RunSummary:
    """Ingest ``sources`` (default: the due ones), then — with ``finish`` — the later stages.
    ``connections``: pools kept from the previous run on this event loop (the desk's)."""
    started = time.perf_counter()
    # Texts are sealed as they are stored; a bad or missing key refuses the run before anything is.
    seal = nd.key_ring.encrypt if nd.settings.encrypt else None
    chosen = list(sources) if sources is not None else nd.store.due_sources(now())
    run_id = nd.store.start_run()
    async with _fetcher(nd, connections) as fetcher:
        run = Run(nd, fetcher, run_id, progress, sources=chosen, seal=seal)
        await _run_stage(run, INGEST)
        if finish:
            if run.used_pool and nd.settings.enrich:
                _release_pool_before_enrichment(nd)
            await _finish(run)
    return _close_run(run, started)


async def finish_pending(nd: Newsdesk, *, progress: ProgressHook | None = None) -> RunSummary:
    """The later stages over every article ingestion left unenriched (the queue's single-flight step)."""
    started = time.perf_counter()
    run_id = nd.store.start_run()
    async with _fetcher(nd) as fetcher:
        run = Run(nd, fetcher, run_id, progress)
        await _finish(run)
    return _close_run(run, started)


async def watch(
    nd: Newsdesk,
    *,
    interval_s: float = 30.0,
    max_runs: int | None = None,
    progress: ProgressHook | None = None,
) -> None:
    """Run what is due, sleep until the next source is due (at most ``interval_s``), repeat."""
    runs = 0
    while max_runs is None or runs < max_runs:
        await run_async(nd, progress=progress)
        runs += 1
        await asyncio.sleep(_seconds_until_due(nd, interval_s))


async def _finish(run: Run) -> None:
    """The stages after ingestion, on the batch: this run's new articles plus any stored since the last
    finished batch (or left unenriched). With none, no stage starts. Else the key ring is read first: a
    key that cannot be read stops the run before any of these stages starts."""
    nd = run.nd
    run.ids = sorted(set(run.new_ids) | set(nd.store.pending_ids(unenriched=nd.settings.enrich)))
    if not run.ids and not (nd.settings.encrypt and nd.store.has_clear_texts()):
        return  # nothing new or unfinished: a cycle of 304s starts no stage (issue 13)
    run.ring = nd.key_ring if nd.settings.encrypt else None  # rules may read the sealed text
    for stage in FINISHING:
        await _run_stage(run, stage)
    if run.ids:
        nd.store.mark_finished_through(run.ids[-1])


async def _run_stage(run: Run, stage: Stage) -> None:
    """Run one stage if its setting is on: time it, report its progress, keep its figures, and record
    its failure on the run unless the failure ends the run."""
    if not stage.is_on(run.nd.settings):
        return
    started = time.perf_counter()
    _report(run, stage, 0)
    try:
        figures = await stage.step(run)  # before reading run.summary: ingest replaces it
        run.summary.stages.update(figures)
    except NewsdeskError as error:
        if stage.ends_run_on_failure:
            raise
        run.nd.store.record_event(error.kind, f"{stage.name}: {error}", run_id=run.run_id)
    _report(run, stage, 1)
    run.summary.stages[f"{stage.name}_s"] = round(time.perf_counter() - started, 2)


def _report(run: Run, stage: Stage, done: int) -> None:
    """A one-step stage's progress: started (0 of 1), then done (1 of 1)."""
    if run.progress is not None and not stage.counts_itself:
        run.progress(stage.name, done, 1)


def _close_run(run: Run, started: float) -> RunSummary:
    summary = run.summary
    summary.stages["duration_s"] = round(time.perf_counter() - started, 2)
    # The run's recorded events are the one truth about its errors, whichever stage recorded them.
    summary.errors = Counter(e["kind"] for e in run.nd.store.events(run_id=run.run_id, limit=1_000_000))
    run.nd.store.finish_run(run.run_id, summary.as_dict())
    return summary


@contextlib.asynccontextmanager
async def _fetcher(nd: Newsdesk, connections: KeptConnections | None = None) -> AsyncIterator[Fetcher]:
    """The run's fetcher, its robots.txt rules kept in the store between runs (RFC 9309 lets them serve
    24 hours): seeded from there before the first request (once for the desk's kept rules, shared by
    its cycles), and the rules it loaded itself written back after the last, so a cron poll within
    that lifetime asks no host for robots.txt and writes nothing. A run that fails writes nothing back
    (a desk's next cycle writes what it loaded). Lifetimes are the wall clock's, not the pipeline's
    :func:`now` (which a test may hold)."""
    from .fetch.client import Fetcher
    from .ingestor import fetch_policy

    policy = fetch_policy(nd.settings, nd.resolve)
    async with Fetcher(policy, connections=connections) as fetcher:
        rules = fetcher.robots_cache
        if policy.respect_robots and not rules.seeded:
            rules.seed(nd.store.robots_rules(policy.user_agent, datetime.now(UTC)))
        yield fetcher
        loaded = rules.take_loaded()
        if loaded:
            nd.store.keep_robots_rules(policy.user_agent, loaded, datetime.now(UTC))


def _seconds_until_due(nd: Newsdesk, cap: float) -> float:
    due = [s.health.next_poll_at for s in nd.store.list_sources() if s.health.next_poll_at]
    if not due:
        return cap
    return max(1.0, min(cap, (min(due) - now()).total_seconds()))


class _PoolOnFirstUse(Executor):
    """The run's view of the worker pool: the first :attr:`Settings.inline_jobs` jobs of a run go to the
    facade's one extraction thread in this process; the pool is asked for (and so started) only by the
    job after them, or by the first job when ``inline_jobs`` is 0. Most desk cycles and small runs then
    start no worker at all: each worker costs its imports and models in CPU and resident memory (a
    process per core), more than the pages of a small run cost to extract on one thread
    (docs/benchmarks.md, "Lean pipeline"). With one worker configured a run starts no pool (it would
    only add a process beside this one). A pool already running (an earlier big run's, not yet
    released as idle) takes every job: its cost is paid. The facade owns the pool and the thread:
    shutting this view down leaves both for the next run. Every pool job is noted on the facade, so
    the desk never stops an idle pool under a run still using it."""

    def __init__(self, nd: Newsdesk) -> None:
        self._nd = nd
        self._pool: Executor | None = None
        self._inline_left = _inline_budget(nd.settings)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._inline_left > 0 and (self._pool is None and not self._nd.pool_running()):
            self._inline_left -= 1
            return self._nd.inline_executor().submit(fn, *args, **kwargs)
        if self._pool is None:  # once per run: worker_pool() probes a kept pool with a round trip
            self._pool = self._nd.worker_pool()
        else:
            self._nd.note_pool_use()
        return self._pool.submit(fn, *args, **kwargs)

    @property
    def started(self) -> bool:
        """Whether a job of this run went to the process pool (and so the pool is up)."""
        return self._pool is not None

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to do: the pool outlives the run (see :meth:`Newsdesk.worker_pool`)."""


def _inline_budget(settings: Settings) -> int:
    """Jobs a run keeps in this process: all of them when the pool would have a single worker."""
    if settings.workers == 1 or (settings.workers == 0 and (os.cpu_count() or 1) == 1):
        return sys.maxsize
    return max(0, settings.inline_jobs)


def pool_view(nd: Newsdesk) -> Executor:
    """The executor a run (or a WebSub push) hands its parsing and extraction jobs to."""
    return _PoolOnFirstUse(nd)


__all__ = [
    "STAGES",
    "ProgressHook",
    "Run",
    "RunSummary",
    "Stage",
    "finish_pending",
    "pool_view",
    "run_async",
    "watch",
]
