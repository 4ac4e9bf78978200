"""Side by side with peers: what newsdesk costs a user next to the tool they would otherwise pick.

One command, loopback only. It installs the peers into its own virtual environment
(``bench/out/peers-venv``: trafilatura, reader and newspaper4k from PyPI; newsboat from Debian when
apt is there), serves the pages and feeds on several 127.x.y.z addresses, runs every tool as a fresh
command in interleaved rounds, and prints medians. A peer that cannot be had is skipped with the reason.

Cases (issue 14):

1. ``pipeline`` — the 181 pages of the article-extraction benchmark on 4 hosts: ``newsdesk run`` as a
   cold CLI on a fresh data folder (one feed per host; enrichment on, then off; image caching off, as
   the pages' images are not on loopback), ``newsdesk serve`` (the desk) from its start until its
   first cycle over them is done, and the running desk: ``serve`` first through a cycle over
   :data:`WARMUP_ARTICLES` generated articles, then the pages' feeds added through its API, its CPU from
   then until it has processed them and stopped (issue 14 asks for both "in the running desk and as a
   cold CLI"), against the trafilatura
   CLI fetching and extracting the same URLs (``-i urls.txt --parallel 2``) and newspaper4k (2 threads);
2. ``feeds`` — 500 feeds × 30 items on 10 hosts: newsdesk feed-only (``fetch_pages=0``, enrichment off)
   against reader's ``update_feeds`` and ``newsboat -x reload``: first poll, second poll answered 304
   (the server sends validators), second poll in full (it sends none);
3. ``export`` — ``newsdesk export`` of the feed case's store into a fresh folder, then again with
   nothing changed;
4. ``many`` (not in the default ``--cases``) — ``--articles`` generated articles (distinct texts, 100 a
   feed, on 4 hosts) through the whole pipeline in one cold ``newsdesk run``: peak memory summed over
   processes and CPU per article (issue 14, goal 3). No peer: none of them does this work.

CPU is user + system time summed over each tool's whole process tree (``RUSAGE_CHILDREN`` around the
command). This process makes itself the tree's child subreaper (Linux ``prctl``) and reaps every
orphan before reading it: a multiprocessing forkserver outlives the command that started it, so its
workers' time (reaped by the forkserver) never reached the command's parent, and was not counted
before 2026-12-06. The servers run in this process and are not counted. Memory is resident memory summed over the tree, sampled every
:data:`SAMPLE_S` (psutil), and the largest single process. A shared 2-core box drifts by ±30% between
identical runs, hence rounds that alternate the tools and medians of per-round ratios.

Usage::

    .venv/bin/python bench/peers.py [--data ../shared/data] [--rounds 1] [--cases pipeline,feeds,export]
        [--newsdesk-tree DIR]   # measure another checkout (e.g. a `git worktree` of an older commit)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VENV = OUT / "peers-venv"
PYCACHE = OUT / "pycache"  # the measured trees' bytecode (see Desk.env)
# peer -> (what pip installs, what must then import). reader's vendored feedparser imports sgmllib,
# which Python 3 no longer ships and reader does not declare.
PYPI_PEERS = {
    "trafilatura": (("trafilatura",), "trafilatura"),
    "reader": (("reader", "sgmllib3k"), "reader, sgmllib"),
    "newspaper4k": (("newspaper4k",), "newspaper"),
}
BENCHMARK = "article-extraction-benchmark"
PAGE_HOSTS = 4  # the set-up: the 181 pages spread over 4 hosts
FEED_HOSTS = 10  # 50 feeds a host: a reader's subscriptions spread over many sites
FEEDS, ITEMS = 500, 30
GENERATED, GENERATED_PER_FEED = 3_000, 100
WARMUP_ARTICLES = 10  # the running desk's first cycle, before the pages are added (case 1)
# Words for the generated articles: news-like prose whose pages differ enough to be distinct articles.
VOCABULARY_TEXT = (
    "market bank rate inflation central policy government election minister vote court ruling climate "
    "energy oil gas price supply chain factory workers union strike company profit shares investors "
    "technology software model data privacy regulator startup funding chip research university study "
    "health hospital vaccine patients doctors city council housing rent transport rail airport border "
    "trade tariff export import growth economy recession budget tax spending debt bond currency dollar "
    "euro yen football league season coach players match final film festival music album artist "
    "storm flood wildfire drought harvest farmers water river coast police investigation report"
)
VOCABULARY = VOCABULARY_TEXT.split()
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
SAMPLE_S = 0.05  # memory sampling period; a process living less than this may be missed
LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)

# What the peers run, inside the peers' venv (its python). Each is one cold process, like a CLI.
READER_SETUP = "import sys; from reader import make_reader\nr = make_reader(sys.argv[1])\n" + (
    "for u in open(sys.argv[2]).read().split(): r.add_feed(u, exist_ok=True)\n"
)
# scheduled=False: every feed, due or not (reader's default skips feeds it polled a moment ago; the
# newsdesk side is made due the same way, see make_due).
READER_UPDATE = (
    "import sys; from reader import make_reader\nmake_reader(sys.argv[1]).update_feeds(scheduled=False)\n"
)
NEWSPAPER = """import sys
from concurrent.futures import ThreadPoolExecutor
from newspaper import Article
def one(url):
    try:
        a = Article(url, fetch_images=False); a.download(); a.parse(); return bool(a.text)
    except Exception:
        return False
