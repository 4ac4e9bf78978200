"""robots.txt matching (RFC 9309 longest match), fetch-outcome mapping and the per-origin cache."""

from __future__ import annotations

import asyncio

import pytest

from newsdesk.fetch.robots import RobotsCache, RobotsRules, parse_robots, robots_url, rules_from_response

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
