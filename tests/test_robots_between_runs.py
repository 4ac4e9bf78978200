"""robots.txt rules kept in the store between runs (``store/robots.py``, glued in ``stages._fetcher``).

Cold runs (a new facade each, as a cron poll is a new process) against publishers on one loopback
server, on SQLite and PostgreSQL: the second run within the rules' lifetime asks no host for
robots.txt and still obeys the rules, and a run whose feeds answer 304 writes nothing; expired rules,
rules after an error (kept 10 minutes, not 24 hours) and rules read for another user agent are asked
for again; the desk's kept rules are seeded from the store once, at its first cycle.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.fetch.client import keep_connections
from newsdesk.fetch.robots import ROBOTS_ERROR_TTL, ROBOTS_TTL
from newsdesk.ingestor import fetch_policy
from newsdesk.model import Source
from newsdesk.stages import RunSummary
from newsdesk.store import tables as t
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen

RSS = "application/rss+xml"
OPEN, DOWN = "open.example", "down.example"  # robots.txt keeps us out of /private; robots.txt answers 503


def page(path: str) -> bytes:
    """An article page whose text is its own (two pages with one text would be one article)."""
    text = "".join(f"<p>Paragraph {n} of report {path} on the harbour works, with the council's figures.</p>"
                   for n in range(6))  # fmt: skip
    return f"<html><body><h1>Report {path}</h1>{text}</body></html>".encode()


class Site:
    """Two publishers' feeds and pages on one loopback server (virtual hosts through ``resolve``). A
    feed answers 304 to its own ETag; :meth:`add` puts a new item in it."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.items: dict[str, list[str]] = {OPEN: ["a/1", "private/1"], DOWN: ["a/1"]}
        self.robots_status = {OPEN: 200, DOWN: 503}
        server.route("/robots.txt", self.robots)
        server.route("/feed.xml", self.feed)
        for path in ("a/1", "a/2", "private/1", "private/2"):
            server.route(f"/{path}", Reply(body=page(path)))

    @property
    def resolve(self) -> dict[str, str]:
        return dict.fromkeys(self.items, f"127.0.0.1:{self.server.port}")

    def sources(self) -> list[Source]:
        return [Source(f"http://{host}/feed.xml", name=host, allow_loopback=True) for host in self.items]

    def robots(self, seen: Seen) -> Reply:
        status = self.robots_status[_host(seen)]
        return Reply(status=status, body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain")

    def feed(self, seen: Seen) -> Reply:
        host = _host(seen)
        items = "".join(
            f"<item><title>Report {p}</title><link>http://{host}/{p}</link>"
            f"<description>The report {p} in brief, with a few words more.</description></item>"
            for p in self.items[host]
        )
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>{host}</title>{items}</channel></rss>'
        )
        tag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if seen.headers.get("if-none-match") == tag:
            return Reply(status=304, content_type=None, headers={"ETag": tag})
        return Reply(body=body.encode(), content_type=RSS, headers={"ETag": tag})

    def add(self, host: str, *paths: str) -> None:
        self.items[host] = [*self.items[host], *paths]

    def asked(self, host: str, path: str = "/robots.txt") -> int:
        """How often ``host`` was asked for ``path``."""
        return sum(1 for seen in list(self.server.requests) if seen.path == path and _host(seen) == host)

    def agents(self, host: str) -> list[str]:
        """The User-Agent of each robots.txt request ``host`` had."""
        seen = [s for s in list(self.server.requests) if s.path == "/robots.txt" and _host(s) == host]
        return [s.headers.get("user-agent", "") for s in seen]