with ThreadPoolExecutor(2) as pool:
    print(sum(pool.map(one, open(sys.argv[1]).read().split())))
"""
# newsdesk's own set-up (not measured): what `newsdesk init` does (a fresh data folder, migrated, the
# embedding model's ONNX graph built and the taxonomy's topics embedded when enrichment is on), then the
# sources. An older tree without prepare_graph builds its graph in the measured run, as it did then, and
# one whose init takes no `topics` embeds them in the measured run.
NEWSDESK_SETUP = """import inspect, json, sys
from newsdesk.app import Newsdesk, demo_sources
from newsdesk.config import load_settings
with Newsdesk(load_settings()) as nd:
    nd.init(**({"topics": True} if "topics" in inspect.signature(nd.init).parameters else {}))
    nd.sources.ensure(demo_sources([{"url": u} for u in json.load(open(sys.argv[1]))]))
    if len(sys.argv) > 2:  # a token to add sources through the API with, as an admin would
        open(sys.argv[2], "w").write(nd.tokens.create("bench", "admin")[1])
    s = nd.settings
    try:
        from newsdesk.enrich.embed import prepare_graph
    except ImportError:
        prepare_graph = None
    if s.enrich and prepare_graph is not None:
        prepare_graph(s.embed_model, s.embed_backend, s.models_dir)
