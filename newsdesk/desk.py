"""The desk: the always-on service behind ``newsdesk serve``.

One thread beside the web server runs the whole product continuously, with the model and the extraction
pool loaded once (they live in the :class:`~newsdesk.app.Newsdesk` facade it shares with the API)::

    ┌─► due sources? ──yes──► run: ingest → enrich → … → alerts   (stages.py, as `newsdesk run`)
    │        │ no                            │
    │        ▼                               ▼
    │   store changed since the last write? ──yes──► rewrite records/ and feeds/ (atomic, incremental)
    │        │   (then digests due, and vectors of a previous model or recipe: a batch re-embedded, or
    │        │    once none is left a batch of related lists made again — reembed.py)
    │        │
    └── wait ≤ OUTPUT_CHECK_S, or until woken (a source added, "poll now", shutdown); after a wake, the
        wakes that follow within desk_wake_gather_s join it, so a burst of additions is one cycle

Why a thread with its own event loop rather than tasks on the server's loop: a cycle's store writes and
parsing hand-offs are synchronous, and the API's requests must never wait behind them. Why the outputs
follow the store rather than in-process events: an editor's decision made through the CLI, another server
process or a queue worker changes the same rows, and a change made while the service was down is found
by the first check after start (the first check always writes; the exporters skip unchanged files).

A cycle that finds no due source costs one indexed query; a cycle whose sources all answer 304 (or
send the bytes they sent last time) costs their requests and one batched health write per 64 sources:
no later stage starts (they take the articles stored since they last ran, an index range) and the
outputs are not rewritten (:meth:`LiveOutputs.absorb_idle_cycle`). The cycle's event loop is probed
for lateness (:attr:`Desk.loop_lag`, ``/metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import alerts
from .app import Newsdesk
from .errors import NewsdeskError
from .looplag import LagProbe
from .malloc import limit_malloc_arenas
from .model import Source, now
from .stages import RunSummary
from .store.changes import ChangeSet
from .webhooks import DeliveryWorker

if TYPE_CHECKING:
    from .fetch.client import KeptConnections

log = logging.getLogger(__name__)

OUTPUT_CHECK_S = 2.0  # an editor's publish reaches the records folder within this (plus the export's time)
STOP_WAIT_S = 60.0  # how long shutdown waits for an in-flight cycle before leaving it to the next start
WAKE_GATHER_CAP = 5  # a burst of wakes delays its cycle by at most this many gather windows


@dataclass(frozen=True, slots=True)
class OutputTargets:
    """The folders the desk keeps up to date; ``None`` turns a target off."""

    records_dir: Path | None = None
    feeds_dir: Path | None = None
    feeds_base_url: str = "http://127.0.0.1:8000/feeds"


@dataclass(frozen=True, slots=True)
class DeskStatus:
    """What ``/readyz`` and ``/metrics`` report."""

    running: bool = False
    started_at: datetime | None = None
    cycles: int = 0
    last_cycle_at: datetime | None = None
    last_cycle_s: float = 0.0
    last_error: str | None = None
    last_output_at: datetime | None = None
    totals: dict[str, int] = field(default_factory=dict)
    last_stages_s: dict[str, float] = field(default_factory=dict)  # each stage's seconds, last cycle


CycleHook = Callable[[RunSummary, float], None]  # (what a cycle did, its duration in seconds)


class Desk:
    """Runs the scheduler and the live outputs in a background thread until :meth:`stop`."""

    def __init__(
        self,
        nd: Newsdesk,
        targets: OutputTargets,
        *,
        on_cycle: CycleHook | None = None,
        check_s: float = OUTPUT_CHECK_S,
    ) -> None:
        self.nd = nd
        self.check_s = check_s
        self.outputs = LiveOutputs(nd, targets)
        self.websub = nd.websub
        self._on_cycle = on_cycle
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = DeskStatus()
        self._lock = threading.Lock()
        self.loop_lag = LagProbe()  # the cycles' event loop (/metrics: newsdesk_desk_loop_lag_seconds)
        self.webhooks = DeliveryWorker(nd.webhooks.deliverer())  # sends what events.emit queued
        self._runner: asyncio.Runner | None = None  # the cycles' event loop, while the thread runs
        self._kept: tuple[Hashable, KeptConnections] | None = None  # (policy key, its connections)

    # ------------------------------------------------------------------------------ control

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        limit_malloc_arenas()  # before this thread, the extraction thread and the model's start
        _load_poll_stack()

        self.nd.on_wake(self.wake)  # a source added or "poll now" in the API/UI wakes the loop
        self._thread = threading.Thread(target=self._main, name="newsdesk-desk", daemon=True)
        self._update(running=True, started_at=now())
        self._thread.start()
        self.webhooks.start()

    def stop(self, timeout: float = STOP_WAIT_S) -> bool:
        """Ask the thread to stop after its current step and wait for it; whether it stopped in time.
        Every store write is a transaction and every output file is renamed into place, so a cycle left
        unfinished loses nothing: the next start picks up what is due and what was not enriched."""
        self._stopping.set()
        self.nd.on_wake(None)
        self._wake.set()
        self.webhooks.stop(timeout)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._update(running=bool(thread and thread.is_alive()))
        return not (thread and thread.is_alive())

    def wake(self) -> None:
        """Look for due sources and changed outputs now (a source was added or asked to be polled)."""
        self._wake.set()

    @property
    def status(self) -> DeskStatus:
        with self._lock:
            return self._status

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------------------- the loop

    def _main(self) -> None:
        """The loop. Every cycle runs on one event loop (``asyncio.Runner``), so the connections a cycle
        leaves idle are there for the next (:class:`~newsdesk.fetch.transport.KeptConnections`)."""
        lower_priority(self.nd.settings.desk_nice)
        with asyncio.Runner() as runner:
            self._runner = runner
            try:
                while not self._stopping.is_set():
                    self._step()
                    if self._wake.wait(self.check_s):
                        self._gather_wakes()
                    self._wake.clear()
            finally:
                if self._kept is not None:
                    runner.run(self._kept[1].close())
                self._runner, self._kept = None, None
                try:  # the related index the enricher keeps between cycles: saved, so a start reads it
                    if self.nd.settings.enrich:
                        self.nd.enricher.related_index.flush()
                except (OSError, NewsdeskError) as error:
                    log.warning("related index not saved at stop", extra={"error": str(error)})
        self._update(running=False)

    def _gather_wakes(self) -> None:
        """After a wake, wait for the wakes that follow it, so that a burst (an editor adding four feeds in
        a row, an OPML import through the UI) is one cycle, not a cycle for the first and another for the
        rest: each cycle pays fixed costs (the records export, the index save). Each further wake within
        ``desk_wake_gather_s`` restarts the wait, up to :data:`WAKE_GATHER_CAP` windows in all. :meth:`stop`
        sets ``_stopping`` before ``_wake``, so clearing first and then checking never misses a stop."""
        window = self.nd.settings.desk_wake_gather_s
        deadline = time.monotonic() + window * WAKE_GATHER_CAP
        while True:
            self._wake.clear()
            left = deadline - time.monotonic()
            if self._stopping.is_set() or left <= 0 or not self._wake.wait(min(window, left)):
                return

    def _step(self) -> None:
        """One turn: a run over the due sources (if any), then the outputs (if the store changed)."""
        try:
            due = self.websub.tend(self.nd.store.due_sources(now()))  # subscribe, renew, ping; push-fed wait
            if due and not self._stopping.is_set():
                self._cycle(due)
            if self.outputs.refresh_if_changed():
                self._update(last_output_at=now())
            alerts.desk_step(self.nd)  # email digests that are due
            if self.nd.settings.enrich and self.nd.settings.reembed_batch > 0:
                self.nd.reembed(self.nd.settings.reembed_batch)  # after a model change, a batch a turn
            self.nd.release_idle_pool(self.nd.settings.pool_idle_s)  # idle workers give back their memory
        except NewsdeskError as error:
            log.warning("desk step failed", extra={"error": str(error)})
            self._update(last_error=str(error))
        except Exception as error:  # the service must outlive any one bad step
            log.exception("desk step crashed")
            self._update(last_error=f"{type(error).__name__}: {error}")

    def _cycle(self, due: list[Source]) -> None:
        started = time.perf_counter()
        assert self._runner is not None  # set by _main, on whose thread cycles run
        summary = self._runner.run(self.loop_lag.around(self._run(due)))
        elapsed = time.perf_counter() - started
        totals = dict(self.status.totals)
        for key, value in _counts(summary).items():
            totals[key] = totals.get(key, 0) + value
        stages = {k.removesuffix("_s"): float(v) for k, v in summary.stages.items() if k.endswith("_s")}
        stages.pop("duration", None)  # the whole cycle: newsdesk_last_cycle_seconds
        self._update(
            cycles=self.status.cycles + 1,
            last_cycle_at=now(),
            last_cycle_s=elapsed,
            totals=totals,
            last_stages_s=stages,
        )
        if _changed_nothing(summary):
            self.outputs.absorb_idle_cycle()
        if self._on_cycle is not None:
            self._on_cycle(summary, elapsed)

    async def _run(self, due: list[Source]) -> RunSummary:
        connections = await self._connections()
        await connections.sweep()  # those idle past the keep window: their servers have closed them
        return await self.nd.run_async(sources=due, connections=connections)

    async def _connections(self) -> KeptConnections:
        """The kept connections for the current fetch policy (a changed resolve map or per-host limit
        closes the old ones and starts afresh)."""
        from .fetch.client import keep_connections
        from .ingestor import fetch_policy

        policy = fetch_policy(self.nd.settings, self.nd.resolve)
        key = (tuple(sorted(policy.resolve.items())), policy.per_host_concurrency, policy.http2)
        if self._kept is not None and self._kept[0] != key:
            await self._kept[1].close()
            self._kept = None
        if self._kept is None:
            self._kept = (key, keep_connections(policy))
        return self._kept[1]

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)


def _load_poll_stack() -> None:
    """Load what every cycle uses at start, as the model and the pool are: the ingest modules, the feed
    parsers and the extraction stack (which a cold ``newsdesk run`` loads only once it has a body to
    parse) and the public-suffix list (read on first use), so the first cycle is not also the
    service's start-up."""
    # imported for their side effect: loaded once, here
    import newsdesk.extract.jobs
    import newsdesk.ingestor  # noqa: F401
    from newsdesk.fetch.urls import registered_domain

    registered_domain("www.example.com")


