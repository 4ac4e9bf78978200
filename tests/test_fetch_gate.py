"""Politeness scheduling (gate.py) and the header parsers of policy.py."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest

from newsdesk.errors import FetchError
from newsdesk.fetch.gate import HostGate
from newsdesk.fetch.policy import parse_max_age, parse_retry_after


class FakeClock:
    """A clock that only moves when the gate sleeps, so spacing is checked without real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.starts: list[tuple[str, float]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_gate(clock: FakeClock, delay: float = 0.5, per_host: int = 2) -> HostGate:
    return HostGate(
        concurrency=16, per_host_concurrency=per_host, delay=delay, max_defer_wait=30.0, clock=clock,
        sleep=clock.sleep,
    )  # fmt: skip


def test_reservations_space_starts_per_host() -> None:
    clock = FakeClock()
    gate = make_gate(clock, delay=0.5)
    waits = [gate.reserve("a.test") for _ in range(3)] + [gate.reserve("b.test")]
    assert waits == [0.0, 0.5, 1.0, 0.0]


def test_slots_start_requests_delay_apart() -> None:
    clock = FakeClock()
    gate = make_gate(clock, delay=0.5, per_host=1)

    async def request(host: str) -> None:
        async with gate.slot(host):
            clock.starts.append((host, clock.now))

    async def scenario() -> None:
        await asyncio.gather(*(request("a.test") for _ in range(3)))

    asyncio.run(scenario())
    times = [t for _, t in clock.starts]
    assert all(later - earlier >= 0.5 for earlier, later in itertools.pairwise(times))


def test_crawl_delay_never_lowers_the_policy_delay() -> None:
    clock = FakeClock()
    gate = make_gate(clock, delay=1.0)
    gate.set_host_delay("a.test", 0.1)
    gate.set_host_delay("b.test", 3.0)
    assert [gate.reserve("a.test"), gate.reserve("a.test")] == [0.0, 1.0]
    assert [gate.reserve("b.test"), gate.reserve("b.test")] == [0.0, 3.0]


def test_deferral_delays_short_and_refuses_long_waits() -> None:
    clock = FakeClock()
    gate = make_gate(clock)
    gate.defer("a.test", 5.0)
    assert gate.ready_in("a.test") == 5.0 and gate.reserve("a.test") == 5.0
    gate.defer("b.test", 300.0)

    async def enter() -> None:
        async with gate.slot("b.test"):
            pass

    with pytest.raises(FetchError) as caught:
        asyncio.run(enter())
    assert caught.value.kind == "deferred" and getattr(caught.value, "retry_after", 0) == 300.0
    gate.defer("b.test", 1.0)  # a shorter deferral never shortens a longer one
    assert gate.deferred_for("b.test") == 300.0


NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 01 Jan 2025 12:01:30 GMT", 90.0),
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("public, max-age=300", 300), ('max-age="60"', 60), ("no-cache, s-maxage=10", None), (None, None)],
)
def test_parse_max_age(header: str | None, seconds: int | None) -> None:
    assert parse_max_age(header) == seconds
