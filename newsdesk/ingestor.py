"""The ingest stage, first of a run's stages (``stages.py``): polls a batch of sources and stores their
articles. The stage code is in modules; this file only moves data.

    due sources ─► poll: fetch feed / sitemap / page (conditional GET; 304 or the bytes parsed last
        time: done) ─► parse (a thread here for a small feed, else the run's executor)
        ─► per entry: known URL? → alternate │ else fetch page ─► extract (the run's executor)
        ─► decide (decider.py) ─► exact dedupe (canonical URL, content hash) ─► seal ─► save
    new articles ─► the later stages: enrich, images, seal leftovers, rules, alerts   (stages.py)

With encryption on, the full text is sealed before its row is first written (``seal``), so it never sits
in the clear in the database, not even between ingestion and the end of the run; enrichment decrypts it.

Every failure is recorded against its source or article (``events`` table, source health) and the run
goes on. New articles are written in batches: a feed-only poll's in one transaction, fetched pages' held
on the writer thread and inserted :data:`PAGE_BATCH` at a time (:meth:`Ingestor._hold`); any other save is its
own transaction. A crash thus loses only the work in flight, now up to :data:`PAGE_BATCH` decided pages
besides those being fetched, and the next run picks up what was not finished: a poll's health row is
written only after its held pages, so a crash before them leaves that poll to be done again. The polls'
health rows are written in batches (``HEALTH_BATCH``).
Fetching is concurrent (asyncio + one polite client); extraction and the parsing of big feeds, the
CPU-heavy parts, go to the run's executor (``stages.pool_view``): one thread of this process for a
small run's pages, a process pool past them so both cores work.

Nothing blocks the event loop: every store call runs on the run's one writer thread (:meth:`Ingestor._db`),
in the order the loop asks, so the dedupe look-ups and saves see each other exactly as they did on the
loop; events are queued there without waiting. A loop that waited on SQLite commits lost loopback
connections to 5 s connect timeouts at 500 feeds (issue 13; bench/desk.py measures the loop's lag).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import folding
from .config import Settings
from .decider import FeedContext, PageView, decide_article, decide_page
from .errors import FetchError, NewsdeskError, ParseError
from .fetch.client import Fetcher
from .fetch.policy import FetchPolicy, FetchResult
from .fetch.urls import canonicalize
from .model import Alternate, Article, Source, SourceHealth, SourceKind, now
from .sources.feedtypes import FeedEntry
from .sources.schedule import next_poll_interval
from .stages import ProgressHook, RunSummary
from .store import Store
from .store.sources import HealthUpdate

if TYPE_CHECKING:  # cryptography loads with the key ring, when a run seals (encryption on); the
    # sitemap reader with the first sitemap (a run of feeds answering 304 needs neither)
    from .secure import Sealed
    from .sources.sitemaps import ParsedSitemap

log = logging.getLogger(__name__)

MAX_SITEMAP_CHILDREN = 20  # a sitemap index can list thousands of children: the newest, bounded
MAX_ENTRIES_PER_SOURCE = 500  # per poll; the rest waits for the next poll
# A feed this small is parsed on a thread here rather than in the process pool: the parse takes 0.3-3 ms
# (bench/desk.py's items, 0.8-24 KB), less than the round trip's pickling, and a run that fetches no pages
# then starts no worker process at all (≈ 1 CPU-s of imports per worker, and their memory).
INLINE_PARSE_BYTES = 32 * 1024
HEALTH_BATCH = 64  # polls' health rows written per transaction (a crash re-polls at most these)
SOURCES_PER_REQUEST_SLOT = 4  # sources polled at once per request slot (`concurrency`): bounds held entries
# Fetched pages' new articles held on the writer thread for one insert. A transaction each was ≈ 2% of a
# cold run's CPU over bench/peers.py's 181 pages; batched, the writer thread's CPU for them fell from
# 0.70 to 0.32 s, 181 transactions to 9 (docs/benchmarks.md, "Pages' new articles stored in batches").
# 16 and 64 measured the same within noise (15 and 6 transactions): the per-page rows remain. 32 keeps
# what a crash loses of decided pages small.
PAGE_BATCH = 32


@dataclass(frozen=True, slots=True)
class PollHints:
    """What one poll learned besides its entries: the fetch (validators, ``max-age``) and the feed's
    ``ttl`` for scheduling, and the feed's title and language for its entries."""

    result: FetchResult
    feed: FeedContext = field(default_factory=FeedContext)
    ttl_minutes: int | None = None
    body_hash: str | None = None  # the feed body's, once all its entries were taken (SourceHealth)