def _counts(summary: RunSummary) -> dict[str, int]:
    counts = {
        "sources_polled": summary.sources_polled,
        "not_modified": summary.unchanged,
        "entries": summary.entries,
        "new": summary.new,
    }
    counts |= {f"error:{kind}": n for kind, n in summary.errors.items()}
    return counts


def _changed_nothing(summary: RunSummary) -> bool:
    """Whether a cycle wrote no article: nothing new, updated or folded, and no later stage counted any
    work (enriched, sealed, images cached, decided by a rule)."""
    if summary.new or summary.updated or summary.alternates:
        return False
    counts = (v for k, v in summary.stages.items() if not k.endswith("_s") and isinstance(v, int | float))
    return not any(counts)


class LiveOutputs:
    """Keeps the configured folders in step with the store: when the store's change stamp moved since
    the last write, the records folder is exported (only changed files are rewritten, each renamed into
    place) and the feed files are rewritten atomically."""

    def __init__(self, nd: Newsdesk, targets: OutputTargets) -> None:
        self.nd = nd
        self.targets = targets
        self._written: tuple[Any, ...] | None = None

    def refresh_if_changed(self) -> bool:
        if self.targets.records_dir is None and self.targets.feeds_dir is None:
            return False
        stamp = self.nd.store.change_stamp()
        if stamp == self._written:
            return False
        if self._written is not None and self._vectors_only(self._written, stamp):
            self._written = stamp  # records and feeds hold no vector: nothing to rewrite
            return False
        self.refresh()
        self._written = stamp  # a sequence every commit moves: no same-second blind spot to wait out
        return True

    def _vectors_only(self, old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
        """Whether every change between the two stamps was a vector written (a re-embedding pass after
        a model change writes nothing else, a batch every desk turn)."""
        changes = self.nd.store.changes_between(int(old[0]), int(new[0]))
        return bool(changes.vectors) and changes == ChangeSet(vectors=changes.vectors)

    def absorb_idle_cycle(self) -> None:
        """A cycle that wrote no article moved the change stamp only by its own run row: take the new
        stamp as written, so a cycle of 304s costs no export. If an article moved meanwhile (an editor's
        decision), the stamp's article part differs and the next check rewrites as usual."""
        if self._written is None:
            return
        stamp = self.nd.store.change_stamp()
        if stamp[:2] == self._written[:2]:
            self._written = stamp

    def refresh(self) -> None:
        if self.targets.records_dir is not None:
            summary = self.nd.outputs.export(self.targets.records_dir)
            log.info("records exported", extra={"written": summary.written, "removed": summary.removed})
        if self.targets.feeds_dir is not None:
            self.nd.outputs.write_feeds(self.targets.feeds_dir, self.targets.feeds_base_url)


def lower_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority by ``increment`` (Linux, where a thread has its own nice
    value and the threads and processes it starts later inherit it: the cycles' worker threads, the
    model's inference threads, the extraction pool). The desk's work is background work: on cores the
    API's requests also want, the scheduler gives them the CPU first (nice 10 weighs ~1/10 of nice 0),
    and on idle cores the desk runs as fast as before. Elsewhere, nothing (``setpriority`` on a thread
    id is Linux's alone)."""
    if increment <= 0 or sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + increment)
    except OSError as e:  # a sandbox that forbids it: run at the same priority
        log.warning("desk priority not lowered", extra={"error": str(e)})


def targets_from(nd: Newsdesk) -> OutputTargets:
    """The output folders the settings configure (``live_records``, ``feeds_dir``)."""
    settings = nd.settings
    feeds = settings.feeds_dir if str(settings.feeds_dir) not in ("", ".") else None
    records = settings.records_dir if settings.live_records else None
    return OutputTargets(records_dir=records, feeds_dir=feeds, feeds_base_url=settings.feeds_base_url)
