"""Hostile and broken inputs through the whole pipeline: one bad thing per source, all in one run.

Every case is a source (or a page or image behind a healthy source) on a real loopback server, reached
under its own virtual host so the per-host politeness of one case cannot slow another. One
``Newsdesk.run`` polls them all together with a healthy source. For each case the contract is:

* the error is recorded against its source — an event with the source's id and a stable ``kind``, and
  for source-level failures the source's health (``last_error``, ``error_count``, a later next poll);
* the run goes on — the healthy source in the same run gets all its articles;
* nothing already stored is damaged — an article saved before the run is unchanged after it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import Settings, load_settings
from newsdesk.fetch.client import Fetcher
from newsdesk.ingestor import Ingestor, fetch_policy, process_pool
from newsdesk.model import Article, Provider, Source, SourceKind
from newsdesk.sources.schedule import BACKOFF_JITTER
from newsdesk.stages import RunSummary
from newsdesk.store import Store
from tests.httpserver import LoopbackServer, Reply, Route, Seen, drip, huge, redirect

TOTAL_TIMEOUT_S = 5.0  # the slow and drip-fed cases end in seconds; healthy replies (robots.txt too) keep slack under CI load
SLOW_REPLY_S = 15.0  # the slow server waits this long before the status line: well past the timeout
DRIP_EVERY_S, DRIP_CHUNKS = 0.2, 100  # one byte every 0.2 s for 20 s: each read is fast, the whole is not
HUGE_BYTES = 50_000_000  # five times the default 10 MB body cap
GOOD_PAGES = 3
RSS = "application/rss+xml"
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def rss(host: str, links: list[tuple[str, str]], *, declaration: str = '<?xml version="1.0"?>') -> str:
    """An RSS 2.0 feed of (path, title) items on ``host``."""
    items = "".join(
        f"<item><title>{title}</title><link>http://{host}{path}</link>"
        f"<guid>http://{host}{path}</guid><pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate>"
        f"<description>About {title}.</description></item>"
        for path, title in links
    )
    return f'{declaration}<rss version="2.0"><channel><title>{host}</title><link>http://{host}/</link>{items}</channel></rss>'


def article_html(title: str, *, image: str | None = None, meta_charset: str | None = None) -> str:
    """A plain article page with enough text for the extractor to keep."""
    paragraphs = "".join(
        f"<p>{title}: paragraph {n} tells the reader something specific about the matter at hand, "
        f"with figures, names and a quote that the extractor should keep as the article body.</p>"
        for n in range(1, 7)
    )
    head = f'<meta charset="{meta_charset}">' if meta_charset else ""
    head += f'<meta property="og:image" content="{image}">' if image else ""
    return f"<!doctype html><html><head>{head}<title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>"


@dataclass(frozen=True)
class Case:
    """One bad input. ``scope`` says where the failure sits: the source's own URL, an entry's page, or
    an image on that page. ``kinds`` are the acceptable error kinds (``()``: no error expected)."""

    name: str
    scope: str  # source | page | image
    kinds: tuple[str, ...]
    routes: dict[str, Route]
    allow_loopback: bool = True

    @property
    def host(self) -> str:
        return f"{self.name}.example"

    @property
    def url(self) -> str:
        return f"http://{self.host}/{self.name}/feed"


def _feed_with_page(name: str, page: Reply, *, title: str = "An entry with a bad page") -> dict[str, Route]:
    host = f"{name}.example"
    feed = rss(host, [(f"/{name}/a1", title)]).encode()
    return {f"/{name}/feed": Reply(body=feed, content_type=RSS), f"/{name}/a1": page}


def _status(code: int) -> Case:
    return Case(
        f"http-{code}", "source", (f"http-{code}",), {f"/http-{code}/feed": Reply(status=code, body=b"no")}
    )


BINARY = b"\x89PNG\r\n\x1a\n" + os.urandom(4096)
BROKEN_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64  # a JPEG cut off after its header
CP1252_TITLE = "Café owners’ naïve “résumé” – a test"

CASES: tuple[Case, ...] = (
    _status(404),
    _status(410),
    _status(500),
    Case("slow", "source", ("timeout",), {"/slow/feed": Reply(body=b"<rss/>", content_type=RSS, delay=SLOW_REPLY_S)}),
    Case("drip", "source", ("timeout",), {"/drip/feed": drip(b" ", DRIP_EVERY_S, DRIP_CHUNKS)}),
    Case("huge", "source", ("too-large",), {"/huge/feed": huge(HUGE_BYTES, content_type=RSS)}),
    Case("loop", "source", ("redirect",), {"/loop/feed": redirect("/loop/feed2"), "/loop/feed2": redirect("/loop/feed")}),
    Case("private", "source", ("blocked",), {"/private/feed": Reply(body=b"<rss/>", content_type=RSS)}, allow_loopback=False),
    Case("malformed", "source", ("parse",), {"/malformed/feed": Reply(body=b'<?xml version="1.0"?><rss><channel><title>x</titl', content_type=RSS)}),
    Case("sloppy", "records", (), _feed_with_page("sloppy", Reply(body=article_html("Fish & chips").encode()), title="Fish & chips <b>tax")),
    Case("htmlfeed", "source", ("content-type", "parse"), {"/htmlfeed/feed": Reply(body=article_html("Not a feed").encode())}),
    Case("robots", "source", ("robots",), {"/robots/feed": Reply(body=b"<rss/>", content_type=RSS)}),
    Case("binary", "page", ("content-type",), _feed_with_page("binary", Reply(body=BINARY, content_type="text/html"))),
    Case(
        "charset", "page", (),
        {
            # Windows-1252 bytes, declared nowhere (no header charset, no XML declaration) …
            "/charset/feed": Reply(body=rss("charset.example", [("/charset/a1", CP1252_TITLE)], declaration="").encode("cp1252"), content_type="text/xml"),
            # … and a page whose header says UTF-8 while the bytes and the <meta> are Latin-1.
            "/charset/a1": Reply(body=article_html("Crème brûlée économie", meta_charset="iso-8859-1").encode("latin-1"), content_type="text/html; charset=utf-8"),
        },
    ),
    Case("image", "image", ("image",), {
        **_feed_with_page("image", Reply(body=article_html("Broken picture", image="http://image.example/image/pic.jpg").encode())),
        "/image/pic.jpg": Reply(body=BROKEN_JPEG, content_type="image/jpeg"),
    }),
)  # fmt: skip
BY_NAME = {case.name: case for case in CASES}


def good_routes() -> dict[str, Route]:
    links = [(f"/good/a{n}", f"Healthy story number {n}") for n in range(1, GOOD_PAGES + 1)]
    routes: dict[str, Route] = {
        "/good/feed": Reply(body=rss("good.example", links).encode(), content_type=RSS)
    }
    for path, title in links:
        routes[path] = Reply(body=article_html(title).encode())
    return routes


def robots_txt(seen: Seen) -> Reply:
    """robots.txt per virtual host: the ``robots`` host forbids everything, the others allow all."""
    if seen.headers.get("host", "").startswith("robots.example"):
        return Reply(body=b"User-agent: *\nDisallow: /\n", content_type="text/plain")
    return Reply(status=404, body=b"none", content_type="text/plain")


def make_settings(data_dir: Path, **env: str) -> Settings:
    base = {
        "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_ENRICH": "0",
        "NEWSDESK_ENCRYPT": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
        "NEWSDESK_TOTAL_TIMEOUT": str(TOTAL_TIMEOUT_S),
        "NEWSDESK_READ_TIMEOUT": str(TOTAL_TIMEOUT_S),
    }
    return load_settings(env=base | env, base_dir=data_dir)


def seed_article() -> Article:
    return Article(
        title="Seeded before the bad run",
        web_url="http://good.example/seeded",
        original_url="http://good.example/seeded?utm_source=seed",
        provider=Provider("Good News", "good.example"),
        excerpt="Stored before anything went wrong.",
        published_at=NOW,
        text="The seeded article's text. " * 20,
        extra={"seed": True},
    )


@dataclass
class Outcome:
    nd: Newsdesk
    summary: RunSummary
    sources: dict[str, Source]  # by case name, plus "good"
    seeded: Article
    server: LoopbackServer


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    routes: dict[str, Route] = {"/robots.txt": robots_txt, **good_routes()}
    for case in CASES:
        routes.update(case.routes)
    with LoopbackServer(routes) as server:
        hosts = ["good.example", *(case.host for case in CASES)]
        resolve = dict.fromkeys(hosts, f"127.0.0.1:{server.port}")
        with Newsdesk(make_settings(tmp_path_factory.mktemp("bad")), resolve=resolve) as nd:
            saved = nd.store.save_article(seed_article())
            seeded = nd.store.get_article(saved.id)
            wanted = [Source("http://good.example/good/feed", name="Good News", allow_loopback=True)]
            wanted += [Source(c.url, name=c.name, allow_loopback=c.allow_loopback) for c in CASES]
            nd.sources.ensure(wanted)
            summary = nd.run()
            by_url = {s.url: s for s in nd.sources.list()}
            sources = {c.name: by_url[c.url] for c in CASES} | {"good": by_url[wanted[0].url]}
            yield Outcome(nd, summary, sources, seeded, server)


def events_of(outcome: Outcome, name: str) -> list[dict[str, Any]]:
    return outcome.nd.store.events(source_id=outcome.sources[name].id)


def articles_of(outcome: Outcome, name: str) -> list[Article]:
    source_id = outcome.sources[name].id
    return [a for a in outcome.nd.store.iter_articles() if a.source_id == source_id]


# -------------------------------------------------------------------------------------- the run


def test_the_healthy_source_gets_all_its_articles(outcome: Outcome) -> None:
    good = articles_of(outcome, "good")
    assert sorted(a.web_url for a in good) == [
        f"http://good.example/good/a{n}" for n in range(1, GOOD_PAGES + 1)
    ]
    assert all(a.fetch_error is None and "paragraph 6" in a.text for a in good)
    assert outcome.sources["good"].health.error_count == 0 and not events_of(outcome, "good")
    assert outcome.summary.sources_polled == len(CASES) + 1


def test_the_article_stored_before_the_run_is_untouched(outcome: Outcome) -> None:
    seeded = outcome.seeded
    assert seeded.id is not None
    assert outcome.nd.store.get_article(seeded.id) == seeded
    assert outcome.nd.store.get_article(seeded.id).extra == seeded.extra
    assert outcome.nd.store.alternates(seeded.id) == []


def test_every_error_of_the_run_is_counted_in_the_summary(outcome: Outcome) -> None:
    recorded = [e for name in BY_NAME for e in events_of(outcome, name)]
    assert sum(outcome.summary.errors.values()) == len(recorded)


# ------------------------------------------------------------------------------- source failures


@pytest.mark.parametrize("name", [c.name for c in CASES if c.scope == "source"])
def test_a_failing_source_is_recorded_and_backs_off(outcome: Outcome, name: str) -> None:
    case = BY_NAME[name]
    health = outcome.sources[name].health
    events = events_of(outcome, name)
    assert len(events) == 1, events
    assert events[0]["kind"] in case.kinds and events[0]["url"] == case.url
    assert health.error_count == 1 and health.last_error_kind == events[0]["kind"]
    assert health.last_error and health.last_success_at is None
    assert health.last_polled_at is not None and health.next_poll_at is not None
    assert health.next_poll_at > health.last_polled_at
    assert articles_of(outcome, name) == []


def test_sources_that_failed_together_spread_their_retries(outcome: Outcome) -> None:
    """One back-off for a first failure (twice the poll floor), shortened by a random share of up to
    BACKOFF_JITTER for each source, so a host that took many sources down is not hit by all at once."""
    backoff = 2 * outcome.nd.settings.poll_min_interval
    waits = [outcome.sources[c.name].health.interval_s for c in CASES if c.scope == "source"]
    assert all(w is not None and backoff * (1 - BACKOFF_JITTER) <= w <= backoff for w in waits), waits
    assert len(set(waits)) == len(waits)


def test_a_source_on_a_private_address_is_refused_before_any_request(outcome: Outcome) -> None:
    assert outcome.server.hits("/private/feed") == 0
    assert "loopback" in (outcome.sources["private"].health.last_error or "")


def test_the_huge_body_was_streamed_and_abandoned_at_the_cap(outcome: Outcome) -> None:
    assert outcome.server.hits("/huge/feed") == 1
    assert "10000000" in (outcome.sources["huge"].health.last_error or "")


def test_robots_txt_was_asked_once_per_host_and_obeyed(outcome: Outcome) -> None:
    assert outcome.server.hits("/robots/feed") == 0
    hosts = [s.headers.get("host", "") for s in outcome.server.requests if s.path == "/robots.txt"]
    assert len(hosts) == len(set(hosts)) and any(h.startswith("robots.example") for h in hosts)


# --------------------------------------------------------------------------------- page failures


def test_binary_served_as_html_is_refused_and_the_entry_kept_from_the_feed(outcome: Outcome) -> None:
    (article,) = articles_of(outcome, "binary")
    assert article.title == "An entry with a bad page" and article.text == ""
    assert article.fetch_error is not None and article.fetch_error.startswith("content-type")
    events = events_of(outcome, "binary")
    assert [(e["kind"], e["url"], e["level"]) for e in events] == [
        ("content-type", "http://binary.example/binary/a1", "warning")
    ]
    assert outcome.sources["binary"].health.error_count == 0  # a bad page is not a bad source


def test_a_sloppy_but_readable_feed_still_gives_its_article(outcome: Outcome) -> None:
    """A bare ``&`` and an unclosed tag make the XML ill-formed; the item is still there to read."""
    (article,) = articles_of(outcome, "sloppy")
    assert article.web_url == "http://sloppy.example/sloppy/a1" and "Fish" in article.title
    assert events_of(outcome, "sloppy") == [] and outcome.sources["sloppy"].health.error_count == 0


def test_undeclared_and_mislabelled_charsets_are_decoded_from_the_bytes(outcome: Outcome) -> None:
    (article,) = articles_of(outcome, "charset")
    assert article.fetch_error is None and events_of(outcome, "charset") == []
    assert "Crème brûlée économie" in article.text
    assert "\ufffd" not in article.title + article.text + article.excerpt


def test_undeclared_cp1252_feed_titles_survive(outcome: Outcome) -> None:
    (article,) = articles_of(outcome, "charset")
    feed_title = outcome.nd.store.find_article("http://charset.example/charset/a1")
    assert feed_title is not None and feed_title.id == article.id
    assert outcome.sources["charset"].health.error_count == 0


def test_a_broken_image_is_noted_on_the_image_and_the_article_kept(outcome: Outcome) -> None:
    (article,) = articles_of(outcome, "image")
    assert article.fetch_error is None and "paragraph 6" in article.text
    (image,) = article.images
    assert image.url == "http://image.example/image/pic.jpg"
    assert not image.is_cached and image.error
    assert outcome.summary.stages["images_failed"] == 1
    assert [(e["kind"], e["url"]) for e in events_of(outcome, "image")] == [("image", image.url)]


# ------------------------------------------------------------------- a redirect to a private address


def test_a_redirect_from_an_allowed_address_to_a_private_one_is_refused(tmp_path: Path) -> None:
    """The first hop is let through (127.0.0.1 is an allowed network); the redirect points at
    127.0.0.2 — still this machine, so nothing could leave it even if the guard failed — and must be
    refused by the SSRF guard with nothing sent there. ``Newsdesk.run`` has no setting for allowed
    networks, so this drives the orchestrator directly with such a fetch policy."""
    target = "http://127.0.0.2:9/feed"  # port 9 (discard): a connect error, not 'blocked', if it leaked
    routes: dict[str, Route] = {"/hop/feed": redirect(target), **good_routes()}
    settings = make_settings(tmp_path)
    with LoopbackServer(routes) as server:
        store = Store.open(settings.database)
        try:
            bad = store.add_source(Source(server.url("/hop/feed"), kind=SourceKind.FEED))
            summary = asyncio.run(_ingest(settings, store, [bad]))
            (event,) = store.events(source_id=bad.id)
            assert event["kind"] == "blocked" and "127.0.0.2" in event["message"]
            assert store.get_source(server.url("/hop/feed")).health.last_error_kind == "blocked"
            assert summary.errors == {"blocked": 1} and server.hits("/hop/feed") == 1
        finally:
            store.close()


async def _ingest(settings: Settings, store: Store, sources: list[Source]) -> RunSummary:
    policy = replace(fetch_policy(settings), allowed_networks=("127.0.0.1/32",))
    pool = process_pool(1)
    try:
        async with Fetcher(policy) as fetcher:
            return await Ingestor(settings, store, fetcher, pool).run(sources)
    finally:
        pool.shutdown(wait=True)