"""


# ------------------------------------------------------------------------------------------ measuring


@dataclass(frozen=True, slots=True)
class Cost:
    cpu_s: float
    wall_s: float
    rss_sum_mb: float  # peak of the tree's summed resident memory
    rss_max_mb: float  # peak of its largest process


def measure(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stop_when: Callable[[], bool] | None = None,
    ready: Callable[[], bool] | None = None,
    act: Callable[[], None] | None = None,
) -> Cost:
    """Run ``command`` to the end; its process tree's CPU and peak memory. A failing command is fatal:
    a tool that did not do the work has no cost to compare. ``stop_when``: a long-running service,
    sent SIGTERM once the predicate (checked at every memory sample) says its work is done.

    ``ready`` and ``act``: such a service's cost for one piece of work, apart from its start. It runs
    until ``ready()``, then ``act()`` hands it the work, and the cost is counted from then on: the tree's
    CPU at the end less what it had spent by then (so it includes the stop, and any orphan that exited
    before, never more than a few ms), and the peak memory while the work ran, with everything the
    start loaded still resident."""
    # stderr goes to a file, not a pipe: a tool that warns about every page would fill a pipe nobody
    # reads while it runs, and block.
    with tempfile.TemporaryFile("w+") as errors:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        spent_before = 0.0
        if ready is not None:
            _sample_until_done(proc, ready, stop=False)
            spent_before, started = _tree_cpu(), time.perf_counter()
            if act is not None:
                act()
        peak_sum, peak_max = _sample_until_done(proc, stop_when)
        proc.wait()
        _reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        errors.seek(0)
        stopped = stop_when is not None and proc.returncode == -signal.SIGTERM  # uvicorn re-raises it
        if proc.returncode != 0 and not stopped:
            raise RuntimeError(
                f"{command[0]} … {command[-1]} failed ({proc.returncode}): {errors.read()[-2000:]}"
            )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) - spent_before
    return Cost(cpu, time.perf_counter() - started, peak_sum / 2**20, peak_max / 2**20)


def _tree_cpu() -> float:
    """CPU-s spent so far by every process under this one (the measured command's tree and the orphans
    re-parented here), with what each has reaped of its own children."""
    total = 0.0
    for process in _children(psutil.Process()):
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def become_subreaper() -> None:
    """Orphaned descendants of a measured command (a forkserver and its workers) are re-parented to
    this process instead of init, so :func:`_reap_orphans` can collect their CPU time. Linux only;
    elsewhere their time stays uncounted."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans() -> None:
    """Wait for every process left over from the command (they exit once their parent has)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _sample_until_done(
    proc: subprocess.Popen[bytes], stop_when: Callable[[], bool] | None = None, *, stop: bool = True
) -> tuple[int, int]:
    """Peak memory (summed, largest) of ``proc``'s tree, sampled until it exits; once ``stop_when()``
    says so, it is sent SIGTERM (``stop``) or sampling returns at once (not ``stop``)."""
    root = psutil.Process(proc.pid)
    peak_sum = peak_max = 0
    while proc.poll() is None:
        sizes = [_rss(p) for p in [root, *_children(root)]]
        peak_sum, peak_max = max(peak_sum, sum(sizes)), max(peak_max, *sizes)
        if stop_when is not None and stop_when():
            if not stop:
                return peak_sum, peak_max
            proc.send_signal(signal.SIGTERM)
            stop_when = None
        time.sleep(SAMPLE_S)
    if not stop:
        raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}) before it was ready")
    return peak_sum, peak_max


def _children(root: psutil.Process) -> list[psutil.Process]:
    try:
        return list(root.children(recursive=True))
    except psutil.Error:
        return []


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:  # exited between listing and reading
        return 0


# -------------------------------------------------------------------------------------------- serving


class _QuietServer(ThreadingHTTPServer):
    """A loopback server that lets a client hang up without a traceback: the peers' fetchers close
    connections early (trafilatura, newspaper4k), and each reset printed one into the figures."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Site:
    """Every host's routes: path -> (body, content type). ``validators`` says whether feeds carry an
    ETag and Last-Modified (and so whether a conditional request gets a 304)."""

    routes: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    validators: bool = True
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def start(self, hosts: Sequence[str]) -> dict[str, str]:
        """Serve on each of ``hosts``; returns host -> ``http://host:port``."""
        bases = {}
        for host in hosts:
            server = _QuietServer((host, 0), _handler(self))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
            bases[host] = f"http://{host}:{server.server_address[1]}"
        return bases

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = site.routes.get((self.headers.get("Host", "").split(":")[0], self.path.split("?")[0]))
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, content_type = found
            feed = content_type.startswith("application/rss")
            etag = f'"{len(body)}-{hash(body) & 0xFFFFFFFF:x}"'
            if feed and site.validators and _fresh(self, etag):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if feed and site.validators:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a line per request would cost more than the tools being measured."""

    return Handler


def _fresh(request: BaseHTTPRequestHandler, etag: str) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None:
        return etag in match
    return request.headers.get("If-Modified-Since") == LAST_MODIFIED


def rss(title: str, items: Sequence[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of ``(url, title, description)`` items, with dates and guids."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}'
             "</title><link>http://example.org/</link><description>bench</description>"]  # fmt: skip
    for n, (url, name, text) in enumerate(items):
        date = formatdate(1_700_000_000 - 3600 * n, usegmt=True)
        parts.append(f"<item><title>{escape(name)}</title><link>{escape(url)}</link><guid>{escape(url)}</guid>"
                     f"<pubDate>{date}</pubDate><description>{escape(text)}</description></item>")  # fmt: skip
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def serve_pages(site: Site, data: Path) -> tuple[list[str], list[str]]:
    """The 181 benchmark pages over :data:`PAGE_HOSTS` hosts, and one feed per host listing its pages.
    Returns (page URLs, feed URLs)."""
    files = sorted((data / BENCHMARK / "html").glob("*.html.gz"))
    bases = site.start([f"127.0.1.{k + 1}" for k in range(PAGE_HOSTS)])
    hosts = list(bases)
    pages: list[str] = []
    per_host: dict[str, list[tuple[str, str, str]]] = {h: [] for h in hosts}
    for n, path in enumerate(files):
        host = hosts[n % PAGE_HOSTS]
        route = f"/article/{path.name.removesuffix('.html.gz')}.html"
        site.routes[(host, route)] = (gzip.decompress(path.read_bytes()), "text/html; charset=utf-8")
        pages.append(bases[host] + route)
        per_host[host].append((pages[-1], f"Benchmark page {n}", "A page of the extraction benchmark."))
    for host, items in per_host.items():
        site.routes[(host, "/feed.xml")] = (rss(host, items), "application/rss+xml")
    return pages, [bases[h] + "/feed.xml" for h in hosts]


def serve_feeds(site: Site, count: int = FEEDS) -> list[str]:
    """``count`` feeds of :data:`ITEMS` items over :data:`FEED_HOSTS` hosts; item links are never
    fetched (feed-only polling)."""
    bases = site.start([f"127.0.2.{k + 1}" for k in range(FEED_HOSTS)])
    urls = []
    for n in range(count):
        host = list(bases)[n % FEED_HOSTS]
        items = [(f"{bases[host]}/f{n}/item/{i}", f"Feed {n} story {i}: markets & more",
                  f"<p>Lead of story {i} of feed {n}, with <b>some</b> markup and a sentence or two.</p>")
                 for i in range(ITEMS)]  # fmt: skip
        site.routes[(host, f"/f{n}.xml")] = (rss(f"Feed {n}", items), "application/rss+xml")
        urls.append(f"{bases[host]}/f{n}.xml")
    return urls


def serve_generated(site: Site, count: int, network: str = "127.0.3") -> list[str]:
    """``count`` generated article pages on 4 hosts of ``network`` and feeds of
    :data:`GENERATED_PER_FEED` items listing them; each page's text is drawn from :data:`VOCABULARY`
    with its own seed. Returns the feed URLs."""
    bases = list(site.start([f"{network}.{k + 1}" for k in range(PAGE_HOSTS)]).values())
    feeds: dict[str, list[tuple[str, str, str]]] = {}
    for n in range(count):
        base, title, html = _generated_page(n, bases[n % PAGE_HOSTS])
        host = base.split("//")[1].split(":")[0]
        site.routes[(host, f"/news/{n}.html")] = (html, "text/html; charset=utf-8")
        feed = f"{bases[(n // GENERATED_PER_FEED) % PAGE_HOSTS]}/feed-{n // GENERATED_PER_FEED}.xml"
        feeds.setdefault(feed, []).append((f"{base}/news/{n}.html", title, title))
    for feed, items in feeds.items():
        host, path = feed.split("//")[1].split(":")[0], "/" + feed.rsplit("/", 1)[1]
        site.routes[(host, path)] = (rss(feed, items), "application/rss+xml")
    return list(feeds)


def _generated_page(n: int, base: str) -> tuple[str, str, bytes]:
    draw = random.Random(n)
    title = " ".join(draw.choices(VOCABULARY, k=8)).capitalize() + f" ({n})"
    paragraphs = "".join(
        "<p>" + ". ".join(" ".join(draw.choices(VOCABULARY, k=14)).capitalize() for _ in range(4)) + ".</p>"
        for _ in range(8)
    )
    body = (f"<html><head><title>{title}</title></head><body><header><a href='/'>Home</a></header>"
            f"<article><h1>{title}</h1>{paragraphs}</article><footer>Contact</footer></body></html>")  # fmt: skip
    return base, title, body.encode("utf-8")


# -------------------------------------------------------------------------------------------- peers


@dataclass
class Peers:
    python: Path | None = None  # the venv's interpreter, if the PyPI peers installed
    have: set[str] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, name: str, why: str) -> None:
        self.skipped[name] = why
        print(f"skipping {name}: {why}", flush=True)


def install_peers() -> Peers:
    """The peers' venv (created once, reused), each PyPI peer installed separately so one failure
    skips one peer; newsboat from PATH, else from apt when run as root."""
    peers = Peers()
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    for name, (packages, modules) in PYPI_PEERS.items():
        if _importable(python, modules) or _pip(python, packages):
            peers.have.add(name)
        else:
            peers.skip(name, "pip could not install it (see the pip output above)")
    peers.python = python
    if shutil.which("newsboat") or _apt("newsboat"):
        peers.have.add("newsboat")
    else:
        peers.skip("newsboat", "not on PATH and apt-get could not install it (needs root and apt)")
    return peers


def _importable(python: Path, modules: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {modules}"], capture_output=True).returncode == 0


def _pip(python: Path, packages: Sequence[str]) -> bool:
    print(f"installing {', '.join(packages)} into {VENV}", flush=True)
    return subprocess.run([str(python), "-m", "pip", "install", "-q", *packages]).returncode == 0


def _apt(package: str) -> bool:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    print(f"installing {package} with apt-get", flush=True)
    done = subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True)
    return done.returncode == 0 and shutil.which(package) is not None


def trafilatura_config(python: Path, folder: Path) -> Path:
    """trafilatura's own settings with no sleep between two requests to one host (5 s by default; our
    side runs with ``per_host_delay=0`` too): the same politeness on both sides, none. Its SSRF guard
    is off, as newsdesk's is for these sources (``allow_loopback``): the pages are on loopback."""
    found = subprocess.run(
        [str(python), "-c", "import trafilatura, os; print(os.path.dirname(trafilatura.__file__))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = (Path(found.stdout.strip()) / "settings.cfg").read_text(encoding="utf-8")
    changed = {"SLEEP_TIME": "SLEEP_TIME = 0", "SSRF_PROTECTION": "SSRF_PROTECTION = off"}
    lines = [changed.get(line.split("=")[0].strip(), line) for line in text.splitlines()]
    target = folder / "trafilatura.cfg"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# ----------------------------------------------------------------------------------------- newsdesk


@dataclass(frozen=True)
class Desk:
    """How to run newsdesk as a user would: ``python -m newsdesk`` from ``tree``."""

    tree: Path

    def env(self, data_dir: Path, **settings: str) -> dict[str, str]:
        # Bytecode cached as an installed package has it (pip compiles on install; the peers' venv has
        # it): with PYTHONDONTWRITEBYTECODE set, as on the shared box, every cold run compiled newsdesk's
        # modules from source, ≈ 0.06 CPU-s that no installed newsdesk spends (docs/benchmarks.md, "The
        # cold 304 poll at reader's cost"). Kept out of the trees, in bench/out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        env |= {"PYTHONPATH": str(self.tree), "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
                "NEWSDESK_DATA_DIR": str(data_dir), "NEWSDESK_PER_HOST_DELAY": "0"}  # fmt: skip
        return env | {f"NEWSDESK_{k.upper()}": v for k, v in settings.items()}

    def setup(
        self, data_dir: Path, sources: Sequence[str], token: Path | None = None, **settings: str
    ) -> dict[str, str]:
        """A fresh data folder as ``newsdesk init`` leaves it, with ``sources``; with ``token``, an
        admin API token written there."""
        env = self.env(data_dir, **settings)
        data_dir.mkdir(parents=True)
        listing = data_dir / "sources.json"
        listing.write_text(json.dumps(list(sources)), encoding="utf-8")
        # cwd: `python -c` puts the working directory first on sys.path, which would set up with the
        # checkout the bench runs from instead of `tree`.
        command = [sys.executable, "-c", NEWSDESK_SETUP, str(listing), *([str(token)] if token else [])]
        subprocess.run(command, env=env, check=True, cwd=data_dir)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "newsdesk", *args]


