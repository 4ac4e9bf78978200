"""The real desk beside ``bench/api.py``'s readers: ``newsdesk serve --workers N`` over the seeded store,
its desk polling loopback feeds that grow while wrk drives the API (issue 14, goal 4, "also while the
desk is ingesting").

What differs from ``bench/api.py``'s writer process, which saved articles and nothing more: here the
product's own service runs as docs/deploy.md sets it up on one machine — N front-end processes on one
port and the desk in the process that supervises them — and the desk does all of its work on the same
two cores: it polls the feeds, fetches each new item's page, extracts it, embeds it (the bundled
model), folds near-duplicates, joins stories, scores and publishes.

The feeds (:class:`GrowingFeeds`): :data:`FEEDS` RSS feeds on :data:`HOSTS` loopback addresses, served
by ``bench/peers.py``'s server (its generated article pages: distinct prose per page), to which a
thread adds ``rate`` new pages a second, spread over the feeds, each feed listing its newest
:data:`ITEMS`. Each source is polled every :data:`POLL_S` seconds.

The seeded store is made to look like one the desk has been running on: every seeded article is
marked enriched (and finished: the later stages' mark is past it) and has a vector from the same model (the AG News texts embedded once — they repeat
every 7,600 articles — and kept with the seeded store), so the desk has 100k vectors to search for
related articles and no backlog of its own to enrich. Not seeded: stories, related records and
near-duplicate signatures of the old articles (the new ones get theirs). Live records are off (a
first export of 100k record files is its own job; bench/desk.py does the same).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import peers  # noqa: E402  (bench/peers.py: the loopback site and its generated pages)

FEEDS, HOSTS, ITEMS = 8, 4, 30
POLL_S = 5.0  # each source's poll interval: new items reach the desk within this
STARTUP_TIMEOUT_S = 180.0  # the service loads the model and opens the 100k store
EMBED_CHUNK = 5_000  # vectors written per transaction while seeding
NOISE = 0.3  # the length of the random move given to each seeded vector (see distinct)


# ------------------------------------------------------------------------------------------ the feeds


class GrowingFeeds:
    """Feeds that gain ``rate`` items a second (paced by a thread once :meth:`grow` is called)."""

    def __init__(self) -> None:
        self.site = peers.Site()
        self.bases = list(self.site.start([f"127.0.4.{k + 1}" for k in range(HOSTS)]).values())
        self.items: list[deque[tuple[str, str, str]]] = [deque(maxlen=ITEMS) for _ in range(FEEDS)]
        self.added = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for feed in range(FEEDS):
            self._publish(feed)

    def urls(self) -> list[str]:
        return [f"{self.bases[f % HOSTS]}/feed-{f}.xml" for f in range(FEEDS)]

    def add(self) -> None:
        """One new page, listed first in the next feed in turn."""
        n = 1_000_000 + self.added  # clear of peers.py's own page numbers
        base, title, html = peers._generated_page(n, self.bases[n % HOSTS])
        self.site.routes[(_host(base), f"/news/{n}.html")] = (html, "text/html; charset=utf-8")
        feed = self.added % FEEDS
        self.items[feed].appendleft((f"{base}/news/{n}.html", title, title))
        self._publish(feed)
        self.added += 1

    def _publish(self, feed: int) -> None:
        body = peers.rss(f"Feed {feed}", list(self.items[feed]))
        self.site.routes[(_host(self.bases[feed % HOSTS]), f"/feed-{feed}.xml")] = (
            body,
            "application/rss+xml",
        )

    def grow(self, rate: float) -> None:
        def run() -> None:
            started, done = time.monotonic(), 0
            while not self._stop.is_set():
                self.add()
                done += 1
                self._stop.wait(max(0.0, started + done / rate - time.monotonic()))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.site.stop()


def _host(base: str) -> str:
    return base.split("//")[1].split(":")[0]


# ----------------------------------------------------------------------------------------- the store


def service_env(data_dir: Path, tree: Path) -> dict[str, str]:
    """The service's settings: the product's defaults, but for what loopback and a benchmark need."""
    return os.environ | {
        "PYTHONPATH": str(tree),
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
        "NEWSDESK_RECORDS_DIR": str(data_dir / "records"),
        "NEWSDESK_LIVE_RECORDS": "0",
        "NEWSDESK_CACHE_IMAGES": "0",  # the generated pages have none
        "NEWSDESK_RESPECT_ROBOTS": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
    }


def embed_seeded(data_dir: Path, corpus: list[tuple[str, str]], count: int) -> float:
    """Give every seeded article a vector from the service's model (the corpus's texts embedded once)
    and the enriched mark; builds the model's graph in ``data_dir/models`` first (``newsdesk init``'s
    work). Returns seconds taken."""
    import numpy as np
    from sqlalchemy import update

    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings
    from newsdesk.enrich.embed import embedding_text, load_embedder, prepare_graph
    from newsdesk.model import now
    from newsdesk.store import tables as t

    started = time.perf_counter()
    settings = load_settings(env=service_env(data_dir, ROOT), base_dir=data_dir)
    prepare_graph(settings.embed_model, settings.embed_backend, settings.models_dir)
    embedder = load_embedder(settings.embed_model, settings.embed_backend, cache_dir=settings.models_dir)
    vectors = np.asarray(embedder.embed([embedding_text(title, text) for title, text in corpus]))
    with Newsdesk(settings) as nd:
        nd.init()
        draw = np.random.default_rng(14)
        for first in range(1, count + 1, EMBED_CHUNK):
            ids = range(first, min(first + EMBED_CHUNK, count + 1))
            chunk = distinct(vectors[[(i - 1) % len(corpus) for i in ids]], draw)
            nd.store.save_embeddings(embedder.name, list(zip(ids, chunk, strict=True)))
        with nd.store.engine.begin() as c:
            c.execute(update(t.articles).values(enriched_at=now()))
        nd.store.mark_finished_through(count)  # else the desk's first run takes them all for new
        build_related_index(nd, embedder.name)
    return time.perf_counter() - started


def distinct(vectors: Any, draw: Any) -> Any:
    """The corpus's vectors, each moved a little (cosine ≈ 0.95 to where it was) and made unit again:
    the corpus repeats every 7,600 articles, and an HNSW graph over thousands of identical points
    takes far longer to build than over a real store's distinct ones."""
    import numpy as np

    moved = vectors + draw.normal(0.0, NOISE / np.sqrt(vectors.shape[1]), vectors.shape).astype(np.float32)
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


