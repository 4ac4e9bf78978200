"""The library facade: everything the CLI, the API and the web UI can do, as plain method calls.

One :class:`Newsdesk` over one store owns its parts, each made once on first use and named for its role::

    nd.catalog     what readers see: articles, stories, topics, search, feeds' articles, images
    nd.editorial   review decisions (publish, reject, undo), topic corrections, the review queue
    nd.sources     the sources: add, change, poll, pause, remove, sync, OPML, ratings, feed discovery
    nd.tokens      API bearer tokens            nd.readers   reader-app users and their read state
    nd.alerts      saved searches and digests   nd.webhooks  receivers and their deliveries
    nd.websub      hub subscriptions            nd.keys      the key ring: rotate, open sealed texts
    nd.outputs     record files and feed files  nd.training  the supervised topic model

The edges (``cli``, ``api``, ``web``, ``readerapi``) stay thin: they parse input, call one method of
the facade or a part, and format the result. They never reach the store, the pipeline or a stage
module — ``tests/test_layering.py`` holds them to that. Runs (``run``, ``watch``) stay here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import finishing
from .alerts import Alerts
from .config import Settings, load_taxonomy
from .errors import NewsdeskError, StorageError
from .model import Source, SourceKind, Taxonomy, now
from .publish.rules import Action, Rule
from .secure import KeyRing
from .store import Store

if TYPE_CHECKING:  # the pipeline imports the extraction stack (trafilatura, numpy): a run loads it, a
    # command that only reads the store (`source list`, `export`) does not — see tests/test_cli_imports.py
    from .catalog import Catalog
    from .editorial import Editorial
    from .extract.images import ImageCache
    from .fetch.client import Fetcher
    from .keys import Keys
    from .outputs import Outputs
    from .pipeline import ProgressHook
    from .pipeline import RunSummary as RunSummary  # what a run returns, named for the edges' types
    from .readers import Readers
    from .sourcing import Sources
    from .tokens import Tokens
    from .training import Training
    from .webhooks import Webhooks
    from .websub import WebSub

log = logging.getLogger(__name__)

POOL_PROBE_S = 30.0  # a kept pool that cannot run a no-op in this long is replaced

__all__ = ["Newsdesk", "demo_sources"]


class Newsdesk:
    """One newsdesk instance over one store. ``resolve`` maps host names to ``ip:port`` (the demo site)."""

    def __init__(self, settings: Settings, *, resolve: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.resolve = dict(resolve or {})
        self._store: Store | None = None
        self._taxonomy: Taxonomy | None = None
        self._enricher: Any = None
        self._pool: Executor | None = None
        self._wake: Callable[[], None] | None = None

    # -------------------------------------------------------------------------------- lifecycle

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use. The parts and the runs go through it; the edges
        never do — they call a part (``tests/test_layering.py``)."""
        if self._store is None:
            _make_folder(self.settings.data_dir, "data folder")
            self._store = Store.open(self.settings.database, index_full_text=self.settings.index_full_text)
        return self._store

    @property
    def taxonomy(self) -> Taxonomy:
        if self._taxonomy is None:
            self._taxonomy = load_taxonomy(self.settings.taxonomy_file)
        return self._taxonomy

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Newsdesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def preflight(self, *, key_may_be_created: bool = False) -> None:
        """Check what a run depends on before any work starts: the taxonomy, the publish rules and, with
        encryption on, the key. Each is otherwise first read half-way through a run, where its failure is
        recorded as a run error — the command still exits 0, and a key problem found at the seal stage
        leaves the full texts of that run stored in clear. ``key_may_be_created``: the caller runs
        :meth:`init` next, which creates a missing key file (a key that exists must still be readable).
        Raises the one :class:`NewsdeskError` that names the problem."""
        _ = self.taxonomy
        _ = self.rules
        if not self.settings.encrypt:
            return
        if key_may_be_created and not self.settings.secret_key and not self.settings.key_path.exists():
            return
        _ = self.key_ring

    def init(self) -> dict[str, str]:
        """Create the data folder, run migrations, and create the key file when encryption needs one."""
        report = {"data_dir": str(self.settings.data_dir), "database": _display_url(self.settings.database)}
        _ = self.store
        report["key"] = self._ensure_key()
        return report

    def _ensure_key(self) -> str:
        if not self.settings.encrypt:
            return "encryption off"
        if self.settings.secret_key:
            return "from NEWSDESK_SECRET_KEY"
        from .secure import create_key_file

        path = self.settings.key_path
        if path.exists():
            return f"{path} (existing)"
        create_key_file(path)
        return f"{path} (created, mode 0600)"

    # ------------------------------------------------------------------------------------ parts

    @functools.cached_property
    def catalog(self) -> Catalog:
        from .catalog import Catalog

        return Catalog(self)

    @functools.cached_property
    def editorial(self) -> Editorial:
        from .editorial import Editorial

        return Editorial(self)

    @functools.cached_property
    def sources(self) -> Sources:
        from .sourcing import Sources

        return Sources(self)

    @functools.cached_property
    def tokens(self) -> Tokens:
        from .tokens import Tokens

        return Tokens(self)

    @functools.cached_property
    def readers(self) -> Readers:
        from .readers import Readers

        return Readers(self)

    @functools.cached_property
    def alerts(self) -> Alerts:
        return Alerts(self)

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        from .webhooks import Webhooks

        return Webhooks(self)

    @functools.cached_property
    def websub(self) -> WebSub:
        from .websub import WebSub

        return WebSub(self)

    @functools.cached_property
    def keys(self) -> Keys:
        from .keys import Keys

        return Keys(self)

    @functools.cached_property
    def outputs(self) -> Outputs:
        from .outputs import Outputs

        return Outputs(self)

    @functools.cached_property
    def training(self) -> Training:
        from .training import Training

        return Training(self)

    def on_wake(self, wake: Callable[[], None] | None) -> None:
        """Register what wakes the running desk (:meth:`newsdesk.desk.Desk.wake`); ``None`` removes it.
        The sources part calls :meth:`nudge` when a source is added, changed or asked to be polled, so
        the API and the UI reach the desk without knowing it exists."""
        self._wake = wake

    def nudge(self) -> None:
        """Wake the running desk, if one registered (:meth:`on_wake`): a source changed."""
        if self._wake is not None:
            self._wake()

    # -------------------------------------------------------------------------------------- run

    def run(
        self, *, sources: Sequence[Source] | None = None, progress: ProgressHook | None = None
    ) -> RunSummary:
        """One pass over the due sources (or the given ones): ingest, enrich, finish."""
        return asyncio.run(self.run_async(sources=sources, progress=progress))

    async def run_async(
        self,
        *,
        sources: Sequence[Source] | None = None,
        progress: ProgressHook | None = None,
        finish: bool = True,
    ) -> RunSummary:
        """Ingest ``sources`` (default: the due ones), then — with ``finish`` — enrich and finish. A queue
        worker ingests with ``finish=False`` and leaves the rest to one :meth:`finish_pending` at a time."""
        from .fetch.client import Fetcher
        from .pipeline import Ingestor, fetch_policy

        started = time.perf_counter()
        # Texts are sealed as they are stored; a bad or missing key refuses the run before anything is.
        seal = self.key_ring.encrypt if self.settings.encrypt else None
        chosen = list(sources) if sources is not None else self.store.due_sources(now())
        if progress is not None:  # the poll stage ticks once a source is done; say it started
            progress("poll", 0, len(chosen))
        run_id = self.store.start_run()
        async with Fetcher(fetch_policy(self.settings, self.resolve)) as fetcher:
            ingestor = Ingestor(
                self.settings, self.store, fetcher, _OnFirstUse(self.worker_pool), run_id=run_id, progress=progress,
                seal=seal,
            )  # fmt: skip
            summary = await ingestor.run(chosen)
            summary.stages["ingest_s"] = round(time.perf_counter() - started, 2)
            if finish:
                await self._after_ingest(ingestor.new_ids, fetcher, summary, run_id, progress)
        return self._close_run(run_id, summary, started)

    def worker_pool(self) -> Executor:
        """The extraction process pool: started by the first run that has a feed to parse or a page to
        extract (a run where every source answers 304 starts none) and kept until :meth:`close`, so a
        ``--watch`` loop or a server pays the worker start (≈ 1 s of imports and models) once. A pool
        whose worker died is replaced."""
        from .pipeline import process_pool

        if self._pool is not None and not _alive(self._pool):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            self._pool = process_pool(self.settings.workers)
        return self._pool

    async def finish_pending(self, *, progress: ProgressHook | None = None) -> RunSummary:
        """Enrich and finish every article ingestion left unenriched (the queue's single-flight step)."""
        from .fetch.client import Fetcher
        from .pipeline import RunSummary, fetch_policy

        started = time.perf_counter()
        run_id = self.store.start_run()
        summary = RunSummary()
        async with Fetcher(fetch_policy(self.settings, self.resolve)) as fetcher:
            await self._after_ingest([], fetcher, summary, run_id, progress)
        return self._close_run(run_id, summary, started)

    def _close_run(self, run_id: int, summary: RunSummary, started: float) -> RunSummary:
        summary.stages["duration_s"] = round(time.perf_counter() - started, 2)
        # The run's recorded events are the one truth about its errors, whichever stage recorded them.
        summary.errors = Counter(e["kind"] for e in self.store.events(run_id=run_id, limit=1_000_000))
        self.store.finish_run(run_id, summary.as_dict())
        return summary

    async def _after_ingest(
        self,
        new_ids: Sequence[int],
        fetcher: Fetcher,
        summary: RunSummary,
        run_id: int,
        progress: ProgressHook | None,
    ) -> None:
        """Enrichment and finishing, on this run's articles plus any an interrupted run left behind.
        Each stage records its own failure and the next one still runs."""
        ids = sorted(set(new_ids) | set(self.store.unenriched_ids()))
        stages: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
        if self.settings.enrich:
            stages.append(("enrich", lambda: self._enrich(ids, progress)))
        if self.settings.cache_images:
            stages.append(
                (
                    "images",
                    lambda: finishing.cache_images(self.store, self.images, fetcher, ids, run_id=run_id),
                )
            )
        if self.settings.encrypt:
            stages.append(("seal", lambda: _ready(finishing.seal_texts(self.store, self.key_ring))))
        ring = self.key_ring if self.settings.encrypt else None  # rules may read the sealed text
        stages.append(
            ("rules", lambda: _ready(finishing.apply_rules(self.store, self.rules, ids, now(), ring=ring)))
        )
        stages.append(("alerts", lambda: _ready(Alerts(self).match(ids))))  # saved searches (newsdesk.alerts)
        for name, stage in stages:
            started = time.perf_counter()
            _stage_starts(progress, name)
            try:
                summary.stages.update(await stage())
            except NewsdeskError as error:
                self.store.record_event(error.kind, f"{name}: {error}", run_id=run_id)
            _stage_ends(progress, name)
            summary.stages[f"{name}_s"] = round(time.perf_counter() - started, 2)

    async def _enrich(self, ids: list[int], progress: ProgressHook | None) -> dict[str, Any]:
        from .enrichment import Enricher

        if self._enricher is None:  # one per instance: `run --watch` loads the model once
            decrypt = (lambda a: finishing.decrypt_text(a, self.key_ring)) if self.settings.encrypt else None
            self._enricher = Enricher(self.settings, self.store, self.taxonomy, decrypt=decrypt)
        return await asyncio.to_thread(self._enricher.run, ids, progress)

    def forget_enrichment_state(self) -> None:
        """Drop what enrichment remembers between runs (the near-duplicate index) but keep the loaded
        model: another process sharing the store may have enriched, folded or deleted articles since.
        A queue worker that keeps this facade between jobs calls it before each job."""
        if self._enricher is not None:
            self._enricher.forget_between_runs()

    @property
    def images(self) -> ImageCache:
        return finishing.image_cache(self.settings)

    @property
    def key_ring(self) -> KeyRing:
        return finishing.key_ring(self.settings)

    @property
    def rules(self) -> tuple[tuple[Rule, Action], ...]:
        return finishing.compiled_rules(self.settings)

    async def watch(
        self, *, interval_s: float = 30.0, max_runs: int | None = None, progress: ProgressHook | None = None
    ) -> None:
        """Poll what is due, sleep until the next source is due (at most ``interval_s``), repeat."""
        runs = 0
        while max_runs is None or runs < max_runs:
            await self.run_async(progress=progress)
            runs += 1
            await asyncio.sleep(self._seconds_until_due(interval_s))

    def _seconds_until_due(self, cap: float) -> float:
        due = [s.health.next_poll_at for s in self.store.list_sources() if s.health.next_poll_at]
        if not due:
            return cap
        return max(1.0, min(cap, (min(due) - now()).total_seconds()))


