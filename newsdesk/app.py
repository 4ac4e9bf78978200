"""The library facade: everything the CLI, the API and the web UI can do, as plain method calls.

The edges stay thin — they parse input, call one method here, and format the result. No SQL and no
pipeline logic lives in them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, finishing
from .alerts import Alerts
from .config import Settings, load_sources, load_taxonomy
from .editorial import Editorial, Tokens
from .errors import NewsdeskError, SettingsError, StorageError, ValidationError
from .model import Article, Source, SourceKind, Taxonomy, now
from .publish.export import ExportSummary, export_records
from .publish.rules import Action, Rule
from .readerapi.users import Readers
from .record import dump_record
from .secure import KeyRing
from .store import ArticleQuery, Page, Store

if TYPE_CHECKING:  # the pipeline imports the extraction stack (trafilatura, numpy): a run loads it, a
    # command that only reads the store (`source list`, `export`) does not — see tests/test_cli_imports.py
    from .extract.images import ImageCache
    from .fetch.client import Fetcher
    from .pipeline import ProgressHook, RunSummary

log = logging.getLogger(__name__)

POOL_PROBE_S = 30.0  # a kept pool that cannot run a no-op in this long is replaced

__all__ = ["Editorial", "Newsdesk", "Readers", "SourceSync", "Tokens", "demo_sources"]


@dataclass(frozen=True, slots=True)
class SourceSync:
    added: tuple[Source, ...]
    known: int


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
        """The store, opened (and migrated) on first use."""
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

    # ---------------------------------------------------------------------------------- sources

    def add_source(self, source: Source) -> Source:
        """Store a new source; a running desk polls it at once."""
        added = self.store.add_source(source)
        self._nudge()
        return added

    def update_source(self, source_id: int, source: Source, *, grant_loopback: bool = False) -> Source:
        """Change a source's fields (rename, pause, resume…); a running desk looks again at once. Moving
        a source clears ``allow_loopback`` unless ``grant_loopback`` (``Store.update_source``)."""
        updated = self.store.update_source(source_id, source, grant_loopback=grant_loopback)
        self._nudge()
        return updated

    def poll_source(self, key: int | str) -> Source:
        """ "Poll now": make the source due and wake a running desk (without one, the next run polls it).
        A paused source is refused: resuming it is the editor's explicit step."""
        source = self.store.get_source(key)
        if source.paused:
            raise ValidationError(f"source {source.id} is paused: resume it before polling it")
        assert source.id is not None  # a stored source has its id
        polled = self.store.poll_soon(source.id, now())
        self._nudge()
        return polled

    def pause_source(self, key: int | str, *, paused: bool = True) -> Source:
        """Pause (never due) or resume a source; its health and validators are kept."""
        source = self.store.get_source(key)
        assert source.id is not None
        return self.update_source(source.id, replace(source, paused=paused))

    def on_wake(self, wake: Callable[[], None] | None) -> None:
        """Register what wakes the running desk (:meth:`newsdesk.desk.Desk.wake`); ``None`` removes it.
        The facade calls it when a source is added, changed or asked to be polled, so the API and the
        UI reach the desk without knowing it exists."""
        self._wake = wake

    def _nudge(self) -> None:
        if self._wake is not None:
            self._wake()

    def list_sources(self) -> list[Source]:
        return self.store.list_sources()

    def remove_source(self, key: int | str) -> Source:
        return self.store.remove_source(key)

    def sync_sources_file(self, path: Path | None = None) -> SourceSync:
        """Add the sources of ``sources.yaml`` (default: the ``sources_file`` setting) that the store does
        not know yet. A file that is not there is an error: syncing from a mistyped name must not look
        like a file that lists nothing new."""
        target = path or self.settings.sources_file
        if not target.is_file():
            raise SettingsError(f"{target}: no such sources file")
        return self.ensure_sources(load_sources(target))

    def ensure_sources(self, wanted: Sequence[Source]) -> SourceSync:
        known = {s.url for s in self.store.list_sources()}
        added = tuple(self.store.add_source(s) for s in wanted if s.url not in known)
        return SourceSync(added, len(wanted) - len(added))

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
        ids = sorted(set(new_ids) | set(self.store.pending_ids(unenriched=self.settings.enrich)))
        if not ids and not (self.settings.encrypt and self.store.has_clear_texts()):
            return  # nothing new or unfinished: a cycle of 304s starts no stage (issue 13)
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
        if ids:
            self.store.mark_finished_through(ids[-1])

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

    # ---------------------------------------------------------------------------------- articles

    def article(self, key: int | str) -> Article:
        """An article by id, canonical URL or any URL it was seen under, with its related records."""
        found: Article | None
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            found = self.store.get_article(int(key))
        else:
            found = self.store.find_article(key)
        if found is None:
            raise StorageError(f"no such article: {key}")
        assert found.id is not None
        return found.replace(related=self.store.related_refs(found.id))

    def articles(self, query: ArticleQuery) -> Page:
        return self.store.list_articles(query)

    def record(self, key: int | str) -> str:
        return dump_record(self.article(key))

    def export(
        self, folder: Path | None = None, *, published_only: bool = False, topics: Sequence[str] = ()
    ) -> ExportSummary:
        """Write one record file per selected article (incrementally) into ``folder``. When nothing
        has changed since the last export into it (same store state, same selection) no article is
        loaded at all: that export costs ≤ 5% of a full one (docs/benchmarks.md)."""
        target = folder or self.settings.records_dir
        stamp = self._export_stamp(published_only, topics)  # before the articles: see export_records
        selected = (a.replace(related=self.store.related_refs(a.id)) for a in self.store.iter_articles()
                    if a.id is not None and (not published_only or a.published)
                    and (not topics or set(topics) & set(a.topics)))  # fmt: skip
        return export_records(selected, target, stamp=stamp)

    def _export_stamp(self, published_only: bool, topics: Sequence[str]) -> str:
        """What the records of an export are made from, as one digest: the store's change stamp (it
        moves when an article is saved, decided or removed, or a run finishes — enrichment, heat,
        related, rules and images write elsewhere than the article row, so a per-article
        ``updated_at`` would miss them), the selection, and the code version (the record format)."""
        state = [__version__, *map(str, self.store.change_stamp()), published_only, sorted(topics)]
        return hashlib.sha256(json.dumps(state).encode("utf-8")).hexdigest()


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