def build_related_index(nd: Any, model: str) -> None:
    """The related stage's vector index file over every stored vector, as a desk that has been running
    keeps it beside the store (without it, the first enrichment builds it: minutes at 100k). In the
    related index's own precision (``RELATED_HNSW``, int8): a file of another one is not reused, and
    the desk's first enrichment then rebuilt all 100k in the middle of the measured phase."""
    from newsdesk.enrich.vectors import RELATED_HNSW, build_index

    stamp = int(nd.store.change_stamp()[0])  # read before the vectors: the file is in step with it
    ids, matrix = nd.store.load_embeddings(model)
    index = build_index(ids, matrix, ann=True, params=RELATED_HNSW)
    index.save(nd.settings.data_dir / "vectors.usearch", extra={"model": model, "stamp": stamp})


def keep_extras(data_dir: Path, kept: Path | None, *, save: bool) -> None:
    """What lies beside the kept seeded store — the model's graph and the related stage's vector index
    (:data:`EXTRAS`) — saved to ``kept`` after seeding, copied back before a run."""
    if kept is None:
        return
    source, target = (data_dir, kept) if save else (kept, data_dir)
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name == "models" and not (target / "models").exists():
            shutil.copytree(path, target / "models")
        elif path.name.startswith("vectors.usearch"):
            shutil.copyfile(path, target / path.name)
    if not save and not related_index_current(data_dir):  # kept by an older version of this script
        print("the kept related index is not in the related stage's precision: building it again, once")
        from newsdesk.app import Newsdesk
        from newsdesk.config import load_settings
        from newsdesk.enrich.embed import load_embedder

        settings = load_settings(env=service_env(data_dir, ROOT), base_dir=data_dir)
        model = load_embedder(settings.embed_model, settings.embed_backend, cache_dir=settings.models_dir)
        with Newsdesk(settings) as nd:
            build_related_index(nd, model.name)
        keep_extras(data_dir, kept, save=True)


