"""The whole pipeline over the bundled demo site, through the facade, on real loopback HTTP.

Ingest-only runs (enrichment, images and sealing off) check the contract of DESIGN.md against the demo's
ground truth (:meth:`DemoSite.articles`): every listed article ends as exactly one stored article, tracking
and redirect links become the canonical ``webUrl`` with ``originalUrl`` kept as first seen, an exact
syndicated copy becomes an alternate, the broken link and the robots-forbidden page are stored from the
feed with their error noted, a second run changes nothing, and a run killed half-way is finished by the
next one without duplicates. They run on SQLite and, when configured, PostgreSQL.

One module-scoped run with enrichment on (the model loads once, SQLite only: it takes most of a minute)
checks topics, quality with reasons, heat, related records and multi-provider stories.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk, demo_sources
from newsdesk.catalog import Audience
from newsdesk.config import Settings, load_settings
from newsdesk.demo import DemoArticle, DemoSite
from newsdesk.model import Article
from newsdesk.secure import generate_key
from newsdesk.stages import RunSummary
from tests.conftest import fresh_postgres_schema, quiet_env

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# The demo is written so that every article belongs to a topic, but a classifier may leave the odd one
# out (a run on 2026-11-25 left 1 of 63); more than 1 in 10 would mean topics are broken.
MAX_UNTOPICAL_SHARE = 0.1
CRASH_AFTER_SAVES = 20  # about a third of the demo: several sources are mid-way when the run dies


def make_settings(data_dir: Path, database_url: str = "", **env: str) -> Settings:
    """Settings for a test run (see ``quiet_env``)."""
    return load_settings(env=quiet_env(data_dir, database_url, **env), base_dir=data_dir)


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(now=NOW) as demo:
        yield demo


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store URL per engine for the whole module (one schema, dropped at the end, on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'newsdesk.db'}"
        return
    with fresh_postgres_schema("nd_pipeline") as url:
        yield url


@pytest.fixture(scope="module")
def ingested(
    site: DemoSite, engine_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Newsdesk, RunSummary]]:
    """One ingest-only run over the demo, shared by the read-only checks of this module."""
    settings = make_settings(tmp_path_factory.mktemp("ingested"), engine_url)
    with Newsdesk(settings, resolve=site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        yield nd, nd.run()


@pytest.fixture
def desk(site: DemoSite, tmp_path: Path) -> Iterator[Newsdesk]:
    """A fresh SQLite newsdesk with the demo's sources, for tests that change the store."""
    with Newsdesk(make_settings(tmp_path), resolve=site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        yield nd


@pytest.fixture
def pooled(site: DemoSite, tmp_path: Path) -> Iterator[Newsdesk]:
    """Like ``desk``, with every page sent to the worker pool (a small run keeps them in-process)."""
    with Newsdesk(make_settings(tmp_path, NEWSDESK_INLINE_JOBS="0"), resolve=site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        yield nd


def exact_copies(site: DemoSite) -> dict[str, str]:
    """Syndicated copies whose text equals their original's: copy URL -> original URL."""
    by_url = {a.url: a for a in site.articles()}
    return {
        a.url: a.syndicated_from
        for a in site.articles()
        if a.syndicated_from and a.body == by_url[a.syndicated_from].body
    }


def stored(nd: Newsdesk, article: DemoArticle) -> Article:
    found = nd.store.find_article(article.url) or nd.store.find_article(article.feed_url)
    assert found is not None, f"{article.id} was not stored under {article.url} nor {article.feed_url}"
    return found


def snapshot(nd: Newsdesk) -> dict[str, tuple[Article, list[str]]]:
    """Every stored article with the URLs of its alternates, by canonical URL."""
    out = {}
    for article in nd.store.iter_articles():
        assert article.id is not None
        out[article.web_url] = (article, [alt.url for alt in nd.store.alternates(article.id)])
    return out


def assert_matches_ground_truth(nd: Newsdesk, site: DemoSite) -> None:
    copies = exact_copies(site)
    expected_rows = len(site.articles()) - len(copies)
    assert nd.store.count_articles() == expected_rows
    rows = {a.id: stored(nd, a) for a in site.articles()}
    assert len({row.id for row in rows.values()}) == expected_rows
    by_url = {a.url: a for a in site.articles()}
    for copy_url, original_url in copies.items():
        assert stored(nd, by_url[copy_url]).id == stored(nd, by_url[original_url]).id


# --------------------------------------------------------------------------------------- ingest only


def test_every_demo_article_is_stored_once_with_canonical_and_original_urls(
    ingested: tuple[Newsdesk, RunSummary], site: DemoSite
) -> None:
    nd, summary = ingested
    assert summary.sources_polled == len(site.sources())
    assert summary.entries == len(site.articles())
    assert dict(summary.errors) == {"http-404": 1, "robots": 1}
    assert_matches_ground_truth(nd, site)
    copies = exact_copies(site)
    for truth in site.articles():
        if truth.url in copies or truth.url in copies.values():
            continue
        row = stored(nd, truth)
        assert row.web_url == truth.url, truth.id  # tracking parameters and redirects resolved
        assert row.original_url == truth.feed_url, truth.id  # as the feed listed it
        assert row.provider.domain == truth.provider_domain, truth.id


def test_an_exact_syndicated_copy_becomes_an_alternate_of_the_first_seen(
    ingested: tuple[Newsdesk, RunSummary], site: DemoSite
) -> None:
    nd, _ = ingested
    by_url = {a.url: a for a in site.articles()}
    copies = exact_copies(site)
    assert copies, "the demo world should hold at least one word-for-word syndicated copy"
    for copy_url, original_url in copies.items():
        pair = {copy_url, original_url}
        row = stored(nd, by_url[original_url])
        assert row.id is not None
        assert row.web_url in pair and row.original_url in {by_url[u].feed_url for u in pair}
        alternates = nd.store.alternates(row.id)
        other = (pair - {row.web_url}).pop()
        assert [(a.url, a.reason) for a in alternates] == [(by_url[other].feed_url, "same-content")]
        assert alternates[0].provider is not None
        assert alternates[0].provider.domain == by_url[other].provider_domain


def test_broken_and_robots_forbidden_pages_are_stored_from_the_feed_with_the_error(
    ingested: tuple[Newsdesk, RunSummary], site: DemoSite
) -> None:
    nd, _ = ingested
    sources = {s.url: s for s in nd.sources.list()}
    providers = {p.name: p for p in site.world.providers}
    broken = [a for a in site.articles() if a.page_status == 404]
    forbidden = [a for a in site.articles() if not a.robots_allowed]
    assert len(broken) == len(forbidden) == 1
    for truth, kind in ((broken[0], "http-404"), (forbidden[0], "robots")):
        row = stored(nd, truth)
        assert row.fetch_error is not None and row.fetch_error.startswith(kind)
        assert row.title == truth.title and row.web_url == truth.url
        assert row.text == ""  # nothing invented: the feed had no full text for it
        source = sources[providers[truth.provider].feed_url]
        events = nd.store.events(source_id=source.id)
        assert [(e["kind"], e["url"], e["level"]) for e in events] == [(kind, truth.url, "warning")]
        assert source.health.error_count == 0  # a bad page is not a bad source


def test_source_health_is_written_after_a_run(ingested: tuple[Newsdesk, RunSummary]) -> None:
    nd, _ = ingested
    for source in nd.sources.list():
        health = source.health
        assert health.last_polled_at is not None and health.last_success_at == health.last_polled_at
        assert health.next_poll_at is not None and health.next_poll_at > health.last_polled_at
        assert health.interval_s is not None and health.interval_s > 0
        assert health.etag or health.last_modified, source.url
        assert health.error_count == 0 and health.last_error is None


def test_a_second_run_changes_nothing(ingested: tuple[Newsdesk, RunSummary], site: DemoSite) -> None:
    nd, _ = ingested
    before = snapshot(nd)
    assert nd.run().sources_polled == 0  # nothing is due straight after a run
    summary = nd.run(sources=nd.sources.list())
    assert summary.unchanged == len(site.sources())  # every feed answered 304
    assert (summary.entries, summary.new, summary.updated, summary.alternates) == (0, 0, 0, 0)
    assert dict(summary.errors) == {}
    assert snapshot(nd) == before


def test_refetching_an_unchanged_feed_in_full_adds_nothing(desk: Newsdesk, site: DemoSite) -> None:
    """Without validators the feeds come back in full (200): every entry is known and nothing moves —
    in particular a tracking-parameter or redirect link must not become an alternate of its own article."""
    desk.run()
    before = snapshot(desk)
    for source in desk.sources.list():
        assert source.id is not None
        forgotten = replace(source.health, etag=None, last_modified=None, body_hash=None)
        desk.store.save_health(source.id, forgotten)
    summary = desk.run(sources=desk.sources.list())
    assert summary.unchanged == 0 and summary.entries == len(site.articles())
    assert (summary.new, summary.updated, summary.alternates) == (0, 0, 0)
    assert snapshot(desk) == before


def wait_until_broken(pool: Executor, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pool.submit(int).result(timeout=timeout_s)
        except BrokenExecutor:
            return
        time.sleep(0.01)
    raise AssertionError("the pool never noticed its dead worker")


def test_runs_share_one_worker_pool_and_a_dead_worker_gets_a_fresh_one(
    pooled: Newsdesk, site: DemoSite
) -> None:
    """The pool outlives a run (a ``--watch`` loop pays the workers' start once); a pool broken by a
    killed worker is replaced instead of failing every page of the next run."""
    pool = pooled.worker_pool()
    os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)
    wait_until_broken(pool)  # the pool's manager thread notices the death asynchronously
    summary = pooled.run()
    assert pooled.worker_pool() is not pool
    assert summary.new > 0 and "parse" not in summary.errors, summary.errors
    kept = pooled.worker_pool()
    pooled.run(sources=pooled.sources.list())
    assert pooled.worker_pool() is kept


def test_an_idle_pool_is_stopped_and_the_next_page_starts_a_new_one(pooled: Newsdesk, site: DemoSite) -> None:
    """The desk gives an idle pool's memory back: after ``idle_s`` without a job its workers exit; a
    pool that just worked is kept; the next run that extracts a page starts a fresh pool."""
    first = pooled.run()  # the demo's pages go through the pool
    pool = pooled.worker_pool()
    workers = {pool.submit(os.getpid).result() for _ in range(16)}  # this pool's, not other tests'
    assert not pooled.release_idle_pool(60.0)  # it just worked
    assert not pooled.release_idle_pool(0.0)  # 0: never
    time.sleep(0.3)
    assert pooled.release_idle_pool(0.2)
    assert not [pid for pid in workers if _alive(pid)]  # shut down and joined: all exited
    assert not pooled.release_idle_pool(0.2)  # nothing left to stop
    for source in pooled.sources.list():  # forget what was fetched, so pages are extracted again
        assert source.id is not None
        pooled.store.save_health(
            source.id, replace(source.health, etag=None, last_modified=None, body_hash=None)
        )
    for article_id in [a.id for a in pooled.store.iter_articles() if a.id is not None]:
        pooled.store.delete_article(article_id)
    summary = pooled.run(sources=pooled.sources.list())
    assert summary.new == first.new and summary.errors == first.errors  # the demo's own 404 and robots
    assert pooled.worker_pool() is not pool


OWNS_A_POOL = """
import os, sys
from newsdesk.ingestor import process_pool
pool = process_pool(2)
print(*sorted({pool.submit(os.getpid).result() for _ in range(8)}), flush=True)
sys.stdin.read()  # until the test kills this process
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_pool_workers_leave_when_the_process_that_owns_them_is_killed() -> None:
    """A killed run (SIGKILL, an OOM kill) left its workers, children of the forkserver, holding their
    models for good; they now follow their owner out within a few seconds."""
    import subprocess
    import sys

    owner = subprocess.Popen(
        [sys.executable, "-c", OWNS_A_POOL], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert owner.stdout is not None
    workers = [int(pid) for pid in owner.stdout.readline().split()]
    assert workers and all(_alive(pid) for pid in workers)
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]


def test_a_run_where_every_source_answers_304_starts_no_worker_process(
    desk: Newsdesk, site: DemoSite
) -> None:
    """Nothing to parse or extract, so no pool: starting one cost such a run ≈ 1 CPU-s per worker of
    imports (docs/benchmarks.md, "Side by side with peers")."""
    desk.run()
    settings, sources = desk.settings, desk.sources.list()
    desk.close()  # a fresh process's facade: no pool kept from an earlier run
    before = {p.pid for p in multiprocessing.active_children()}
    with Newsdesk(settings, resolve=site.resolve_map()) as nd:
        summary = nd.run(sources=sources)
        started = {p.pid for p in multiprocessing.active_children()} - before
    assert summary.unchanged == len(site.sources()) and summary.entries == 0
    assert started == set()


def extracted(nd: Newsdesk) -> dict[str, tuple[object, ...]]:
    """What extraction gave each stored article that has no syndicated copy, by canonical URL. Of an
    original and its exact copy, the one stored (its title, provider, category) is the one whose fetch
    completes first, in any mode; :func:`assert_matches_ground_truth` checks those."""
    out = {}
    for a in nd.store.iter_articles():
        assert a.id is not None
        if not nd.store.alternates(a.id):
            out[a.web_url] = (a.title, a.excerpt, a.published_at, a.language, a.author, a.text,
                              a.provider, a.category, a.type, a.images, a.fetch_error)  # fmt: skip
    return out


def test_pages_extracted_in_process_give_the_records_the_pool_gives(site: DemoSite, tmp_path: Path) -> None:
    """A small run extracts on a thread of its own process (no worker starts); a run past
    ``inline_jobs`` pages hands the rest to the pool; every page in the pool is the third way. All three
    store the same records."""
    found = []
    for inline in ("1000", "5", "0"):
        settings = make_settings(tmp_path / f"inline-{inline}", NEWSDESK_INLINE_JOBS=inline)
        before = {p.pid for p in multiprocessing.active_children()}
        with Newsdesk(settings, resolve=site.resolve_map()) as nd:
            nd.sources.ensure(demo_sources(site.sources()))
            summary = nd.run()
            started = {p.pid for p in multiprocessing.active_children()} - before
            assert summary.new > 0
            assert_matches_ground_truth(nd, site)
            found.append((extracted(nd), dict(summary.errors), started != set()))
    (here, errors, pool_here), (mixed, _, pool_mixed), (pooled, _, pool_pooled) = found
    assert (pool_here, pool_mixed, pool_pooled) == (False, True, True)
    assert here == pooled and mixed == pooled
    assert errors == found[2][1]


def test_a_pool_already_running_takes_a_small_runs_pages(desk: Newsdesk, site: DemoSite) -> None:
    """The pool's start is paid (an earlier big run's pool, not yet idle): a small run uses it."""
    started = time.monotonic()
    desk.worker_pool()  # notes a use now
    time.sleep(0.3)
    summary = desk.run()
    assert summary.new > 0
    # used by the run: its last job is more recent than the start
    assert not desk.release_idle_pool(time.monotonic() - started - 0.1)


def test_a_run_that_enriches_stops_the_pool_it_used_before_enriching(site: DemoSite, tmp_path: Path) -> None:
    """A big run's workers sit idle through its enrichment, which loads the models beside them: the
    run stops them once its pages are in, so its peak is the models' alone (docs/benchmarks.md, "Large
    runs"). An ingest-only run keeps its pool (``test_runs_share_one_worker_pool...``)."""
    settings = make_settings(tmp_path, NEWSDESK_INLINE_JOBS="0", NEWSDESK_ENRICH="1")
    with Newsdesk(settings, resolve=site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        before = {p.pid for p in multiprocessing.active_children()}
        summary = nd.run()
        assert summary.new > 0 and summary.stages.get("enrich_s") is not None
        assert not nd.pool_running()
        assert not {p.pid for p in multiprocessing.active_children()} - before  # joined: none left
        assert nd.store.pending_ids(unenriched=True) == []  # and the run enriched everything


async def _run_until_saves(nd: Newsdesk, saves: int) -> None:
    """Start a run and cancel it once ``saves`` articles are committed: a crash mid-run."""
    task = asyncio.create_task(nd.run_async())
    while nd.store.count_articles() < saves and not task.done():
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_run_killed_half_way_is_completed_by_the_next_without_duplicates(
    desk: Newsdesk, site: DemoSite
) -> None:
    asyncio.run(_run_until_saves(desk, CRASH_AFTER_SAVES))
    partial = desk.store.count_articles()
    assert CRASH_AFTER_SAVES <= partial < len(site.articles()) - len(exact_copies(site))
    unfinished = [s for s in desk.sources.list() if s.health.last_success_at is None]
    assert unfinished, "the crash should leave some sources unpolled"
    summary = desk.run()  # only what is due: the sources the crash left unfinished
    assert summary.sources_polled == len(unfinished)
    events = [(e["kind"], e["url"], e["message"]) for e in desk.store.events(limit=20)]
    assert set(summary.errors) <= {"http-404", "robots"}, events
    assert_matches_ground_truth(desk, site)
    assert all(s.health.last_success_at is not None for s in desk.sources.list())
    for web_url, (article, alternates) in snapshot(desk).items():
        assert web_url not in alternates and article.original_url not in alternates


# --------------------------------------------------------------------------------------- enrichment


@pytest.fixture(scope="module")
def enriched(
    site: DemoSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Newsdesk, RunSummary]]:
    data_dir = tmp_path_factory.mktemp("enriched")
    key = base64.b64encode(generate_key()).decode()
    settings = make_settings(
        data_dir,
        NEWSDESK_ENRICH="1",
        NEWSDESK_ENCRYPT="1",
        NEWSDESK_SECRET_KEY=key,
        NEWSDESK_CACHE_IMAGES="1",
    )
    with Newsdesk(settings, resolve=site.resolve_map()) as nd:
        nd.sources.ensure(demo_sources(site.sources()))
        yield nd, nd.run()


def test_enriched_run_folds_every_syndicated_copy(
    enriched: tuple[Newsdesk, RunSummary], site: DemoSite
) -> None:
    nd, summary = enriched
    copies = [a for a in site.articles() if a.syndicated_from]
    by_url = {a.url: a for a in site.articles()}
    assert nd.store.count_articles() == len(site.articles()) - len(copies)
    for copy in copies:
        assert stored(nd, copy).id == stored(nd, by_url[copy.syndicated_from or ""]).id, copy.id
    assert summary.stages["enriched"] == nd.store.count_articles()
    assert nd.store.unenriched_ids() == []


def test_enriched_records_have_topics_quality_heat_and_related(enriched: tuple[Newsdesk, RunSummary]) -> None:
    nd, _ = enriched
    taxonomy = nd.taxonomy
    rows = list(nd.store.iter_articles())
    untopical = [a.web_url for a in rows if not a.topics]
    assert len(untopical) <= len(rows) * MAX_UNTOPICAL_SHARE, untopical
    for row in rows:
        assert row.id is not None
        article = nd.catalog.article(row.id, Audience.TRUSTED)
        assert set(taxonomy.with_ancestors(list(article.topics))) == set(article.topics)
        assert 0 <= article.quality <= 100 and article.quality_reasons, article.web_url
        reasons = sum(r.value for r in article.quality_reasons)
        assert article.quality == min(100, max(0, round(reasons))), article.web_url
        assert 0 <= article.heat <= 100 and article.story_id is not None
        assert 0 < len(article.related) <= nd.settings.related_count
        assert all(r.article_id != article.id and r.web_url != article.web_url for r in article.related)
        assert len({r.web_url for r in article.related}) == len(article.related)


def test_enriched_run_finds_stories_told_by_several_providers(
    enriched: tuple[Newsdesk, RunSummary], site: DemoSite
) -> None:
    nd, _ = enriched
    multi = [s for s in nd.store.list_stories(limit=200) if len(s.providers) >= 2]
    told = {a.story for a in site.articles() if a.story}
    assert len(multi) >= len(told) // 2
    for story in multi:
        assert story.id is not None
        domains = {a.provider.domain for a in nd.store.story_articles(story.id)}
        assert domains == set(story.providers)


def test_enriched_run_seals_texts_and_caches_images(enriched: tuple[Newsdesk, RunSummary]) -> None:
    nd, summary = enriched
    rows = list(nd.store.iter_articles())
    with_text = [a for a in rows if a.fetch_error is None]
    assert with_text and all(a.secured and not a.text for a in with_text)
    images = [image for a in rows for image in a.images]
    assert sum(image.is_cached for image in images) == summary.stages["images_cached"] > 0
    failed = [image for image in images if not image.is_cached]
    assert len(failed) == summary.stages["images_failed"] and all(image.error for image in failed)


def test_a_long_feed_flows_through_the_entry_window_with_its_twins_folded(tmp_path: Path) -> None:
    """30 entries through a window of 6 (one worker): every page is stored once. A twin entry and a
    tracking-parameter copy of another, unknown when the poll began, are folded into their articles by
    the save-time lookup, not stored twice; an entry whose URL has no canonical form is an event, not a
    failed poll; a second full poll finds every URL known and fetches nothing."""
    from newsdesk.ingestor import entry_window
    from newsdesk.model import Source
    from tests.httpserver import LoopbackServer, Reply

    host = "window.example"
    paths = [f"/news/{n}" for n in range(30)]
    links = [*paths, paths[3], f"{paths[5]}?utm_source=rss"]
    items = "".join(
        f"<item><title>Item {n}</title><link>http://{host}{p}</link></item>" for n, p in enumerate(links)
    )
    items += f"<item><title>Bad port</title><link>http://{host}:99999/bad</link></item>"  # no canonical form
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>{items}</channel></rss>'
    routes = {"/feed.xml": Reply(200, feed.encode(), "application/rss+xml")}
    for n, path in enumerate(paths):
        words = f"Story {n} reports on a separate council decision with its own figures and quotes. " * 8
        html = f"<html><head><title>Story {n}</title></head><body><article><p>{words}</p></article></body></html>"
        routes[path] = Reply(200, html.encode(), "text/html; charset=utf-8")
    settings = make_settings(tmp_path, NEWSDESK_WORKERS="1", NEWSDESK_PER_HOST_CONCURRENCY="2")
    assert entry_window(settings) == 6
    with (
        LoopbackServer(routes) as server,
        Newsdesk(settings, resolve={host: f"127.0.0.1:{server.port}"}) as nd,
    ):
        nd.sources.add(Source(f"http://{host}/feed.xml", name="window", allow_loopback=True))
        summary = nd.run()
        assert (summary.entries, summary.new, dict(summary.errors)) == (32, 30, {"invalid-url": 1})
        assert nd.store.count_articles() == 30
        source = nd.sources.list()[0]
        assert source.health.error_count == 0  # one bad entry does not fail the poll
        assert [e["url"] for e in nd.store.events(source_id=source.id)] == [f"http://{host}:99999/bad"]
        stored = nd.store.find_article(f"http://{host}{paths[5]}?utm_source=rss")
        assert stored is not None and stored.title == "Story 5"
        before = sum(server.hits(p) for p in paths)
        again = nd.run(sources=nd.sources.list())
        assert (again.new, again.updated) == (0, 0)
        assert sum(server.hits(p) for p in paths) == before  # known URLs are not fetched again


def test_a_single_page_source_is_polled_conditionally(tmp_path: Path) -> None:
    """The page is the article; the next poll sends the page's validators and a 304 extracts nothing.
    A page source that answers 404 fails its poll with that reason."""
    from newsdesk.model import Source, SourceKind
    from tests.httpserver import LoopbackServer, Reply, Seen

    words = "The port authority raised its fees for the third time this year, citing dredging costs. " * 8
    html = f"<html><head><title>Port fees rise</title></head><body><article><p>{words}</p></article></body></html>"

    def page(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(status=304, content_type=None)
        return Reply(body=html.encode(), headers={"ETag": '"v1"'})

    routes = {"/live": page, "/gone": Reply(status=404, body=b"gone")}
    with LoopbackServer(routes) as server, Newsdesk(make_settings(tmp_path)) as nd:
        live = nd.sources.add(Source(server.url("/live"), kind=SourceKind.PAGE, allow_loopback=True))
        gone = nd.sources.add(Source(server.url("/gone"), kind=SourceKind.PAGE, allow_loopback=True))
        first = nd.run()
        assert (first.sources_polled, first.new, dict(first.errors)) == (2, 1, {"http-404": 1})
        stored = nd.store.find_article(server.url("/live"))
        assert stored is not None and stored.title == "Port fees rise"
        assert nd.store.get_source(live.url).health.etag == '"v1"'
        failed = nd.store.get_source(gone.url).health
        assert (failed.error_count, failed.last_error_kind) == (1, "http-404")
        again = nd.run(sources=nd.sources.list())
        assert (again.unchanged, again.new, again.updated) == (1, 0, 0)
        polls = [r.headers.get("if-none-match") for r in server.requests if r.path == "/live"]
        assert polls == [None, '"v1"']  # one full fetch, then a conditional one answered 304
        assert nd.store.count_articles() == 1