@dataclass(frozen=True, slots=True)
class _Take:
    """A feed-only poll's entries on their way to the writer thread (:class:`_Takes`)."""

    source: Source
    entries: Sequence[FeedEntry]
    feed: FeedContext
    urls: dict[str, str]  # entry URL -> its canonical form (entries without one are left out)


@dataclass(frozen=True, slots=True)
class _Fresh:
    """An article decided new under a URL no article had at its poll's look-up, waiting for the batch."""

    article: Article
    seen_url: str
    source: Source


class _Takes:
    """Feed-only polls' writes, handed to the writer thread together: the polls that finish while it is
    busy wait in a queue, and its next call takes all of them (:meth:`Ingestor._take_together`). A
    first poll of 500 feeds was 500 hand-offs and 500 transactions; the polls now share both, as many
    as arrive while the one before is written."""

    def __init__(self, writer: Executor, write: Callable[[Sequence[_Take]], None]) -> None:
        self._writer = writer
        self._write = write
        self._lock = threading.Lock()
        self._queued: list[tuple[_Take, asyncio.Future[None]]] = []

    async def take(self, take: _Take) -> None:
        """Queue ``take`` and wait until it is written; raises what its batch's write raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._queued.append((take, done))
            first = len(self._queued) == 1
        if first:  # else a call is already queued on the writer and will take this one too
            self._writer.submit(self._drain, loop)
        await done

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: write every queued take, then tell each waiting poll."""
        with self._lock:
            batch, self._queued = self._queued, []
        error: BaseException | None = None
        try:
            self._write([take for take, _ in batch])
        except BaseException as e:  # every poll of the batch fails with it, as its own write would have
            error = e
            raise
        finally:
            for _, done in batch:
                loop.call_soon_threadsafe(_settle, done, error)


def _meets(held: Sequence[_Fresh], article: Article) -> bool:
    """Whether ``article`` answers to one of the ``held`` pages' articles: their URL (canonical or as
    first seen, which ``find_article`` matches) or their text. It must then find that article stored (it
    becomes its alternate, which needs its id), so the held ones are written first. A scan: at most
    :data:`PAGE_BATCH` are held."""
    return any(
        article.web_url in (f.article.web_url, f.article.original_url)
        or bool(article.content_hash and article.content_hash == f.article.content_hash)
        for f in held
    )


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


SealHook = Callable[[str], "Sealed"]  # the key ring's encrypt: clear text in, sealed payload out


def fetch_policy(settings: Settings, resolve: dict[str, str] | None = None) -> FetchPolicy:
    return FetchPolicy(
        user_agent=settings.user_agent,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        total_timeout=settings.total_timeout,
        max_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
        concurrency=settings.concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_delay=settings.per_host_delay,
        allow_private=settings.allow_private_networks,
        respect_robots=settings.respect_robots,
        resolve=resolve or {},
    )


def pool_size(workers: int) -> int:
    """Processes in the pool for the ``workers`` setting (0 = one per core)."""
    return workers or os.cpu_count() or 2


def entry_window(settings: Settings) -> int:
    """Entries of one source in flight at once: enough to fill the host's request slots and give every
    pool worker a page to extract and one queued, few enough that a 500-entry feed neither holds 500
    pages in memory nor makes every entry's first step before its first page is fetched (without one,
    every entry's store lookup ran before the first page reached the pool; docs/benchmarks.md)."""
    return int(settings.per_host_concurrency) + 2 * pool_size(settings.workers) + 2


def process_pool(workers: int) -> Executor:
    """Forkserver, not fork: the process already runs threads (asyncio, the demo server). Workers load
    the extraction libraries and the language model up front, not on their first page."""
    import multiprocessing  # with concurrent.futures.process: a run of 304s starts no pool
    from concurrent.futures import ProcessPoolExecutor

    from .extract.jobs import warm_worker

    count = pool_size(workers)
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=warm_worker, initargs=(os.getpid(),))
    # The pool starts a worker per queued job, one at a time: queue a no-op per worker so all of them
    # load their models now, side by side, not the second only once the first job (the feed) is parsed.
    for _ in range(count):
        pool.submit(int)
    return pool