def related_index_current(data_dir: Path) -> bool:
    """Whether the related index file beside the store is in ``RELATED_HNSW``'s precision (a file in
    another one is built again by the desk's first enrichment: minutes at 100k, inside a measured phase)."""
    from newsdesk.enrich.vectors import RELATED_HNSW, read_manifest

    manifest = read_manifest(data_dir / "vectors.usearch")
    return manifest is None or manifest.get("dtype") == RELATED_HNSW.dtype


def add_sources(data_dir: Path, urls: list[str]) -> None:
    """The feeds as sources (loopback allowed, polled every POLL_S), before the service starts."""
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings
    from newsdesk.model import Source

    settings = load_settings(env=service_env(data_dir, ROOT), base_dir=data_dir)
    with Newsdesk(settings) as nd:
        nd.init()
        for url in urls:
            nd.store.add_source(Source(url=url, allow_loopback=True, poll_min_s=POLL_S, poll_max_s=POLL_S))


def taken_in(data_dir: Path, seeded: int) -> tuple[int, int]:
    """(articles past the seeded ones, those of them enriched), read beside the running service."""
    if url := os.environ.get("NEWSDESK_DATABASE_URL"):  # bench/api.py --database-url
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as c:
            row = c.execute(
                text("SELECT count(*), count(enriched_at) FROM articles WHERE id > :n"), {"n": seeded}
            )
            total, enriched = row.one()
        engine.dispose()
        return int(total), int(enriched)
    with sqlite3.connect(f"file:{data_dir / 'newsdesk.db'}?mode=ro", uri=True, timeout=30) as db:
        query = "SELECT count(*), count(enriched_at) FROM articles WHERE id > ?"
        total, enriched = db.execute(query, (seeded,)).fetchone()
    return int(total), int(enriched)


# --------------------------------------------------------------------------------------- the service


def start_service(data_dir: Path, port: int, args: argparse.Namespace) -> psutil.Popen:
    """``newsdesk serve --workers N`` (the desk in the supervising process), ready when /readyz says so
    (the store answers and the desk's thread is alive)."""
    command = [sys.executable, "-m", "newsdesk", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(args.workers)]  # fmt: skip
    log = (data_dir / "service.log").open("ab")
    tree = args.newsdesk_tree or ROOT
    process = psutil.Popen(command, env=service_env(data_dir, tree), stdout=log, stderr=log, cwd=tree)
    if wait_until_up(f"http://127.0.0.1:{port}/readyz", STARTUP_TIMEOUT_S):
        return process
    process.kill()
    raise SystemExit(f"the service did not start; see {data_dir / 'service.log'}")


def wait_until_up(url: str, timeout_s: float) -> bool:
    """Whether ``url`` answered 200 within ``timeout_s`` (asked again every half second)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def split_cpu(pid: int) -> tuple[float, float]:
    """(front ends, desk) CPU seconds of the service's tree now: the front ends are uvicorn's spawned
    worker processes; the desk is the rest — the supervising process, where the desk's thread runs,
    and the extraction pool's forkserver and workers."""
    api = desk = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    for p in processes:
        try:
            times = p.cpu_times()
            front = "spawn_main" in " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if front:
            api += times.user + times.system
        else:
            desk += times.user + times.system
    return api, desk


def stop_service(process: psutil.Popen) -> None:
    process.terminate()
    try:
        process.wait(90)
    except (psutil.TimeoutExpired, subprocess.TimeoutExpired):
        process.kill()