def _host(seen: Seen) -> str:
    return seen.headers.get("host", "").partition(":")[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    """The store's URL: "" is the SQLite file in the data folder."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def site() -> Iterator[Site]:
    with LoopbackServer() as server:
        yield Site(server)


@contextmanager
def desk(site: Site, tmp_path: Path, database: str, **env: str) -> Iterator[Newsdesk]:
    """A cold facade over the test's store (the same data folder and database every time)."""
    settings = load_settings(
        env=quiet_env(tmp_path / "data", database, NEWSDESK_WORKERS="1", **env), base_dir=tmp_path
    )
    with Newsdesk(settings, resolve=site.resolve) as nd:
        nd.sources.ensure(site.sources())
        yield nd


def cold_run(site: Site, tmp_path: Path, database: str, **env: str) -> RunSummary:
    """One run of every source, due or not, by a facade of its own."""
    with desk(site, tmp_path, database, **env) as nd:
        return nd.run(sources=nd.sources.list())


@contextmanager
def robots_sql(nd: Newsdesk) -> Iterator[list[str]]:
    """The SQL statements on ``robots_rules`` the store sends while the block runs, by their verb."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "robots_rules" in statement:
            seen.append(statement.split()[0].upper())

    event.listen(nd.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(nd.store.engine, "before_cursor_execute", record)


def kept_expiry(site: Site, tmp_path: Path, database: str, host: str) -> datetime:
    with desk(site, tmp_path, database) as nd:
        kept = nd.store.robots_rules(nd.settings.user_agent, datetime.now(UTC))
    (expires,) = [expires for url, _rules, expires in kept if url == f"http://{host}/robots.txt"]
    return expires


def age_kept_rules(site: Site, tmp_path: Path, database: str) -> None:
    """Make every kept rule expire a second ago, as a day's wait would."""
    with desk(site, tmp_path, database) as nd, nd.store.engine.begin() as c:
        c.execute(update(t.robots_rules).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_a_second_cold_run_asks_no_robots_txt_and_still_obeys_it(
    site: Site, tmp_path: Path, database: str
) -> None:
    first = cold_run(site, tmp_path, database)
    assert site.asked(OPEN) == 1 and site.asked(OPEN, "/private/1") == 0 and site.asked(OPEN, "/a/1") == 1
    assert first.new == 2 and first.errors["robots"] == 2  # /private/1, and the 503 host's feed

    site.add(OPEN, "a/2", "private/2")
    second = cold_run(site, tmp_path, database)
    assert (site.asked(OPEN), site.asked(DOWN)) == (1, 1)  # both hosts' rules were kept
    assert site.asked(OPEN, "/private/2") == 0 and site.asked(OPEN, "/a/2") == 1
    assert second.new == 2 and second.errors["robots"] == 2
    assert site.asked(DOWN, "/feed.xml") == 0  # still closed: all disallowed for the error's lifetime

    with desk(site, tmp_path, database) as nd, robots_sql(nd) as sql:
        third = nd.run(sources=nd.sources.list())
    assert third.unchanged == 1 and site.asked(OPEN) == 1
    assert sql == ["SELECT"]  # read once; nothing loaded, so nothing written


def test_expired_rules_are_asked_for_again_and_kept_for_another_day(
    site: Site, tmp_path: Path, database: str
) -> None:
    cold_run(site, tmp_path, database)
    age_kept_rules(site, tmp_path, database)
    before = datetime.now(UTC)
    cold_run(site, tmp_path, database)
    assert (site.asked(OPEN), site.asked(DOWN)) == (2, 2)
    expires = kept_expiry(site, tmp_path, database, OPEN)
    assert (
        before + timedelta(seconds=ROBOTS_TTL - 5)
        <= expires
        <= datetime.now(UTC) + timedelta(seconds=ROBOTS_TTL)
    )


def test_an_unreachable_robots_txt_is_kept_for_the_error_lifetime_only(
    site: Site, tmp_path: Path, database: str
) -> None:
    before = datetime.now(UTC)
    cold_run(site, tmp_path, database)
    expires = kept_expiry(site, tmp_path, database, DOWN)
    error_life = timedelta(seconds=ROBOTS_ERROR_TTL)
    assert before + error_life - timedelta(seconds=5) <= expires <= datetime.now(UTC) + error_life
    assert site.asked(DOWN, "/feed.xml") == 0

    site.robots_status[DOWN] = 404  # back, with no robots.txt: all allowed, once the error's rules expire
    age_kept_rules(site, tmp_path, database)
    cold_run(site, tmp_path, database)
    assert site.asked(DOWN) == 2 and site.asked(DOWN, "/feed.xml") == 1


def test_rules_kept_for_another_user_agent_are_not_used(site: Site, tmp_path: Path, database: str) -> None:
    """A robots.txt may give another agent other rules: a run under another agent asks again (and
    keeps what it read for that agent, which its next run uses)."""
    cold_run(site, tmp_path, database)
    for _ in range(2):
        cold_run(site, tmp_path, database, NEWSDESK_USER_AGENT="otherbot/2.0")
    agents = site.agents(OPEN)
    assert len(agents) == 2 and agents[1] == "otherbot/2.0" and agents[0] != agents[1]


def test_the_desks_kept_rules_are_seeded_from_the_store_at_its_first_cycle_only(
    site: Site, tmp_path: Path, database: str
) -> None:
    """A restarted desk asks no host again: its first cycle reads the rules a run kept, its later cycles
    read nothing (the rules are in memory) and, loading nothing, write nothing."""
    cold_run(site, tmp_path, database)

    with desk(site, tmp_path, database) as nd, robots_sql(nd) as sql:

        async def cycles() -> None:
            kept = keep_connections(fetch_policy(nd.settings, nd.resolve))
            for _ in range(3):
                await nd.run_async(sources=nd.sources.list(), connections=kept)
            await kept.close()

        asyncio.run(cycles())
    assert sql == ["SELECT"]
    assert (site.asked(OPEN), site.asked(DOWN)) == (1, 1)


def test_with_robots_txt_off_the_kept_rules_are_not_read(site: Site, tmp_path: Path, database: str) -> None:
    with desk(site, tmp_path, database, NEWSDESK_RESPECT_ROBOTS="0") as nd, robots_sql(nd) as sql:
        nd.run(sources=nd.sources.list())
    assert sql == [] and site.asked(OPEN) == 0 and site.asked(OPEN, "/private/1") == 1