class Ingestor:
    """Polls sources and stores their articles. One per run; owns nothing but counters.

    ``seal`` (the key ring's ``encrypt``, when encryption is on) seals each article's text before its
    row is written: the store then never holds the text in the clear."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        pool: Executor,
        *,
        run_id: int | None = None,
        progress: ProgressHook | None = None,
        seal: SealHook | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.pool = pool
        self.run_id = run_id
        self.summary = RunSummary()
        self.new_ids: list[int] = []
        self._progress = progress or (lambda stage, done, total: None)
        self._done = Counter[str]()
        self._totals = Counter[str]()
        self._rng = random.Random()
        self._seal = seal
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="newsdesk-store")
        self._healths: list[HealthUpdate] = []
        self._troubled: set[int | None] = set()  # sources with an error recorded in this run
        self._written: set[str] = set()  # URLs this run stored an article or alternate under
        self._takes = _Takes(self._writer, self._take_together)
        self._held: list[_Fresh] = []  # pages' new articles waiting for one insert; the writer thread's
        self._lost: dict[int | None, NewsdeskError] = {}  # source -> why a batch with its pages failed

    async def run(self, sources: Sequence[Source]) -> RunSummary:
        self._totals["poll"] = len(sources)
        # Sources in flight at once: each holds its parsed entries until its pages are in, so polling
        # every source at once held a 100,000-article run's entries all together. A few times the
        # request concurrency keeps every request slot busy.
        gate = asyncio.Semaphore(SOURCES_PER_REQUEST_SLOT * max(1, self.settings.concurrency))

        async def poll(source: Source) -> None:
            async with gate:
                await self._poll(source)

        try:
            await asyncio.gather(*(poll(source) for source in sources))
        finally:  # pages a poll left held (it failed or was cancelled) are written before the end
            self._writer.submit(self._write_held).add_done_callback(_log_lost_write)
            self._flush_healths()
            await asyncio.get_running_loop().run_in_executor(None, self._writer.shutdown)  # drain writes
        return self.summary

    async def _db(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a store call (or a step made of them) on the writer thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, call, *args)

    # ---------------------------------------------------------------------------------------- poll

    async def _poll(self, source: Source) -> None:
        started = now()
        try:
            entries, hints = await self._entries(source)
            if entries:  # a 304 or the same bytes has none: no round trip to the writer thread
                await self._take(source, entries, hints.feed)
            health, title = self._healthy(source, entries, hints, started), hints.feed.title
        except NewsdeskError as error:
            health, title = self._failed(source, error, started), None
        finally:
            self.summary.sources_polled += 1
            self._tick("poll")
        assert source.id is not None
        if source.id in self._troubled:  # an entry failed: the same bytes must be looked at again
            health = replace(health, body_hash=None)
        self._healths.append(HealthUpdate(source.id, health, title))  # a stand-in name takes the title
        if len(self._healths) >= HEALTH_BATCH:
            self._flush_healths()

    def _flush_healths(self) -> None:
        """Queue the polls' health rows on the writer thread as one transaction, behind the writes
        before them; :meth:`run` waits for the queue to drain. A transaction per source cost a 304
        poll more CPU than its request (bench/desk.py)."""
        batch, self._healths = self._healths, []
        if batch:
            self._writer.submit(self.store.save_healths, batch).add_done_callback(_log_lost_write)

    async def _take(self, source: Source, entries: Sequence[FeedEntry], feed: FeedContext) -> None:
        """Store a poll's entries, a window of them at a time."""
        urls = self._entry_urls(source, entries)
        if not self.settings.fetch_pages:  # nothing to wait for between entries: no hand-off per entry
            await self._takes.take(_Take(source, entries, feed, urls))
            return
        known, own = await self._db(self._look_up, source, urls)
        usable = [(e, urls[e.url]) for e in entries if e.url in urls and e.url not in own]
        self.summary.entries += sum(1 for e in entries if e.url in own)  # seen again: nothing to do
        window = asyncio.Semaphore(entry_window(self.settings))
        await asyncio.gather(*(self._in_window(window, source, e, c, feed, known) for e, c in usable))
        await self._db(self._write_held)  # before the poll's health row: else a 304 would skip them
        if (lost := self._lost.pop(source.id, None)) is not None:
            raise lost  # a batch with this poll's pages failed: the poll fails, as its own save would

    def _take_together(self, takes: Sequence[_Take]) -> None:
        """On the writer thread, the feed-only polls that reached it while it was busy (:class:`_Takes`):
        each poll's look-up and decisions in turn, then the new articles of all of them in one
        transaction. A transaction (and a thread hand-off) per feed was most of a first poll's store
        cost. When the batch meets a stored URL or text, nothing of it is kept and each poll's articles
        are tried as their own batch, then one by one (:meth:`_store_fresh`): as before, all or nothing
        per feed."""
        fresh: list[_Fresh] = []
        for take in takes:
            known, own = self._look_up(take.source, take.urls)
            usable = [(e, take.urls[e.url]) for e in take.entries if e.url in take.urls and e.url not in own]
            self.summary.entries += sum(1 for e in take.entries if e.url in own)  # seen again: nothing to do
            absent = {*take.urls, *take.urls.values()} - known
            fresh = self._take_here(take.source, usable, take.feed, known, absent, fresh)
        if self._insert_fresh(fresh):
            return
        for _, one_poll in itertools.groupby(fresh, key=lambda f: f.source.id):  # a poll's are together
            self._store_fresh(list(one_poll))

    def _take_here(
        self,
        source: Source,
        usable: Sequence[tuple[FeedEntry, str]],
        feed: FeedContext,
        known_urls: set[str],
        absent: set[str],
        fresh: list[_Fresh],
    ) -> list[_Fresh]:
        """A feed-only poll's entries, same steps as :meth:`_entry`. New articles under URLs no article
        had at the look-up join ``fresh`` (the batch :meth:`_take_together` inserts); an entry that needs
        the look-ups stores the batch so far first, so entries keep their order. Returns the batch."""
        for entry, canonical in usable:
            self.summary.entries += 1
            known = self._known_article(entry.url, canonical, known_urls)
            if known is not None:
                self._alternate(known, entry.url, source, "same-url")
                continue
            article = decide_article(source, entry, None, feed=feed)
            if article.web_url in absent and article.web_url not in self._written:
                fresh.append(_Fresh(article, entry.url, source))
                self._written.update((article.web_url, entry.url))
            else:  # the batch so far first: the entries keep their order
                self._store_fresh(fresh)
                fresh = []
                self._store(source, article, entry.url)
        return fresh

    def _store_fresh(self, fresh: Sequence[_Fresh]) -> None:
        """Articles under new URLs, inserted in one transaction; when one of them meets a stored text
        (or a URL stored by another process since the look-up), each goes through :meth:`_store`."""
        if not self._insert_fresh(fresh):
            for one in fresh:
                self._store(one.source, one.article, one.seen_url)

    def _insert_fresh(self, fresh: Sequence[_Fresh]) -> bool:
        """Insert ``fresh`` in one transaction and count them new; False (nothing kept) when one of them
        met a stored text or URL."""
        ids = self.store.insert_new_articles([self._sealed(f.article) for f in fresh]) if fresh else []
        if ids is None:
            return False
        self.summary.new += len(ids)
        self.new_ids.extend(ids)
        return True

    def _known_article(self, url: str, canonical: str, known_urls: set[str]) -> Article | None:
        """The stored article an entry's URL (or its canonical form) answered to at the poll's look-up."""
        known = self.store.find_article(url) if url in known_urls else None
        if known is None and canonical != url and canonical in known_urls:
            known = self.store.find_article(canonical)
        return known

    def _look_up(self, source: Source, urls: dict[str, str]) -> tuple[set[str], set[str]]:
        """On the writer thread: which entry URLs (and canonical forms) the store knows, and which entry
        URLs are the canonical URL of this source's own article. An entry under such a URL is its own
        article seen again (:meth:`_alternate` would do nothing), so it costs no article load."""
        known = self.store.known_urls([*urls, *urls.values()])
        again = [url for url in urls if url in known]
        return known, self.store.own_canonical_urls(source.id, again) if again else set()

    async def _entries(self, source: Source) -> tuple[list[FeedEntry], PollHints]:
        """The entries a source offers now (empty when unchanged), and scheduling hints. The source's URL
        is fetched conditionally with its validators, whatever its kind: a 304 parses nothing. A
        single-page source's page is the article itself, stored here."""
        h = source.health
        result = await self.fetcher.get(
            source.url,
            allow_private=source.allow_loopback,
            etag=h.etag,
            last_modified=h.last_modified,
            expect="html" if source.kind is SourceKind.PAGE else "feed",
        )
        if result.not_modified:
            self.summary.unchanged += 1
            return [], PollHints(result, body_hash=h.body_hash)
        if source.kind is SourceKind.PAGE:
            page = decide_page(source, await self._extract(result))
            await self._db(self._store_after_held, source, page, source.url)
            return [], PollHints(result)
        if source.kind is SourceKind.SITEMAP:
            entries, context = await self._sitemap_entries(source, result)
            return entries, PollHints(result, context)
        body_hash = hashlib.sha256(result.content).hexdigest()
        if body_hash == h.body_hash:  # no validators, same bytes: what a 304 would have said
            self.summary.same_body += 1
            return [], PollHints(result, body_hash=body_hash)
        from .extract.jobs import parse_feed_job  # not for a 304: the parsers load with the first body

        small = len(result.content) <= INLINE_PARSE_BYTES
        feed = await self._in_pool(
            parse_feed_job, result.content, result.url, result.content_type, here=small
        )
        whole = len(feed.entries) <= MAX_ENTRIES_PER_SOURCE  # else the rest waits for the next poll
        hints = PollHints(
            result, FeedContext(feed.title, feed.language), feed.ttl_minutes, body_hash if whole else None
        )
        return list(feed.entries[:MAX_ENTRIES_PER_SOURCE]), hints

    async def _sitemap_entries(
        self, source: Source, result: FetchResult
    ) -> tuple[list[FeedEntry], FeedContext]:
        """The entries of the sitemap and of its children, newest first, and the news publication name
        and language the entries give most often (``<news:publication>``), if any."""
        from .sources.sitemaps import children_to_fetch, parse_sitemap

        parsed = [parse_sitemap(result.content, result.url)]
        since = source.health.last_success_at
        for child in children_to_fetch(parsed[0], since=since, limit=MAX_SITEMAP_CHILDREN):
            try:
                got = await self.fetcher.get(child, allow_private=source.allow_loopback, expect="feed")
                parsed.append(parse_sitemap(got.content, got.url))
            except NewsdeskError as error:
                self._record(error, source, url=child)
        entries = [entry for sitemap in parsed for entry in _sitemap_to_entries(sitemap)]
        entries.sort(key=lambda e: e.published_at or now(), reverse=True)
        items = [item for sitemap in parsed for item in sitemap.entries]
        publication = _most_common(i.news_publication for i in items)
        return entries[:MAX_ENTRIES_PER_SOURCE], FeedContext(
            publication, _most_common(i.news_language for i in items)
        )

    # ------------------------------------------------------------------------------------- entries

    def _entry_urls(self, source: Source, entries: Sequence[FeedEntry]) -> dict[str, str]:
        """Each entry URL's canonical form. An entry whose URL has none (a port out of range, say) is
        recorded against the source and skipped: it used to fail the whole poll."""
        urls: dict[str, str] = {}
        for entry in entries:
            try:
                urls[entry.url] = canonicalize(entry.url)
            except FetchError as error:
                self._record(error, source, url=entry.url, level="warning")
        return urls

    async def _in_window(
        self,
        window: asyncio.Semaphore,
        source: Source,
        entry: FeedEntry,
        canonical: str,
        feed: FeedContext,
        known: set[str],
    ) -> None:
        async with window:
            await self._entry(source, entry, canonical, feed, known)

    async def _entry(
        self, source: Source, entry: FeedEntry, canonical: str, feed: FeedContext, known_urls: set[str]
    ) -> None:
        """``known_urls``: those of the poll's entry URLs the store knew when the poll began. An entry
        stored since (by another source, or a twin entry of this feed; stored or still held) is caught by
        :meth:`_hold`."""
        self.summary.entries += 1
        known = None
        if entry.url in known_urls or canonical in known_urls:
            known = await self._db(self._known_article, entry.url, canonical, known_urls)
        if known is not None:
            await self._db(self._alternate, known, entry.url, source, "same-url")
            return
        page = await self._fetch_page(source, entry.url) if self.settings.fetch_pages else None
        await self._db(self._decide_and_store, source, entry, page, feed)

    def _decide_and_store(
        self, source: Source, entry: FeedEntry, page: PageView | None, feed: FeedContext
    ) -> None:
        """On the writer thread: the decision is pure Python work, the store steps are writes."""
        self._hold(source, decide_article(source, entry, page, feed=feed), entry.url)

    async def _fetch_page(self, source: Source, url: str) -> PageView:
        try:
            result = await self.fetcher.get(url, allow_private=source.allow_loopback, expect="html")
            return await self._extract(result)
        except NewsdeskError as error:
            self._record(error, source, url=url, level="warning")
            return PageView(url, None, now(), error=f"{error.kind}: {error}")

    async def _extract(self, result: FetchResult) -> PageView:
        from .extract.article import with_language
        from .extract.jobs import extract_job

        extracted = await self._in_pool(
            extract_job, result.utf8_body(), result.url, self.settings.extract_fast
        )
        if not extracted.language:  # a pool worker leaves the language to this process, off the loop
            extracted = await asyncio.to_thread(with_language, extracted)
        return PageView(result.url, extracted, now(), etag=result.etag, last_modified=result.last_modified)

    def _hold(self, source: Source, article: Article, seen_url: str) -> None:
        """:meth:`_store` for a fetched page's article, on the writer thread: one that meets no stored
        article (and no held one) is held for the next batch (:data:`PAGE_BATCH`), written when the
        batch is full, when its poll has handed over all its entries, before an article that meets a
        held one, and at the end of the run. An alternate of a stored article is written at once: it
        creates no row, so the order of new articles (``new_ids``, enrichment's) is the order of their
        decisions, as with a save each."""
        if _meets(self._held, article):
            self._store_after_held(source, article, seen_url)
            return
        if self._stored_twin(source, article, seen_url):
            return
        self._held.append(_Fresh(article, seen_url, source))
        if len(self._held) >= PAGE_BATCH:
            self._write_held()

    def _store_after_held(self, source: Source, article: Article, seen_url: str) -> None:
        """:meth:`_store`, once the held articles are stored (it may be an alternate of one of them)."""
        self._write_held()
        self._store(source, article, seen_url)

    def _write_held(self) -> None:
        """The held articles in one transaction (:meth:`_store_fresh`). A failure fails each poll with
        pages in the batch (:meth:`_take`), as its own save's failure would have; the run goes on."""
        fresh, self._held = self._held, []
        try:
            self._store_fresh(fresh)
        except NewsdeskError as error:
            self._lost.update((one.source.id, error) for one in fresh)

    def _store(self, source: Source, article: Article, seen_url: str) -> None:
        """Exact dedupe (canonical URL, then content hash), else save as new. On the writer thread."""
        if self._stored_twin(source, article, seen_url):
            return
        sealed = self._sealed(article)
        saved = self.store.save_article(sealed, new=True)  # no article answers to its URL: just looked
        if saved.same_content:  # another worker stored the same text since we looked
            self._alternate(self.store.get_article(saved.id), seen_url, source, "same-content", article)
        elif saved.created:
            self.summary.new += 1
            self.new_ids.append(saved.id)
        elif saved.changed:
            self.summary.updated += 1

    def _stored_twin(self, source: Source, article: Article, seen_url: str) -> bool:
        """Exact dedupe against the store: an article stored under ``article``'s canonical URL (then one
        with its text) takes it as an alternate, or its identity when ``article`` is the original
        (``folding.retake``). False when there is none: ``article`` is new."""
        same = self.store.find_article(article.web_url)
        self._written.update((article.web_url, seen_url))
        reason = "same-url"
        if same is None and article.content_hash:
            same, reason = self.store.find_by_content_hash(article.content_hash), "same-content"
        if same is None:
            return False
        if reason == "same-content" and folding.retake(self.store, same, self._sealed(article)):
            self.summary.alternates += 1  # the original arrived second: it takes the stored row
            return True
        self._alternate(same, seen_url, source, reason, article)
        return True

    def _sealed(self, article: Article) -> Article:
        """``article`` with its text sealed (``secured`` + key id, no clear text) when encryption is on.
        Sealing here rather than after enrichment means a run killed between the two leaves no clear
        text behind; the content hash, computed from the clear text, still serves exact dedupe."""
        if self._seal is None or not article.text:
            return article
        box = self._seal(article.text)
        return article.replace(secured=box.secured, key_id=box.key_id, text="")

    def _alternate(
        self, known: Article, url: str, source: Source, reason: str, copy: Article | None = None
    ) -> None:
        if url in (known.web_url, known.original_url) and known.source_id == source.id:
            return  # the same entry seen again (a full re-fetch, a resumed run): nothing new
        alternate = Alternate(url, source.id, now(), reason, copy.provider if copy else None)
        assert known.id is not None
        self._written.add(url)
        if self.store.add_alternate(known.id, alternate):
            self.summary.alternates += 1

    # ----------------------------------------------------------------------------------- health

    def _healthy(
        self, source: Source, entries: Iterable[FeedEntry], hints: PollHints, started: datetime
    ) -> SourceHealth:
        result = hints.result
        interval = next_poll_interval(
            [e.published_at for e in entries if e.published_at],
            now=started,
            min_s=source.poll_min_s or self.settings.poll_min_interval,
            max_s=source.poll_max_s or self.settings.poll_max_interval,
            ttl_minutes=hints.ttl_minutes,
            max_age_s=result.max_age,
            error_count=0,
            retry_after_s=None,
        )
        old = source.health
        return replace(
            old,
            last_polled_at=started,
            last_success_at=started,
            error_count=0,
            next_poll_at=started + timedelta(seconds=interval),
            etag=result.etag,
            last_modified=result.last_modified,
            interval_s=interval,
            body_hash=hints.body_hash,
        )

    def _failed(self, source: Source, error: NewsdeskError, started: datetime) -> SourceHealth:
        self._record(error, source, url=source.url)
        count = source.health.error_count + 1
        interval = next_poll_interval(
            [],
            now=started,
            min_s=source.poll_min_s or self.settings.poll_min_interval,
            max_s=source.poll_max_s or self.settings.poll_max_interval,
            ttl_minutes=None,
            max_age_s=None,
            error_count=count,
            retry_after_s=error.retry_after if isinstance(error, FetchError) else None,
            jitter=random.random(),  # spreads the retries of sources that failed together
        )
        return replace(
            source.health,
            last_polled_at=started,
            error_count=count,
            last_error=str(error),
            last_error_kind=error.kind,
            next_poll_at=started + timedelta(seconds=interval),
            interval_s=interval,
        )

    # ------------------------------------------------------------------------------------- helpers

    def _record(self, error: NewsdeskError, source: Source, *, url: str | None, level: str = "error") -> None:
        self.summary.errors[error.kind] += 1
        self._troubled.add(source.id)
        log.info("%s %s: %s", error.kind, url, error, extra={"source_id": source.id, "url": url})
        queued = self._writer.submit(  # behind the writes before it; run() waits for the queue to drain
            self.store.record_event,
            error.kind,
            str(error),
            source_id=source.id,
            url=url,
            run_id=self.run_id,
            level=level,
        )
        queued.add_done_callback(_log_lost_write)

    async def _in_pool(self, job: Callable[..., Any], *args: Any, here: bool = False) -> Any:
        """``job`` in the process pool, or with ``here`` on a thread of this process (no pickling, no
        worker process); either way a failure is one item's :class:`ParseError`, not the run's."""
        executor = None if here else self.pool  # None: the loop's thread pool
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, job, *args)
        except NewsdeskError:
            raise
        except Exception as e:  # a worker crash or an unexpected library error: one item, not the run
            raise ParseError(f"{job.__name__.strip('_')} failed: {type(e).__name__}: {e}") from e

    def _tick(self, stage: str) -> None:
        self._done[stage] += 1
        self._progress(stage, self._done[stage], self._totals[stage])


def _log_lost_write(done: Future[Any]) -> None:
    """An event or health row the store refused is not silently lost: it reaches the log at least."""
    if not done.cancelled() and done.exception() is not None:
        log.error("write not recorded", extra={"error": repr(done.exception())})


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None


def _sitemap_to_entries(parsed: ParsedSitemap) -> list[FeedEntry]:
    out = []
    for item in parsed.entries:
        out.append(
            FeedEntry(
                url=item.url,
                guid=None,
                title=item.news_title or "",
                summary="",
                content_html=None,
                published_at=item.news_publication_date or item.lastmod,
                updated_at=item.lastmod,
                author=None,
                categories=(),
                image_url=item.image_urls[0] if item.image_urls else None,
                enclosures=(),
            )
        )
    return out
