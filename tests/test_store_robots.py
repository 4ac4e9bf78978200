"""Kept robots.txt rules in the store (``store/robots.py``), on SQLite and PostgreSQL: a round trip, one
user agent's rows only, expired rows neither read nor kept, one row per robots.txt URL, and the change
stamp left alone (nothing a reader sees changes with them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsdesk.fetch.robots import RobotsRules, parse_robots, rules_from_json, rules_to_json
from newsdesk.store import Store

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AGENT, OTHER = "newsdesk/0.1", "otherbot/2.0"
A, B, C = (f"http://{host}.example/robots.txt" for host in "abc")
RULES = rules_to_json(parse_robots("User-agent: *\nDisallow: /private\nCrawl-delay: 2\n", AGENT))


def hours(n: float) -> datetime:
    return AT + timedelta(hours=n)


def test_kept_rules_come_back_for_their_agent_until_they_expire(store: Store) -> None:
    stamp = store.change_stamp()
    store.keep_robots_rules(AGENT, [(A, RULES, hours(24)), (B, RULES, hours(0.1))], AT)
    store.keep_robots_rules(OTHER, [(C, RULES, hours(24))], AT)
    assert sorted(store.robots_rules(AGENT, AT)) == [(A, RULES, hours(24)), (B, RULES, hours(0.1))]
    assert store.robots_rules(OTHER, AT) == [(C, RULES, hours(24))]
    assert store.robots_rules(AGENT, hours(1)) == [(A, RULES, hours(24))]  # B's have expired
    kept = rules_from_json(store.robots_rules(AGENT, AT)[0][1])
    assert kept is not None and kept.crawl_delay == 2.0 and not kept.can_fetch("http://a.example/private/x")
    assert store.change_stamp() == stamp


def test_keeping_replaces_a_urls_row_and_deletes_the_expired(store: Store) -> None:
    store.keep_robots_rules(AGENT, [(A, RULES, hours(0.1)), (B, RULES, hours(0.1))], AT)
    closed = rules_to_json(RobotsRules(disallow_all=True))
    store.keep_robots_rules(OTHER, [(A, closed, hours(25))], hours(1))  # B expired at 09:06
    assert store.robots_rules(AGENT, AT) == []  # A is OTHER's now; B is gone, not only unread
    assert store.robots_rules(OTHER, AT) == [(A, closed, hours(25))]


def test_keeping_nothing_writes_nothing(store: Store) -> None:
    store.keep_robots_rules(AGENT, [(A, RULES, hours(0.1))], AT)
    store.keep_robots_rules(AGENT, [], hours(1))  # would have deleted the expired row had it written
    assert store.robots_rules(AGENT, AT) == [(A, RULES, hours(0.1))]
