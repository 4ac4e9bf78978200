"""``/metrics`` in Prometheus' text format, read at scrape time from the desk's status and the store.

Imported by the first scrape (``ops.py``), so a desk nobody scrapes never loads ``prometheus_client``
(13–16 ms of import time at every start, ``python -X importtime`` on the bench machine). Each scrape
reads through a registry of its own holding one :class:`DeskCollector`: no global registry, so two apps
in one process — the tests — never collide; what must last between scrapes (the worst loop lag since
the last one) lives on :class:`~newsdesk.api.ops.Ops`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .ops import Ops


def scrape(ops: Ops) -> Response:
    """The metrics of ``ops``' desk and store, now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(ops))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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
