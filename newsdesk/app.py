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
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import finishing, stages
from .config import Settings, load_taxonomy
from .errors import StorageError
from .malloc import limit_malloc_arenas
from .model import Source, SourceKind, Taxonomy
from .store import Store

if TYPE_CHECKING:  # the stages import the extraction stack (trafilatura, numpy) when a run starts: a
    # command that only reads the store (`source list`, `export`) does not — see tests/test_cli_imports.py.
    # Alerts (jinja2, email) and the key ring (cryptography) load when first used: a run whose feeds all
    # answer 304 with encryption off uses neither (docs/benchmarks.md, "the cold CLI").
    from .alerts import Alerts
    from .catalog import Catalog
    from .editorial import Editorial
    from .enricher import Enricher
    from .extract.images import ImageCache
    from .fetch.client import KeptConnections
    from .keys import Keys
    from .outputs import Outputs
    from .publish.rules import Action, Rule
    from .readers import Readers
    from .secure import KeyRing
    from .sourcing import Sources
    from .stages import ProgressHook
    from .stages import RunSummary as RunSummary  # what a run returns, named for the edges' types
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
        self._enricher: Enricher | None = None
        self._pool: Executor | None = None
        self._pool_used = 0.0  # time.monotonic() of the pool's last job (see release_idle_pool)
        self._inline: ThreadPoolExecutor | None = None
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
        if self._inline is not None:
            self._inline.shutdown(wait=True, cancel_futures=True)
            self._inline = None
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

    def init(self, *, topics: bool = False) -> dict[str, str]:
        """Create the data folder, run migrations, create the key file when encryption needs one, and
        build the embedding model's ONNX graph when enrichment is on. ``topics`` (``newsdesk init``)
        also embeds the taxonomy's topic descriptions into the store, which loads the model: the
        desk's own start leaves that to its first cycle, so that the model loads once, after the
        desk has capped malloc's arenas (malloc.py)."""
        report = {"data_dir": str(self.settings.data_dir), "database": _display_url(self.settings.database)}
        _ = self.store
        report["key"] = self._ensure_key()
        if self.settings.enrich:  # the embedding graph, built here so no run or server pays for it
            from .enrich.embed import prepare_graph

            settings = self.settings
            report["model"] = prepare_graph(settings.embed_model, settings.embed_backend, settings.models_dir)
            if topics:
                report["topics"] = self.enricher.prepare_topics()
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
        from .alerts import Alerts

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
        """One pass over the due sources (or the given ones) through every stage (:mod:`newsdesk.stages`)."""
        return asyncio.run(self.run_async(sources=sources, progress=progress))

    async def run_async(
        self,
        *,
        sources: Sequence[Source] | None = None,
        progress: ProgressHook | None = None,
        finish: bool = True,
        connections: KeptConnections | None = None,
    ) -> RunSummary:
        """Ingest, then — with ``finish`` — the later stages (:func:`newsdesk.stages.run_async`)."""
        limit_malloc_arenas()  # before the run's threads start (extraction, the model's)
        return await stages.run_async(
            self, sources=sources, progress=progress, finish=finish, connections=connections
        )

    async def finish_pending(self, *, progress: ProgressHook | None = None) -> RunSummary:
        """The stages after ingestion over what is unenriched (:func:`newsdesk.stages.finish_pending`)."""
        return await stages.finish_pending(self, progress=progress)

    async def watch(
        self, *, interval_s: float = 30.0, max_runs: int | None = None, progress: ProgressHook | None = None
    ) -> None:
        """Run what is due, then sleep until the next source is due (:func:`newsdesk.stages.watch`)."""
        limit_malloc_arenas()
        await stages.watch(self, interval_s=interval_s, max_runs=max_runs, progress=progress)

    def worker_pool(self) -> Executor:
        """The extraction process pool: started by the first run that has a feed to parse or a page to
        extract (a run where every source answers 304 starts none) and kept until :meth:`close`, so a
        ``--watch`` loop or a server pays the worker start (imports and models; docs/benchmarks.md) once.
        A pool whose worker died is replaced."""
        from .ingestor import process_pool

        if self._pool is not None and not _alive(self._pool):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            self._pool = process_pool(self.settings.workers)
        self.note_pool_use()
        return self._pool

    def pool_running(self) -> bool:
        """Whether the extraction pool is up (started and not released as idle)."""
        return self._pool is not None

    def inline_executor(self) -> Executor:
        """The one thread on which runs parse and extract in this process (see
        :class:`newsdesk.stages._PoolOnFirstUse`): off the event loop, and one thread only, since
        the work is Python under the GIL and a second thread would add switching, not speed. Shared by
        every run and WebSub push of this facade, so their jobs queue rather than contend."""
        if self._inline is None:
            self._inline = ThreadPoolExecutor(1, thread_name_prefix="newsdesk-extract")
        return self._inline

    def note_pool_use(self) -> None:
        """A job went to the pool: it is not idle (each run's pool view says so at every job)."""
        self._pool_used = time.monotonic()

    def release_idle_pool(self, idle_s: float) -> bool:
        """Stop the extraction workers once no job reached them for ``idle_s`` seconds (0: never); the
        next page starts them again. An always-on desk spends most hours polling feeds that answer 304
        or parse in-process, and each idle worker holds its imports and models (docs/benchmarks.md,
        "Process start"). The desk calls this between its cycles, when none of its own jobs can be in
        flight; a WebSub push in flight keeps the pool busy, since it notes a use at every job."""
        if self._pool is None or idle_s <= 0 or time.monotonic() - self._pool_used < idle_s:
            return False
        pool, self._pool = self._pool, None
        pool.shutdown(wait=True)
        log.info("extraction workers stopped after %.0f s idle", idle_s)
        return True

    @property
    def enricher(self) -> Enricher:
        """The enrichment stage's enricher, made on first use and kept: `run --watch`, the desk and a
        queue worker load the model once."""
        if self._enricher is None:
            from .enricher import Enricher

            decrypt = (lambda a: finishing.decrypt_text(a, self.key_ring)) if self.settings.encrypt else None
            self._enricher = Enricher(
                self.settings, self.store, self.taxonomy, decrypt=decrypt, sketch_key=self.keys.sketch_key
            )
        return self._enricher

    def reembed(self, limit: int | None = None) -> int:
        """Embed again up to ``limit`` (None: every) enriched article whose vector another embedding model
        made, so that it counts again in related, stories and search (reembed.py); how many."""
        return self.enricher.reembed(limit)

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
