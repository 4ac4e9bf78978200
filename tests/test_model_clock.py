"""Tests for newsdesk.model's clock: ``now`` is the wall clock, except inside ``held_clock``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from newsdesk.model import held_clock, now


def test_held_clock_answers_the_held_time_in_every_thread_then_lets_go() -> None:
    at = datetime(2026, 11, 25, 13, 0, 30, 999, tzinfo=timezone(timedelta(hours=1)))
    seen: list[datetime] = []
    with held_clock(at):
        worker = threading.Thread(target=lambda: seen.append(now()))
        worker.start()
        worker.join()
        seen.append(now())
    assert seen == [datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)] * 2  # UTC, whole seconds, as now() gives
    assert abs(now() - datetime.now(UTC)) < timedelta(seconds=5)
