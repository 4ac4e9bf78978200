"""Operations endpoints for whoever runs the service: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz`` answers while the process serves requests (a liveness probe: restart me if not).
- ``/readyz`` answers 200 only when the database answers and, when the desk runs, its thread is alive;
  the body says how old the last cycle is (a readiness probe: send me traffic, or not).
- ``/metrics`` is Prometheus' text format, read at scrape time from the desk's status and the store
  (no global registry, so two apps in one process — the tests — never collide; ``metrics.py``, loaded
  by the first scrape).

They are outside ``/api/v1`` and need no token: they reveal counts, never content or URLs. Put them
behind the reverse proxy's own rules if even counts are private (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

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

    @api.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.api_route("/readyz", methods=["GET", "HEAD"])
    def readyz() -> JSONResponse:
        body, ready = readiness(ops)
        return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})

    @api.get("/metrics")
    def metrics(_request: Request) -> Response:
        from .metrics import scrape  # prometheus_client loads on the first scrape, not at every start

        return scrape(ops)

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
