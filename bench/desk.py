"""Benchmark: the desk (``newsdesk serve``'s polling service) beside lemon24/reader on the same feeds.

One loopback HTTP server in this process serves N feeds (3 items each). newsdesk reaches feed i as
``http://f<i>.desk.example/f<i>.xml`` — N virtual host names dialled on the one loopback port through
the fetcher's ``resolve`` map, as the demo does — and reader, which has no such map, as
``http://127.0.0.1:<port>/f<i>.xml``: the same bytes. The service runs as a subprocess built the way
``newsdesk serve`` builds it (Newsdesk facade + Desk thread + the API under uvicorn); CPU is summed over
its process tree (psutil: the service and its extraction pool). Phases:

1. first cycle over N feeds: wall time, errors by kind (timeouts), the worst lag of the desk's event
   loop (where the polls run) and of the API server's;
2. CPU per cycle over the N unchanged feeds, with validators (ETag/Last-Modified → 304) and without
   (the server drops its validators and answers 200 with the same feed): every source is made due in
   the store and the desk woken by its own 2-s check; the cycle ends when ``/metrics`` counts N polls;
3. the same two cycles for reader (``update_feeds()`` in its own venv under ``bench/out/``, installed
   from PyPI by this script), CPU of its process;
4. latency from a new feed item to the API and to the records folder (p95), over sources polled every
   ``--latency-interval`` seconds;
5. timeouts and loop lag of a first cycle over ``--big`` feeds (default 5,000);
6. idle service memory (RSS summed over the process tree) over a store seeded with ``--articles``
   articles (bench/api.py's bulk seed), live records off (a first export of 100k files is its own job).

Settings for the service: enrichment, sealing, image caching and page fetching off (this measures the
polling machinery, as reader's ``update_feeds`` does nothing more), robots.txt off (reader reads none),
politeness delay 0.

Usage: ``.venv/bin/python bench/desk.py [--feeds 500] [--big 5000] [--articles 100000] [--skip-reader]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsdesk.model import now  # noqa: E402

OUT = ROOT / "bench" / "out"
READER_VERSION = "3.20"  # lemon24/reader, pinned so figures compare across runs
HOST_SUFFIX = "desk.example"
ITEMS_PER_FEED = 3
START_TIMEOUT_S = 120.0
CYCLE_TIMEOUT_S = 900.0
LATENCY_SAMPLES = 20
READER_GOAL_CPU_S = 1.8  # issue 13: reader over 500 feeds with validators, measured on these machines


# ---------------------------------------------------------------------------------------- the feeds


@dataclass
class Feeds:
    """The feeds' state, shared with the server threads: extra items per feed, validators on/off."""

    count: int
    validators: bool = True
    extra: dict[int, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: str = field(default_factory=lambda: format_datetime(now(), usegmt=True))

    def add(self, index: int, token: str) -> None:
        with self.lock:
            self.extra.setdefault(index, []).append(token)

    def body(self, index: int) -> bytes:
        with self.lock:
            extra = list(self.extra.get(index, ()))
        items = [f"base-{index}-{n}" for n in range(ITEMS_PER_FEED)] + extra
        entries = "".join(
            f"<item><title>Item {token}</title><link>http://f{index}.{HOST_SUFFIX}/a/{token}</link>"
            f"<guid>http://f{index}.{HOST_SUFFIX}/a/{token}</guid><pubDate>{self.started}</pubDate>"
            f"<description>Report {token} in brief.</description></item>"
            for token in reversed(items)
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {index}</title>'
            f"<link>http://f{index}.{HOST_SUFFIX}/</link>{entries}</channel></rss>"
        ).encode()


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        feeds: Feeds = self.server.feeds  # type: ignore[attr-defined]
        name = self.path.rsplit("/", 1)[-1]
        if not (name.startswith("f") and name.endswith(".xml") and name[1:-4].isdigit()):
            self._send(404, b"", {})
            return
        body = feeds.body(int(name[1:-4]))
        headers = {"Content-Type": "application/rss+xml"}
        if feeds.validators:
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            headers |= {"ETag": etag, "Last-Modified": feeds.started}
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", headers)
                return
        self._send(200, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_feeds(count: int) -> tuple[ThreadingHTTPServer, Feeds]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    feeds = Feeds(count)
    server.feeds = feeds  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, feeds


# ------------------------------------------------------------------------------------- the service


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
            "NEWSDESK_DATA_DIR": str(data_dir),
            "NEWSDESK_RECORDS_DIR": str(data_dir / "records"),
            "NEWSDESK_ENRICH": "0",
            "NEWSDESK_ENCRYPT": "0",
            "NEWSDESK_CACHE_IMAGES": "0",
            "NEWSDESK_FETCH_PAGES": "0",
            "NEWSDESK_RESPECT_ROBOTS": "0",
            "NEWSDESK_PER_HOST_DELAY": "0",
            "NEWSDESK_POLL_MIN_INTERVAL": "3600",  # nothing polls by itself: the bench makes sources due
            "NEWSDESK_POLL_MAX_INTERVAL": "3600",
            "PYTHONPATH": str(ROOT),
        }
        | extra
    )