class _OnFirstUse(Executor):
    """The run's view of the worker pool: the pool is asked for (and so started) at the first job, not
    when the run starts. A run whose sources all answer 304 has nothing to parse or extract, and starting
    the pool cost it ≈ 1 CPU-s per worker of imports (docs/benchmarks.md, "Side by side with peers").
    The facade owns the pool: shutting this view down leaves the pool running for the next run."""

    def __init__(self, start: Callable[[], Executor]) -> None:
        self._start = start
        self._pool: Executor | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._pool is None:  # once per run: worker_pool() probes a kept pool with a round trip
            self._pool = self._start()
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to do: the pool outlives the run (see :meth:`Newsdesk.worker_pool`)."""


def _stage_starts(progress: ProgressHook | None, name: str) -> None:
    """Report a later stage as started: enrichment counts its own articles (its total is not known yet,
    hence 0); the others are one step each."""
    if progress is not None:
        progress(name, 0, 0 if name == "enrich" else 1)


def _stage_ends(progress: ProgressHook | None, name: str) -> None:
    if progress is not None and name != "enrich":
        progress(name, 1, 1)


def _make_folder(path: Path, what: str) -> None:
    """``mkdir -p`` with one clear error (a file in the way, no permission, a read-only disk)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the {what} {path}: {e.strerror or e}") from e


def _alive(pool: Executor) -> bool:
    """Whether ``pool`` still runs jobs: a dead worker breaks a process pool for good."""
    try:
        pool.submit(int).result(timeout=POOL_PROBE_S)
    except Exception:  # BrokenProcessPool, or workers too stuck to answer
        return False
    return True


async def _ready(value: dict[str, Any]) -> dict[str, Any]:
    """A synchronous stage's result, as the awaitable the stage loop expects."""
    return value


def _display_url(url: str) -> str:
    if "@" in url and ":" in url.split("@", 1)[0].split("://", 1)[-1]:
        scheme, rest = url.split("://", 1)
        user = rest.split(":", 1)[0]
        return f"{scheme}://{user}:***@{rest.rsplit('@', 1)[1]}"
    return url


def demo_sources(raw: Sequence[dict[str, Any]]) -> list[Source]:
    """The demo site's source dicts as sources (they are on loopback, so they say so explicitly)."""
    out = []
    for item in raw:
        name, category = item.get("name"), item.get("category")
        out.append(
            Source(
                url=str(item["url"]),
                kind=SourceKind(str(item.get("kind", "feed"))),
                name=str(name) if name else None,
                category=str(category) if category else None,
                allow_loopback=True,
            )
        )
    return out