def first_run_finished(data_dir: Path) -> Callable[[], bool]:
    """Whether the desk's first cycle (every stage, the run row closed) is over."""
    return _store_says(data_dir, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL")


def desk_caught_up(data_dir: Path) -> Callable[[], bool]:
    """Whether the desk, past its first cycle, has polled every source, enriched every article it
    stored and has no cycle running."""
    return _store_says(
        data_dir,
        "SELECT (SELECT count(*) FROM runs WHERE finished_at IS NOT NULL) > 1"
        " AND NOT EXISTS (SELECT 1 FROM runs WHERE finished_at IS NULL)"
        " AND NOT EXISTS (SELECT 1 FROM sources WHERE last_polled_at IS NULL)"
        " AND NOT EXISTS (SELECT 1 FROM articles WHERE enriched_at IS NULL)",
    )


def _store_says(data_dir: Path, query: str) -> Callable[[], bool]:
    """A predicate on the desk's SQLite store: ``query``'s one value, read beside the running desk."""

    def check() -> bool:
        try:
            with contextlib.closing(sqlite3.connect(data_dir / "newsdesk.db", timeout=0.1)) as db:
                return bool(db.execute(query).fetchone()[0])
        except sqlite3.Error:  # locked by a write: ask again at the next sample
            return False

    return check


def add_sources(port: int, token: str, feeds: Sequence[str], wait_s: float = 30.0) -> None:
    """Add ``feeds`` through the running desk's API, as an admin would (loopback allowed: the bench's
    hosts are on it); each addition wakes the desk. Waits up to ``wait_s`` for the API to listen."""
    deadline = time.monotonic() + wait_s
    for url in feeds:
        body = json.dumps({"url": url, "allow_loopback": True}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/sources", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answer.read()
                break
            except urllib.error.URLError as e:
                if isinstance(e, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_due(data_dir: Path) -> None:
    """Every source due again (a second poll straight after the first), validators kept."""
    with sqlite3.connect(data_dir / "newsdesk.db") as db:
        db.execute("UPDATE sources SET next_poll_at = NULL")


# -------------------------------------------------------------------------------------------- cases

Round = dict[str, Cost]


def pipeline_round(
    desk: Desk, peers: Peers, pages: list[str], feeds: list[str], warmup: list[str], work: Path
) -> Round:
    """One round of case 1, each tool on fresh state."""
    urls = work / "urls.txt"
    urls.write_text("\n".join(pages) + "\n", encoding="utf-8")
    costs: Round = {}
    for label, enrich in (("newsdesk run", "1"), ("newsdesk run, enrich off", "0")):
        data_dir = Path(tempfile.mkdtemp(dir=work)) / "data"
        # Image caching off: the pages' images are on the real hosts, and the bench stays on loopback
        # (the peers fetch no images either).
        env = desk.setup(data_dir, feeds, enrich=enrich, cache_images="0")
        costs[label] = measure(desk.command("run", "--json"), env=env, cwd=data_dir)
    # The desk: `newsdesk serve` (API, web UI and the polling service) on a fresh folder, from its start
    # until its first cycle has run every stage over the same pages, then stopped with SIGTERM.
    data_dir = Path(tempfile.mkdtemp(dir=work)) / "data"
    env = desk.setup(data_dir, feeds, enrich="1", cache_images="0", api_port=str(free_port()))
    costs["newsdesk serve, first cycle"] = measure(
        desk.command("serve"), env=env, cwd=data_dir, stop_when=first_run_finished(data_dir)
    )
    costs["newsdesk serve, pages into the running desk"] = running_desk(desk, feeds, warmup, work)
    if peers.python is not None and "trafilatura" in peers.have:
        config = trafilatura_config(peers.python, work)
        command = [str(VENV / "bin" / "trafilatura"), "-i", str(urls), "--parallel", "2",
                   "--config-file", str(config), "-o", tempfile.mkdtemp(dir=work)]  # fmt: skip
        costs["trafilatura CLI"] = measure(command, cwd=work)
    if peers.python is not None and "newspaper4k" in peers.have:
        costs["newspaper4k"] = measure([str(peers.python), "-c", NEWSPAPER, str(urls)], cwd=work)
    return costs


def running_desk(desk: Desk, feeds: list[str], warmup: list[str], work: Path) -> Cost:
    """What the pages cost a desk that is already running: ``newsdesk serve`` on a fresh folder whose
    only source is a small feed of generated articles (``warmup``); once its first cycle is over (the
    models loaded, the API up), ``feeds`` are added through the API and the desk's CPU from then until
    it has polled, fetched, extracted and enriched them and stopped."""
    data_dir = Path(tempfile.mkdtemp(dir=work)) / "data"
    token, port = data_dir.parent / "token", free_port()
    env = desk.setup(data_dir, warmup, token, enrich="1", cache_images="0", api_port=str(port))
    return measure(
        desk.command("serve"), env=env, cwd=data_dir, ready=first_run_finished(data_dir),
        act=lambda: add_sources(port, token.read_text(encoding="utf-8"), feeds),
        stop_when=desk_caught_up(data_dir),
    )  # fmt: skip


@dataclass(frozen=True)
class Poller:
    """One feed reader set up on fresh state: its poll command, and what makes every feed due again."""

    command: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    make_due: Callable[[], None] = lambda: None

    def poll(self) -> Cost:
        return measure(self.command, env=self.env, cwd=self.cwd)


def feeds_round(desk: Desk, peers: Peers, site: Site, feeds: list[str], work: Path) -> Round:
    """One round of case 2: for each tool, first poll and second poll with validators on fresh state;
    then a second poll without validators on another fresh state (its first poll not measured)."""
    costs: Round = {}
    for validators in (True, False):
        site.validators = validators
        for name, poller in pollers(desk, peers, feeds, Path(tempfile.mkdtemp(dir=work))).items():
            first = poller.poll()
            if validators:
                costs[f"{name}: first poll"] = first
            poller.make_due()
            costs[f"{name}: second poll, {'304' if validators else 'no validators'}"] = poller.poll()
    site.validators = True
    return costs


def pollers(desk: Desk, peers: Peers, feeds: list[str], work: Path) -> dict[str, Poller]:
    """Each available feed reader subscribed to ``feeds`` on fresh state (set up here, not measured)."""
    data_dir = work / "newsdesk"
    env = desk.setup(data_dir, feeds, fetch_pages="0", enrich="0", encrypt="0")
    found = {"newsdesk": Poller(desk.command("run", "--json"), env, data_dir, lambda: make_due(data_dir))}
    listing = work / "feeds.txt"
    listing.write_text("\n".join(feeds) + "\n", encoding="utf-8")
    if peers.python is not None and "reader" in peers.have:
        db = str(work / "reader.sqlite")
        subprocess.run([str(peers.python), "-c", READER_SETUP, db, str(listing)], check=True)
        found["reader"] = Poller([str(peers.python), "-c", READER_UPDATE, db])
    if "newsboat" in peers.have:
        config = work / "newsboat.conf"
        config.write_text("", encoding="utf-8")
        found["newsboat"] = Poller(["newsboat", "-x", "reload", "-u", str(listing), "-c",
                                    str(work / "newsboat.db"), "-C", str(config), "-q"])  # fmt: skip
    return found


def many_round(desk: Desk, feeds: list[str], work: Path) -> Round:
    """Case 4: every generated article through the whole pipeline in one cold run."""
    data_dir = Path(tempfile.mkdtemp(dir=work)) / "data"
    env = desk.setup(data_dir, feeds, cache_images="0")
    return {"newsdesk run, generated articles": measure(desk.command("run", "--json"), env=env, cwd=data_dir)}


def export_round(desk: Desk, data_dir: Path, work: Path) -> Round:
    """Case 3 on a store that holds the feed case's articles: a full export, then nothing changed."""
    env = desk.env(data_dir, fetch_pages="0", enrich="0", encrypt="0")
    folder = Path(tempfile.mkdtemp(dir=work)) / "records"
    full = measure(desk.command("export", str(folder), "--json"), env=env, cwd=data_dir)
    again = measure(desk.command("export", str(folder), "--json"), env=env, cwd=data_dir)
    return {"newsdesk export, full": full, "newsdesk export, nothing changed": again}


# ------------------------------------------------------------------------------------------ report

# The goals, as (ours, the peer's, the most ours may cost in multiples of the peer's CPU).
GOALS = (
    ("newsdesk run", "trafilatura CLI", 2.5),
    ("newsdesk serve, first cycle", "trafilatura CLI", 2.5),
    ("newsdesk serve, pages into the running desk", "trafilatura CLI", 2.5),
    ("newsdesk: first poll", "reader: first poll", 1.0),
    ("newsdesk: second poll, 304", "reader: second poll, 304", 1.0),
    ("newsdesk: second poll, no validators", "reader: second poll, no validators", 1.0),
    ("newsdesk export, nothing changed", "newsdesk export, full", 0.05),
)
MEMORY_GOAL_MB = 400  # issue 14, goal 1: the whole pipeline's peak summed over processes


def report(rounds: Sequence[Round]) -> None:
    names = list(dict.fromkeys(name for r in rounds for name in r))
    print(f"\n{'work':<44} {'CPU s':>7} {'wall s':>7} {'RSS sum MB':>11} {'largest MB':>11}")
    for name in names:
        costs = [r[name] for r in rounds if name in r]
        cpu, wall, rss_sum, rss_max = (
            statistics.median(values) for values in zip(*map(astuple, costs), strict=True)
        )
        print(f"{name:<44} {cpu:>7.2f} {wall:>7.2f} {rss_sum:>11.0f} {rss_max:>11.0f}")
    print(f"\n{'ratio (median of per-round CPU ratios)':<64} {'ratio':>7} {'goal':>6}")
    for ours, theirs, goal in GOALS:
        ratios = [r[ours].cpu_s / r[theirs].cpu_s for r in rounds if ours in r and theirs in r]
        if ratios:
            ratio = statistics.median(ratios)
            verdict = "met" if ratio <= goal else "MISSED"
            each = ", ".join(f"{r:.2f}" for r in ratios)  # the spread a median hides
            print(f"{ours + ' / ' + theirs:<64} {ratio:>7.2f} {goal:>6.2f}  {verdict}  (rounds: {each})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cases", default="pipeline,feeds,export")
    parser.add_argument("--newsdesk-tree", type=Path, default=ROOT, help="the newsdesk checkout to run")
    parser.add_argument("--feeds", type=int, default=FEEDS, help="feeds in case 2 (fewer for a smoke test)")
    parser.add_argument("--articles", type=int, default=GENERATED, help="generated articles in case 4")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    become_subreaper()
    peers = install_peers()
    desk = Desk(args.newsdesk_tree.resolve())
    work = Path(tempfile.mkdtemp(prefix="newsdesk-peers-"))
    site = Site()
    pages, page_feeds = serve_pages(site, args.data)
    feeds = serve_feeds(site, args.feeds)
    generated = serve_generated(site, args.articles) if "many" in cases else []
    warmup = serve_generated(site, WARMUP_ARTICLES, network="127.0.4") if "pipeline" in cases else []
    rounds: list[Round] = []
    try:
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}", flush=True)
            costs: Round = {}
            if "pipeline" in cases:
                costs |= pipeline_round(desk, peers, pages, page_feeds, warmup, work)
            if cases & {"feeds", "export"}:
                feed_work = Path(tempfile.mkdtemp(dir=work))
                costs |= feeds_round(desk, peers, site, feeds, feed_work)
                if "export" in cases:
                    store = max(feed_work.glob("*/newsdesk"), key=lambda p: p.stat().st_mtime)
                    costs |= export_round(desk, store, work)
            if "many" in cases:
                costs |= many_round(desk, generated, work)
            rounds.append(costs)
    finally:
        site.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(rounds)
    if "many" in cases:
        cpu = statistics.median(r["newsdesk run, generated articles"].cpu_s for r in rounds)
        print(f"\n{args.articles:,} generated articles: {1000 * cpu / args.articles:.1f} CPU-ms per article")
    for name, why in peers.skipped.items():
        print(f"skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