CYCLES_FILE = "cycles.jsonl"  # in the service's data folder: the process CPU at each cycle's start and end


def run_service(data_dir: str, port: int, resolve_json: str) -> None:
    """Service mode (the subprocess): what ``newsdesk serve`` runs, with the bench's resolve map, and
    each poll cycle's own CPU written down (:func:`_timed_desk`)."""
    from newsdesk.api.app import serve
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings
    from newsdesk.desk import targets_from

    settings = load_settings(env=dict(os.environ), base_dir=Path(data_dir))
    with Newsdesk(settings, resolve=json.loads(Path(resolve_json).read_text())) as nd:
        serve(nd, "127.0.0.1", port, desk=_timed_desk(nd, targets_from(nd), Path(data_dir) / CYCLES_FILE))


def _timed_desk(nd: Any, targets: Any, record: Path) -> Any:
    """The desk, with each cycle (poll → the later stages, before the outputs are rewritten) bracketed
    by the process's CPU time, appended to ``record``. The bench's tree CPU is read once a second, so
    it also counts up to a second of the records export that follows a first cycle (work reader does
    not do); the bracket is the cycle alone, and the export is reported beside it."""
    from newsdesk.desk import Desk

    class TimedDesk(Desk):
        def _cycle(self, due: Any) -> None:
            start = _process_cpu()
            super()._cycle(due)
            with record.open("a") as out:
                out.write(json.dumps({"start": start, "end": _process_cpu(), "sources": len(due)}) + "\n")

    return TimedDesk(nd, targets)


def _process_cpu() -> float:
    """User + system CPU of this process, every thread: what psutil reads for it from outside."""
    times = os.times()
    return times.user + times.system


