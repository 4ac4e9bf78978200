"""robots.txt matching (RFC 9309 longest match), fetch-outcome mapping and the per-origin cache, and the
cache's hand-over to the next process (rules as JSON, seeded and taken back with wall-clock expiry)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from newsdesk.fetch.robots import (
    KeptRules,
    RobotsCache,
    RobotsRules,
    parse_robots,
    robots_url,
    rules_from_json,
    rules_from_response,
    rules_to_json,
)

AGENT = "newsdesk/0.1 (+https://github.com/newsdesk)"
ROBOTS = """
# comment
User-agent: *
Allow: /
Disallow: /private
Allow: /private/press
Disallow: /*.pdf$
Disallow: /search?
Crawl-delay: 2

User-agent: newsdesk
Disallow: /no-newsdesk/
Allow: /no-newsdesk/ok$

User-agent: OtherBot
Disallow: /
"""


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/news/1", True),
        ("/no-newsdesk/page", False),
        ("/no-newsdesk/ok", True),
        ("/no-newsdesk/ok/more", False),
        ("/private", True),  # the newsdesk group replaces the * group entirely
        ("/robots.txt", True),
    ],
)
def test_specific_group_applies_to_our_agent(path: str, allowed: bool) -> None:
    assert parse_robots(ROBOTS, AGENT).can_fetch(f"https://site.test{path}") is allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/private", False),  # longest match beats the earlier "Allow: /" (stdlib would allow)
        ("/private/x", False),
        ("/private/press/release", True),  # the longer Allow wins
        ("/files/report.pdf", False),
        ("/files/report.pdf?x=1", True),  # "$" anchors the end
        ("/search?q=x", False),
        ("/search", True),
        ("/%70rivate", False),  # percent-encoding of unreserved characters does not dodge a rule
    ],
)
def test_rfc9309_longest_match_and_wildcards(path: str, allowed: bool) -> None:
    rules = parse_robots(ROBOTS, "SomeCrawler/2.0")
    assert rules.can_fetch(f"https://site.test{path}") is allowed
    assert rules.crawl_delay == 2.0


def test_allow_wins_a_tie() -> None:
    rules = parse_robots("User-agent: *\nDisallow: /page\nAllow: /page\n", AGENT)
    assert rules.can_fetch("http://s.test/page")


def test_other_agents_group_does_not_apply() -> None:
    assert parse_robots(ROBOTS, "OtherBot/1.0").can_fetch("http://s.test/") is False
    assert parse_robots("User-agent: OtherBot\nDisallow: /\n", AGENT).can_fetch("http://s.test/") is True


def test_empty_disallow_allows_everything() -> None:
    assert parse_robots("User-agent: *\nDisallow:\n", AGENT).can_fetch("http://s.test/anything")


@pytest.mark.parametrize(
    ("status", "allowed", "is_error"),
    [(200, False, False), (404, True, False), (401, True, False), (429, False, True), (500, False, True),
     (503, False, True), (None, False, True)],
)  # fmt: skip
def test_fetch_outcomes_follow_rfc9309(status: int | None, allowed: bool, is_error: bool) -> None:
    rules, error = rules_from_response(status, "User-agent: *\nDisallow: /\n", AGENT)
    assert rules.can_fetch("http://s.test/x") is allowed
    assert error is is_error


def test_robots_url_keeps_scheme_host_and_port() -> None:
    assert robots_url("https://user@News.test:8443/a/b?c#d") == "https://News.test:8443/robots.txt"


def test_cache_loads_once_per_origin_and_expires() -> None:
    now = [0.0]
    loads: list[str] = []

    async def load(url: str) -> tuple[RobotsRules, bool]:
        loads.append(url)
        await asyncio.sleep(0.01)
        return parse_robots("User-agent: *\nDisallow: /x\n", AGENT), url.startswith("http://bad")

    cache = RobotsCache(ttl=100.0, error_ttl=10.0, clock=lambda: now[0])

    async def scenario() -> None:
        await asyncio.gather(*(cache.rules_for(f"http://a.test/{i}", load) for i in range(5)))
        await cache.rules_for("http://bad.test/", load)
        now[0] = 50.0
        await cache.rules_for("http://a.test/again", load)  # still fresh
        await cache.rules_for("http://bad.test/", load)  # error entries expire sooner
        now[0] = 150.0
        await cache.rules_for("http://a.test/later", load)

    asyncio.run(scenario())
    assert loads == [
        "http://a.test/robots.txt",
        "http://bad.test/robots.txt",
        "http://bad.test/robots.txt",
        "http://a.test/robots.txt",
    ]


# -- kept between processes ------------------------------------------------------------------------------

WALL = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_rules_survive_their_json() -> None:
    unreachable, _ = rules_from_response(503, None, AGENT)
    delayed = parse_robots(ROBOTS, "SomeCrawler/2.0")  # patterns, wildcards, a crawl delay
    assert delayed.crawl_delay == 2.0
    for rules in (delayed, parse_robots(ROBOTS, AGENT), unreachable, RobotsRules()):
        assert rules_from_json(rules_to_json(rules)) == rules


@pytest.mark.parametrize("text", ["", "{", "[]", '{"rules": [["/x", true]]}', '{"rules": 3, "disallow_all": false, '
                                  '"crawl_delay": null, "reason": "r"}'])  # fmt: skip
def test_json_it_did_not_write_reads_as_no_rules(text: str) -> None:
    assert rules_from_json(text) is None


def _kept(url: str, rules: RobotsRules, seconds_left: float) -> KeptRules:
    return KeptRules(url, rules_to_json(rules), WALL + timedelta(seconds=seconds_left))


def test_seeded_rules_serve_until_their_wall_clock_expiry_and_are_not_handed_back() -> None:
    """Rules kept by an earlier process are used for the life they had left (no longer than the TTL,
    whatever the row says), rules already expired or unreadable are not; only what this cache loaded
    is handed back, once, with its expiry on the wall clock."""
    mono, wall = [1000.0], [WALL]
    loads: list[str] = []
    closed = RobotsRules(disallow_all=True)

    async def load(url: str) -> tuple[RobotsRules, bool]:
        loads.append(url)
        return RobotsRules(), url.startswith("http://bad")

    cache = RobotsCache(ttl=100.0, error_ttl=10.0, clock=lambda: mono[0], wall=lambda: wall[0])

    def at(seconds: float) -> None:  # both clocks move on together (the monotonic one read 1000 at WALL)
        mono[0], wall[0] = 1000.0 + seconds, WALL + timedelta(seconds=seconds)

    cache.seed([
        _kept("http://a.test/robots.txt", closed, 50.0),
        _kept("http://old.test/robots.txt", closed, -1.0),
        _kept("http://far.test/robots.txt", closed, 10 * 24 * 3600.0),
        KeptRules("http://bad.test/robots.txt", "not json", WALL + timedelta(seconds=50)),
    ])  # fmt: skip
    assert cache.seeded

    async def scenario() -> None:
        for host in ("a", "old", "far", "bad"):
            await cache.rules_for(f"http://{host}.test/page", load)
        assert cache.cached("http://a.test/page") == closed and cache.cached("http://far.test/page") == closed
        at(60.0)
        await cache.rules_for("http://a.test/page", load)  # its 50 s are over
        at(101.0)
        await cache.rules_for("http://far.test/page", load)  # capped at the TTL

    asyncio.run(scenario())
    assert loads == [f"http://{h}.test/robots.txt" for h in ("old", "bad", "a", "far")]
    taken = {url: (rules_from_json(text), expires - wall[0]) for url, text, expires in cache.take_loaded()}
    assert taken == {
        "http://a.test/robots.txt": (RobotsRules(), timedelta(seconds=60 + 100 - 101)),
        "http://far.test/robots.txt": (RobotsRules(), timedelta(seconds=100)),
    }  # old.test's (100 s) and bad.test's error rules (10 s) expired before they were taken: not kept
    assert cache.take_loaded() == []  # handed back once


def test_seeding_leaves_rules_the_cache_loaded_itself() -> None:
    async def load(url: str) -> tuple[RobotsRules, bool]:
        return RobotsRules(), False

    cache = RobotsCache(wall=lambda: WALL)
    asyncio.run(cache.rules_for("http://a.test/", load))
    cache.seed([_kept("http://a.test/robots.txt", RobotsRules(disallow_all=True), 50.0)])
    assert cache.cached("http://a.test/x") == RobotsRules()
    assert [url for url, _, _ in cache.take_loaded()] == ["http://a.test/robots.txt"]
