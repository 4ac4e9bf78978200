"""Operations endpoints for whoever runs the service: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz`` answers while the process serves requests (a liveness probe: restart me if not).
- ``/readyz`` answers 200 only when the database answers and, when the desk runs, its thread is alive;
  the body says how old the last cycle is (a readiness probe: send me traffic, or not).
- ``/metrics`` is Prometheus' text format, read at scrape time from the desk's status and the store
  (no global registry, so two apps in one process — the tests — never collide).

They are outside ``/api/v1`` and need no token: they reveal counts, never content or URLs. Put them
behind the reverse proxy's own rules if even counts are private (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..app import Newsdesk
from ..desk import Desk
from ..model import now

LAG_PROBE_S = 0.5  # how often the event loop's lateness is sampled


@dataclass
class LoopLag:
    """The event loop's lateness: how much later than asked a short sleep wakes up (worst since the
    last scrape, and the latest sample)."""

    latest_s: float = 0.0
    worst_s: float = 0.0

    async def watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_S)
            self.latest_s = max(0.0, time.perf_counter() - started - LAG_PROBE_S)
            self.worst_s = max(self.worst_s, self.latest_s)

    def take_worst(self) -> float:
        worst, self.worst_s = self.worst_s, self.latest_s
        return worst


@dataclass
class Ops:
    """What the operations endpoints read: the facade, the desk (None with ``--no-poll`` or in tests of
    the API alone) and the loop-lag probe."""

    nd: Newsdesk
    desk: Desk | None
    lag: LoopLag

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Start the desk and the lag probe with the server; stop them when it shuts down (SIGTERM)."""
        probe = asyncio.create_task(self.lag.watch())
        if self.desk is not None:
            self.desk.start()
        try:
            yield
        finally:
            probe.cancel()
            if self.desk is not None:
                await asyncio.to_thread(self.desk.stop)


def router(ops: Ops) -> APIRouter:
    api = APIRouter(include_in_schema=False)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(ops))

    @api.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.api_route("/readyz", methods=["GET", "HEAD"])
    def readyz() -> JSONResponse:
        body, ready = readiness(ops)
        return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})

    @api.get("/metrics")
    def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api


def readiness(ops: Ops) -> tuple[dict[str, Any], bool]:
    """The readiness report and whether it means ready."""
    body: dict[str, Any] = {"database": "ok", "desk": "off"}
    ready = True
    try:
        ops.nd.catalog.live_stamp()
    except Exception as error:  # any driver error means "not ready", with its text
        body["database"] = f"error: {type(error).__name__}"
        ready = False
    if ops.desk is not None:
        status = ops.desk.status
        body["desk"] = "running" if ops.desk.alive else "stopped"
        ready = ready and ops.desk.alive
        body["cycles"] = status.cycles
        if status.last_cycle_at is not None:
            body["lastCycleAgeSeconds"] = round((now() - status.last_cycle_at).total_seconds(), 1)
        if status.last_error:
            body["lastError"] = status.last_error
    return body, ready


class DeskCollector(Collector):
    """Reads the desk's running totals and the store's pending work at scrape time."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        yield from self._desk_metrics()
        pending = GaugeMetricFamily(
            "newsdesk_pending_articles", "Articles waiting for a stage", labels=["stage"]
        )
        for stage, count in self.ops.nd.catalog.pending_counts().items():
            pending.add_metric([stage], count)
        yield pending
        lag = GaugeMetricFamily(
            "newsdesk_event_loop_lag_seconds", "Worst event-loop lateness since last scrape"
        )
        lag.add_metric([], self.ops.lag.take_worst())
        yield lag

    def _desk_metrics(self) -> Iterator[Metric]:
        if self.ops.desk is None:
            return
        status = self.ops.desk.status
        totals = status.totals
        yield _counter("newsdesk_cycles", "Desk cycles run", status.cycles)
        yield _counter("newsdesk_polls", "Sources polled", totals.get("sources_polled", 0))
        yield _counter(
            "newsdesk_not_modified", "Polls answered 304 Not Modified", totals.get("not_modified", 0)
        )
        yield _counter("newsdesk_articles_ingested", "New articles stored", totals.get("new", 0))
        errors = CounterMetricFamily("newsdesk_errors", "Recorded errors by kind", labels=["kind"])
        for key, value in sorted(totals.items()):
            if key.startswith("error:"):
                errors.add_metric([key.removeprefix("error:")], value)
        yield errors
        duration = GaugeMetricFamily("newsdesk_last_cycle_seconds", "Duration of the last desk cycle")
        duration.add_metric([], status.last_cycle_s)
        yield duration
        stages = GaugeMetricFamily(
            "newsdesk_last_cycle_stage_seconds",
            "Duration of each stage in the last desk cycle",
            labels=["stage"],
        )
        for stage, seconds in sorted(status.last_stages_s.items()):
            stages.add_metric([stage], seconds)
        yield stages
        lag = GaugeMetricFamily(
            "newsdesk_desk_loop_lag_seconds", "Worst lateness of the desk's event loop since last scrape"
        )
        lag.add_metric([], self.ops.desk.loop_lag.take_worst())
        yield lag


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family