@dataclass
class Service:
    process: psutil.Popen
    api: httpx.Client
    data_dir: Path

    def cpu_s(self) -> float:
        """User + system CPU of the service and every process under it."""
        total = 0.0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_mb(self) -> float:
        procs = [self.process, *self.process.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs if p.is_running()) / 1e6

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.api.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def last_cycle(self) -> dict[str, float]:
        """The service's record of its last cycle (:func:`_timed_desk`)."""
        lines = (self.data_dir / CYCLES_FILE).read_text().splitlines()
        return dict(json.loads(lines[-1]))

    def stop(self) -> None:
        self.api.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(90)
        except psutil.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(data_dir: Path, feeds_port: int, hosts: int, **env: str) -> Service:
    resolve = {f"f{i}.{HOST_SUFFIX}": f"127.0.0.1:{feeds_port}" for i in range(hosts)}
    port = free_port()
    log = (data_dir / "service.log").open("ab")
    command = [sys.executable, __file__, "--service", str(data_dir), "--port", str(port)]
    resolve_file = data_dir / "resolve.json"  # 5,000 host names do not fit on a command line
    resolve_file.write_text(json.dumps(resolve))
    process = psutil.Popen(
        [*command, "--resolve", str(resolve_file)],
        env=service_env(data_dir, **env),
        stdout=log,
        stderr=log,
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if api.get("/readyz").status_code == 200:
                return Service(process, api, data_dir)
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the service did not start; see {data_dir / 'service.log'}")


def add_sources(data_dir: Path, count: int) -> None:
    """Register the feeds (through the facade, before the service starts)."""
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings
    from newsdesk.model import Source

    settings = load_settings(env=service_env(data_dir), base_dir=data_dir)
    with Newsdesk(settings) as nd:
        nd.init()
        for i in range(count):
            nd.store.add_source(Source(url=f"http://f{i}.{HOST_SUFFIX}/f{i}.xml", allow_loopback=True))


def make_all_due(data_dir: Path) -> None:
    from sqlalchemy import create_engine, update

    from newsdesk.store import tables as t

    engine = create_engine(f"sqlite:///{data_dir / 'newsdesk.db'}", connect_args={"timeout": 30})
    with engine.begin() as c:
        c.execute(update(t.sources).values(next_poll_at=None))
    engine.dispose()


# Each scrape is a request the service's API answers, counted in its CPU: at every 0.25 s they were
# ≈ 10 % of a 304 cycle's samples (py-spy), a cost of the measurement that reader does not pay.
SCRAPE_EVERY_S = 1.0
LAGS = ("newsdesk_desk_loop_lag_seconds", "newsdesk_event_loop_lag_seconds")  # the desk's loop, the API's


def wait_polls(service: Service, target: float) -> dict[str, float]:
    """Wait until ``target`` polls are counted; the worst lag of each loop meanwhile (a scrape takes
    the worst since the last one, so the worst of the cycle is the worst over every scrape)."""
    worst = dict.fromkeys(LAGS, 0.0)
    deadline = time.monotonic() + CYCLE_TIMEOUT_S
    while time.monotonic() < deadline:
        metrics = service.metrics()
        worst = {name: max(worst[name], metrics.get(name, 0.0)) for name in LAGS}
        if metrics.get("newsdesk_polls_total", 0) >= target:  # counted when a cycle ends
            return worst
        time.sleep(SCRAPE_EVERY_S)
    raise SystemExit("a cycle did not finish in time")


@dataclass
class Cycle:
    wall_s: float
    cpu_s: float  # the service's tree, from the cycle's start to the scrape that saw it end
    errors: dict[str, float]
    lag_s: float  # the desk's loop, where the polls run
    api_lag_s: float
    own_cpu_s: float = 0.0  # the cycle alone, as the service bracketed it
    after_cpu_s: float = 0.0  # from the cycle's end until the service idles (the records export)


def settle(service: Service, quiet_cpu_s: float = 0.03, timeout_s: float = 120.0) -> None:
    """Wait until the service idles (under ``quiet_cpu_s`` CPU in a second): the records export that
    follows a cycle which stored articles must not be counted in the next cycle's CPU."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cpu = service.cpu_s()
        time.sleep(1.0)
        if service.cpu_s() - cpu < quiet_cpu_s:
            return


def timed_cycle(service: Service, feeds: int, *, first: bool = False) -> Cycle:
    if not first:
        settle(service)
    before = service.metrics()
    polls = before.get("newsdesk_polls_total", 0)
    cpu, started = service.cpu_s(), time.perf_counter()
    if not first:
        make_all_due(service.data_dir)
    lags = wait_polls(service, polls + feeds)
    wall, used = time.perf_counter() - started, service.cpu_s() - cpu
    after = service.metrics()
    errors = {
        k.split('"')[1]: v - before.get(k, 0)
        for k, v in after.items()
        if k.startswith("newsdesk_errors_total{") and v - before.get(k, 0)
    }
    cycle = Cycle(wall, used, errors, *(max(lags[name], after.get(name, 0.0)) for name in LAGS))
    settle(service)  # the records export after a cycle that stored articles; the cycle's record is written
    own = service.last_cycle()
    cycle.own_cpu_s = own["end"] - own["start"]
    cycle.after_cpu_s = service.cpu_s() - own["end"]
    return cycle


def _lags(cycle: Cycle) -> str:
    return f"loop lag (worst): desk {cycle.lag_s * 1000:.0f} ms, API {cycle.api_lag_s * 1000:.0f} ms"


def _own(cycle: Cycle) -> str:
    return f"the cycle alone {cycle.own_cpu_s:.2f} CPU-s, then {cycle.after_cpu_s:.2f} CPU-s until idle (outputs)"


# --------------------------------------------------------------------------------------- latency


def latency(service: Service, feeds: Feeds, interval_s: float) -> tuple[list[float], list[float]]:
    """Add one item to each of LATENCY_SAMPLES feeds polled every ``interval_s``; time its arrival."""
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings

    settings = load_settings(env=service_env(service.data_dir), base_dir=service.data_dir)
    with Newsdesk(settings) as nd:
        _, secret = nd.tokens.create("bench-reader", "read")  # anonymous readers see published only
        service.api.headers["Authorization"] = f"Bearer {secret}"
        for source in nd.sources.list()[:LATENCY_SAMPLES]:
            assert source.id is not None
            nd.store.update_source(source.id, _with_interval(source, interval_s))
            nd.store.poll_soon(source.id, now())
    time.sleep(interval_s + 3)  # the sampled sources are on their new rhythm
    to_api: list[float] = []
    to_file: list[float] = []
    records = service.data_dir / "records"
    for n in range(LATENCY_SAMPLES):
        token = f"late{n}x{int(time.time())}"
        feeds.add(n, token)
        added = time.perf_counter()
        api_at = file_at = None
        while (api_at is None or file_at is None) and time.perf_counter() - added < 4 * interval_s + 60:
            if api_at is None and service.api.get("/api/v1/search", params={"q": token}).json()["items"]:
                api_at = time.perf_counter() - added
            if file_at is None and _written(records, token):
                file_at = time.perf_counter() - added
            time.sleep(0.1)
        to_api.append(api_at if api_at is not None else float("inf"))
        to_file.append(file_at if file_at is not None else float("inf"))
        time.sleep(interval_s / 7)  # spread the additions over the poll rhythm
    return to_api, to_file


def _written(records: Path, token: str) -> bool:
    """Whether a record file naming ``token`` is in the folder. The export renames its staging folder
    away while the walk may be inside it: a folder gone mid-walk means "look again next time"."""
    try:
        return any(token in p.name for p in records.rglob(f"*{token}*.md"))
    except FileNotFoundError:
        return False


def _with_interval(source: Any, interval_s: float) -> Any:
    from dataclasses import replace

    return replace(source, poll_min_s=interval_s, poll_max_s=interval_s)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------------- reader

READER_SCRIPT = r"""
import json, resource, sys, time
from reader import make_reader
db, urls, label = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
reader = make_reader(db)
if label == "first":
    for url in urls:
        reader.add_feed(url, exist_ok=True)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
before, started = cpu(), time.perf_counter()
reader.update_feeds()
print(json.dumps({"cpu_s": cpu() - before, "wall_s": time.perf_counter() - started,
                  "entries": reader.get_entry_counts().total}))
"""


def reader_python() -> Path:
    env_dir = OUT / f"reader-{READER_VERSION}-venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=True)
        # reader's vendored feedparser imports sgmllib, which Python 3 only has from this package
        packages = [f"reader=={READER_VERSION}", "sgmllib3k==1.0.0"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def reader_cycle(python: Path, db: Path, urls: list[str], label: str) -> dict[str, float]:
    """One ``update_feeds()`` in a fresh reader process; CPU of that call only (not the imports)."""
    done = subprocess.run(
        [str(python), "-c", READER_SCRIPT, str(db), json.dumps(urls), label],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------ memory


def seed_articles(data_dir: Path, count: int, data: Path) -> float:
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
    assert spec is not None and spec.loader is not None
    api_bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_api"] = api_bench  # its dataclasses look their module up while being made
    spec.loader.exec_module(api_bench)
    seconds: float = api_bench.seed(f"sqlite:///{data_dir / 'newsdesk.db'}", count, api_bench.texts(data))
    return seconds


# -------------------------------------------------------------------------------------------- main


def phase(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--big", type=int, default=5000, help="feeds for the second timeout check (0 = skip)")
    parser.add_argument("--articles", type=int, default=100_000, help="stored articles for the memory phase")
    parser.add_argument("--latency-interval", type=float, default=10.0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--skip-reader", action="store_true")
    parser.add_argument("--skip-latency", action="store_true", help="leave out phase 4 (it takes minutes)")
    parser.add_argument("--service", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--resolve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.service:
        run_service(args.service, args.port, args.resolve)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    server, feeds = start_feeds(max(args.feeds, args.big))
    port = server.server_address[1]
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        bench(args, Path(tmp), feeds, int(port))
    server.shutdown()


def bench(args: argparse.Namespace, tmp: Path, feeds: Feeds, port: int) -> None:
    n = args.feeds
    if n:
        compare(args, tmp, feeds, port)
    if args.big:
        big_cycle(args, tmp, port)
    if args.articles:
        memory(args, tmp, port)


def compare(args: argparse.Namespace, tmp: Path, feeds: Feeds, port: int) -> None:
    n = args.feeds
    phase(f"newsdesk desk: {n} feeds on {n} loopback host names")
    data = tmp / "desk"
    data.mkdir()
    add_sources(data, n)
    service = start_service(data, port, n)
    try:
        first = timed_cycle(service, n, first=True)
        print(f"first cycle: {first.wall_s:.1f} s wall, {first.cpu_s:.2f} CPU-s, errors {first.errors or 0}, "
              f"{_lags(first)}; {_own(first)}")  # fmt: skip
        with_validators = timed_cycle(service, n)
        feeds.validators = False
        without = timed_cycle(service, n)
        feeds.validators = True
        print(f"unchanged cycle, validators (304): {with_validators.cpu_s:.2f} CPU-s, {with_validators.wall_s:.1f} s, "
              f"errors {with_validators.errors or 0}, {_lags(with_validators)}; {_own(with_validators)}")  # fmt: skip
        print(f"unchanged cycle, no validators (200): {without.cpu_s:.2f} CPU-s, {without.wall_s:.1f} s, "
              f"errors {without.errors or 0}, {_lags(without)}; {_own(without)}")  # fmt: skip
        idle_cpu = service.cpu_s()
        time.sleep(10)
        print(f"idle: {(service.cpu_s() - idle_cpu) / 10 * 100:.1f}% of a core; RSS {service.rss_mb():.0f} MB "
              f"over {1 + len(service.process.children(recursive=True))} processes")  # fmt: skip
        if not args.skip_latency:
            latency_phase(service, feeds, args.latency_interval)
    finally:
        service.stop()
    if not args.skip_reader:
        phase(f"lemon24/reader {READER_VERSION}: update_feeds() over the same {n} feeds (127.0.0.1:{port})")
        python = reader_python()
        urls = [f"http://127.0.0.1:{port}/f{i}.xml" for i in range(n)]
        db = tmp / "reader.sqlite"
        got = reader_cycle(python, db, urls, "first")
        print(f"first update: {got['cpu_s']:.2f} CPU-s, {got['wall_s']:.1f} s, {got['entries']:.0f} entries")
        got = reader_cycle(python, db, urls, "again")
        print(f"unchanged, validators (304): {got['cpu_s']:.2f} CPU-s, {got['wall_s']:.1f} s "
              f"(issue 13 measured ≈ {READER_GOAL_CPU_S})")  # fmt: skip
        feeds.validators = False
        got = reader_cycle(python, db, urls, "again")
        feeds.validators = True
        print(f"unchanged, no validators (200): {got['cpu_s']:.2f} CPU-s, {got['wall_s']:.1f} s")


def latency_phase(service: Service, feeds: Feeds, interval: float) -> None:
    phase(
        f"latency, new item → API / records folder ({LATENCY_SAMPLES} samples, polled every {interval:.0f} s)"
    )
    to_api, to_file = latency(service, feeds, interval)
    print(f"to the API: p50 {statistics.median(to_api):.1f} s, p95 {p95(to_api):.1f} s; "
          f"to the records folder: p50 {statistics.median(to_file):.1f} s, p95 {p95(to_file):.1f} s "
          f"(goal: p95 <= {interval:.0f} + 5 s)")  # fmt: skip


def big_cycle(args: argparse.Namespace, tmp: Path, port: int) -> None:
    if args.big:
        phase(f"newsdesk desk: first cycle over {args.big} feeds")
        big = tmp / "big"
        big.mkdir()
        add_sources(big, args.big)
        service = start_service(big, port, args.big)
        try:
            cycle = timed_cycle(service, args.big, first=True)
            print(f"{cycle.wall_s:.1f} s wall, {cycle.cpu_s:.2f} CPU-s, errors {cycle.errors or 0}, "
                  f"{_lags(cycle)}")  # fmt: skip
        finally:
            service.stop()


def memory(args: argparse.Namespace, tmp: Path, port: int) -> None:
    if args.articles:
        phase(f"idle memory with {args.articles} stored articles (live records off)")
        mem = tmp / "mem"
        mem.mkdir()
        add_sources(mem, 10)
        print(f"seeded in {seed_articles(mem, args.articles, args.data):.1f} s")
        service = start_service(mem, port, 10, NEWSDESK_LIVE_RECORDS="0")
        try:
            timed_cycle(service, 10, first=True)
            time.sleep(10)
            print(f"idle RSS {service.rss_mb():.0f} MB over {1 + len(service.process.children(recursive=True))} "
                  f"processes (goal <= 600 MB with 100k)")  # fmt: skip
        finally:
            service.stop()


if __name__ == "__main__":
    main()
