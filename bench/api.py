"""API and UI throughput and latency over a 100k-article store, SQLite or PostgreSQL, on loopback (issue
14, goal 4).

What it does:

1. seeds ``--articles`` articles into a temporary SQLite store — titles and excerpts from AG News
   (``<data>/ag_news/test.csv``, cycled; synthetic text when absent), written through the store's own
   tables in one transaction (the FTS5 triggers index them as in production); with ``--database-url``
   into a scratch PostgreSQL database instead, made for the run and dropped after it (the store's
   migrations make its full-text index, filled as the rows go in; then the id sequence is moved past
   the seeded ids and the tables analysed — ``bench/api_pg.py``);
2. starts the server over that store in a subprocess: ``newsdesk.api.serve`` with ``--workers``
   processes (the product's ``serve --no-poll --workers N``);
3. drives it with ``wrk`` (Debian's package; a separate C process, its CPU is not the server's) at
   ``--clients`` connections for ``--seconds``, each request a path drawn at random from a mix of
   anonymous readers' requests: the front page, article lists (plain and filtered), single articles and
   text search, each as an API call and as a UI page (:func:`mix`), after a warm-up of the same length
   as the caches fill in production;
4. does it twice: on an idle store, then while a writer process saves ``--ingest-rate`` new articles a
   second through the store (the desk's save path: every save moves the change stamp, so every cached
   answer goes stale that often; the fetching, extraction and enrichment CPU of a real desk is not in
   it — see docs/benchmarks.md);
   With ``--desk`` the server is the product's own ``newsdesk serve`` with its desk, and the second
   phase has it ingest loopback feeds that gain ``--ingest-rate`` articles a second: fetching,
   extraction and enrichment included (``bench/api_desk.py``);
5. prints requests/s, p50/p95/p99 latency and errors per phase, the server's CPU seconds (summed over
   its process tree, psutil) per request, on PostgreSQL also the database server's (its processes
   for the database, and the backends it reaped: it runs on the same cores), and the load average.

Usage::

    .venv/bin/python bench/api.py                    # 100k articles, 2 workers, 16 clients, 20 s a phase
    .venv/bin/python bench/api.py --articles 10000 --seconds 10 --workers 1
    .venv/bin/python bench/api.py --desk --store /tmp/bench-store   # beside a real desk; keeps the seed
    .venv/bin/python bench/api.py --store /tmp/bench-store \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_api   # PostgreSQL; seed kept
        # as the database bench_api_seed_100000_r<revision> (a copy of it made for each run)
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api_desk  # noqa: E402
import api_pg  # noqa: E402  (bench/api_pg.py: the PostgreSQL store's scratch database and its CPU)

from newsdesk.model import Article, Provider  # noqa: E402
from newsdesk.store import Store  # noqa: E402
from newsdesk.store import rows as store_rows  # noqa: E402
from newsdesk.store import tables as t  # noqa: E402

CHUNK = 5_000  # rows per executemany: keeps the parameter lists small while amortising the round trips
TOPICS = (("AI in Finance", "AI"), ("Payments", "Fintech"), ("Markets",), ("Banking",), ("Economy",))
PROVIDERS = 40
STARTUP_TIMEOUT_S = 60.0
SEARCH_WORDS = ("oil", "stocks", "election", "google", "team", "prices", "space", "court", "bank", "music")


# --------------------------------------------------------------------------------------------- seeding


def texts(data: Path) -> list[tuple[str, str]]:
    path = data / "ag_news" / "test.csv"
    if not path.exists():
        return [
            (f"Synthetic headline {i}", f"Synthetic excerpt number {i} about markets.") for i in range(1000)
        ]
    with path.open(encoding="utf-8") as handle:
        return [(row[1].strip() or "Untitled", row[2].strip()[:200]) for row in csv.reader(handle)]


def articles(count: int, corpus: list[tuple[str, str]], offset: int = 0) -> Iterator[Article]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(offset, offset + count):
        title, excerpt = corpus[n % len(corpus)]
        domain = f"site{n % PROVIDERS}.example.com"
        yield Article(
            title=title, excerpt=excerpt, web_url=f"https://{domain}/a/{n}", original_url=f"https://{domain}/a/{n}",
            provider=Provider(f"Site {n % PROVIDERS}", domain), published_at=start + timedelta(minutes=n),
            quality=n % 101, heat=n % 50, topics=TOPICS[n % len(TOPICS)], published=n % 3 == 0,
        )  # fmt: skip


def seed(url: str, count: int, corpus: list[tuple[str, str]]) -> float:
    """Insert ``count`` articles in one transaction through the store's tables; returns seconds taken."""
    started = time.perf_counter()
    store = Store.open(url)
    batch: list[Article] = []
    with store.engine.begin() as c:
        for n, article in enumerate(articles(count, corpus), start=1):
            batch.append(article)
            if len(batch) == CHUNK or n == count:
                _insert(c, batch, first_id=n - len(batch) + 1)
                batch = []
    store.close()
    return time.perf_counter() - started


def _insert(c: object, batch: list[Article], first_id: int) -> None:
    now = datetime.now(UTC)
    values, topic_rows = [], []
    for offset, a in enumerate(batch):
        row = store_rows.article_row(a, full_text_index=False)
        row |= {"id": first_id + offset, "published": a.published, "first_seen_at": now, "updated_at": now,
                "sort_at": a.published_at, "review_state": "published" if a.published else "pending"}  # fmt: skip
        values.append(row)
        topic_rows += [
            {"article_id": first_id + offset, "topic": x, "rank": r} for r, x in enumerate(a.topics)
        ]
    c.execute(insert(t.articles), values)  # type: ignore[attr-defined]
    c.execute(insert(t.article_topics), topic_rows)  # type: ignore[attr-defined]


def prepare(data_dir: Path, args: argparse.Namespace) -> None:
    """Seed the store in ``data_dir``, or copy the one kept in ``--store`` (seeded there first when it
    holds none for this many articles): seeding 100k takes minutes, and each run must start from the
    same rows (the writer adds to them)."""
    name = f"seed-{args.articles}{'-desk' if args.desk else ''}"
    kept = args.store / f"{name}.db" if args.store else None
    extras = args.store / f"{name}-extras" if args.store else None
    if args.database_url:
        prepare_postgres(data_dir, args, extras)
        return
    if kept is not None and kept.exists():
        shutil.copyfile(kept, data_dir / "newsdesk.db")
        api_desk.keep_extras(data_dir, extras, save=False)
        print(f"copied the seeded store {kept}")
        return
    corpus = texts(args.data)
    seconds = seed(f"sqlite:///{data_dir}/newsdesk.db", args.articles, corpus)
    print(f"seeded {args.articles:,} articles in {seconds:.1f} s ({args.articles / seconds:,.0f}/s)")
    if args.desk:
        print(
            f"embedded and marked them enriched in {api_desk.embed_seeded(data_dir, corpus, args.articles):.1f} s"
        )
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / "newsdesk.db", kept)
        api_desk.keep_extras(data_dir, extras, save=True)


def prepare_postgres(data_dir: Path, args: argparse.Namespace, extras: Path | None) -> None:
    """:func:`prepare` on PostgreSQL: the scratch database made afresh, seeded, or copied from the
    seeded one kept (with ``--store``) as ``<name>_seed_<N>`` (bench/api_pg.py)."""
    url, name = args.database_url, api_pg.database_name(args.database_url)
    kept = (
        api_pg.kept_seed(url, f"{name}_seed_{args.articles}{'_desk' if args.desk else ''}")
        if args.store
        else None
    )
    if kept is not None and api_pg.exists(url, kept):
        api_pg.create(url, name, template=kept)
        api_desk.keep_extras(data_dir, extras, save=False)
        print(f"copied the seeded database {kept}")
        return
    api_pg.create(url, name)
    corpus = texts(args.data)
    seconds = seed(url, args.articles, corpus)
    api_pg.after_seed(url)
    print(f"seeded {args.articles:,} articles in {seconds:.1f} s ({args.articles / seconds:,.0f}/s)")
    if args.desk:
        print(
            f"embedded and marked them enriched in {api_desk.embed_seeded(data_dir, corpus, args.articles):.1f} s"
        )
        api_pg.after_seed(url)
    if kept is not None:
        api_pg.create(url, kept, template=name)
        api_desk.keep_extras(data_dir, extras, save=True)


# ---------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(data_dir: str) -> dict[str, str]:
    env = {"NEWSDESK_DATA_DIR": data_dir, "NEWSDESK_CONFIG": str(Path(data_dir) / "absent.toml"),
           "NEWSDESK_DATABASE_URL": os.environ.get("NEWSDESK_DATABASE_URL", "")}  # fmt: skip
    return env | ({"NEWSDESK_RESPONSE_CACHE": "0"} if os.environ.get("BENCH_NO_CACHE") else {})


def serve(data_dir: str, port: int, workers: int) -> None:
    """Server mode (run in the subprocess): the API and UI over the seeded store, no desk."""
    from newsdesk.api import serve as run
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings

    settings = load_settings(env=settings_env(data_dir), base_dir=Path(data_dir))
    run(Newsdesk(settings), "127.0.0.1", port, workers=workers)


def start_server(data_dir: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve", data_dir, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if api_desk.wait_until_up(f"http://127.0.0.1:{port}/api/v1/health", STARTUP_TIMEOUT_S):
        return process
    process.terminate()
    raise SystemExit("the API server did not start")


def ingest(data_dir: str, rate: float, first_id: int) -> None:
    """Writer mode (run in a subprocess until killed): ``rate`` new articles a second, each saved in its
    own transaction through the store, every third one published."""
    store = Store.open(os.environ.get("NEWSDESK_DATABASE_URL") or f"sqlite:///{data_dir}/newsdesk.db")
    corpus = texts(ROOT.parent / "shared" / "data")
    n = first_id
    started = time.monotonic()
    for done, article in enumerate(articles(10**9, corpus, offset=first_id), start=1):
        url = f"{article.web_url}?new={n}"
        store.save_article(article.replace(web_url=url, original_url=url))
        n += 1
        time.sleep(max(0.0, started + done / rate - time.monotonic()))


# ------------------------------------------------------------------------------------------------ load

LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def mix(count: int, rng: random.Random, size: int = 60_000) -> list[str]:
    """The requests of anonymous readers, by weight: lists and the front page are the most asked for;
    articles are drawn uniformly from every published one (no popularity skew: the hardest case for a
    cache; ``size`` draws reach most of them), searches from ten common words. Anonymous readers see published articles only: every
    third seeded article (id = n + 1, n % 3 == 0)."""

    def article_id() -> int:
        return 3 * rng.randrange(count // 3) + 1

    kinds = [
        (15, lambda: "/"),
        (15, lambda: "/api/v1/articles?limit=50"),
        (10, lambda: f"/api/v1/articles?limit=50&topic=Payments&min_quality={rng.randrange(0, 90, 10)}"),
        (5, lambda: "/topics/Payments"),
        (20, lambda: f"/api/v1/articles/{article_id()}"),
        (15, lambda: f"/articles/{article_id()}"),
        (10, lambda: f"/api/v1/search?q={rng.choice(SEARCH_WORDS)}&limit=20"),
        (10, lambda: f"/search?q={rng.choice(SEARCH_WORDS)}"),
    ]
    weights = [w for w, _ in kinds]
    return [rng.choices(kinds, weights)[0][1]() for _ in range(size)]


@dataclass(frozen=True)
class Phase:
    name: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_s: float
    writer_cpu_s: float  # the writer process's, or the desk's (the service's tree minus its front ends)
    load: float
    database_cpu_s: float = 0.0  # PostgreSQL's processes for this database (0 on SQLite: in-process)
    taken: tuple[int, int] | None = None  # with --desk: articles the desk took in, and enriched, meanwhile

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants, now."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def run_wrk(
    base: str, paths_file: Path, script: Path, args: argparse.Namespace
) -> tuple[int, float, int, float, float, float]:
    command = ["wrk", f"-t{args.threads}", f"-c{args.clients}", f"-d{args.seconds:g}s", "--timeout", "10s",
               "-s", str(script), base]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"BENCH_PATHS": str(paths_file)}
    )
    found = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", done.stdout)
    if not found:
        raise SystemExit(f"wrk said: {done.stdout}{done.stderr}")
    requests, micros, errors = int(found[1]), int(found[2]), int(found[3])
    return requests, micros / 1e6, errors, float(found[4]), float(found[5]), float(found[6])


CpuReading = Callable[[], tuple[float, float]]  # (server, writer or desk) CPU seconds so far


def database_cpu() -> float:
    """PostgreSQL's CPU seconds so far for the bench's database; 0 on SQLite (its CPU is the server's)."""
    url = os.environ.get("NEWSDESK_DATABASE_URL")
    return api_pg.cpu_seconds(api_pg.database_name(url)) if url else 0.0


def phase(
    name: str, base: str, files: tuple[Path, Path], cpu: CpuReading, args: argparse.Namespace,
    taken: Callable[[], tuple[int, int]] | None = None,
) -> Phase:  # fmt: skip
    run_wrk(base, *files, args)  # warm-up: the caches fill as they would in a running service
    before, had, db_before = cpu(), taken() if taken else None, database_cpu()
    requests, seconds, errors, p50, p95, p99 = run_wrk(base, *files, args)
    after, has, db_after = cpu(), taken() if taken else None, database_cpu()
    took = (has[0] - had[0], has[1] - had[1]) if has and had else None
    server_cpu, other_cpu = after[0] - before[0], after[1] - before[1]
    return Phase(
        name, requests, seconds, errors, p50, p95, p99, server_cpu, other_cpu, os.getloadavg()[0],
        database_cpu_s=db_after - db_before, taken=took,
    )  # fmt: skip


def tree_cpu(server: int, writer: int | None) -> CpuReading:
    return lambda: (cpu_seconds(server), cpu_seconds(writer) if writer else 0.0)


def table(phases: list[Phase], args: argparse.Namespace) -> str:
    lines = [
        f"API + UI benchmark: {args.articles:,} articles ({'PostgreSQL' if args.database_url else 'SQLite'}), "
        f"{args.workers} server processes, "
        f"response cache {'off' if args.no_cache else 'on'}, wrk "
        f"{args.clients} connections / {args.threads} threads, {args.seconds:g} s a phase (after as long a warm-up)",
        f"{'phase':<28}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'srv CPU ms/req':>16}"
        f"{'PG CPU ms/req':>15}{'load':>7}",
    ]
    for p in phases:
        per = 1000 * p.server_cpu_s / p.requests if p.requests else float("nan")
        db = f"{1000 * p.database_cpu_s / p.requests:.2f}" if args.database_url and p.requests else "-"
        lines.append(f"{p.name:<28}{p.rate:>9.1f}{p.p50_ms:>9.1f}{p.p95_ms:>9.1f}{p.p99_ms:>9.1f}{p.errors:>8}"
                     f"{per:>16.2f}{db:>15}{p.load:>7.1f}")  # fmt: skip
        if p.taken is not None:
            lines.append(f"{'':<28}desk: {p.writer_cpu_s / p.seconds:.2f} CPU-s/s, took in {p.taken[0]} "
                         f"articles ({p.taken[0] / p.seconds:.1f}/s), enriched {p.taken[1]}")  # fmt: skip
        elif p.writer_cpu_s:
            lines.append(
                f"{'':<28}writer: {p.writer_cpu_s / p.seconds:.2f} CPU-s/s ({args.ingest_rate:g} articles/s)"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="server processes (serve --workers)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--ingest-rate", type=float, default=5.0, help="articles/s saved in the second phase")
    parser.add_argument(
        "--no-cache", action="store_true", help="response cache off (the request path before it)"
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the seeded database here and reuse it on later runs (copied for each run)",
    )
    parser.add_argument(
        "--desk",
        action="store_true",
        help="run `newsdesk serve` with its desk ingesting loopback feeds (bench/api_desk.py) instead of "
        "the server and a writer process",
    )
    parser.add_argument("--newsdesk-tree", type=Path, help="with --desk: serve this checkout's newsdesk")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL store instead of SQLite: the URL of a scratch database, dropped and created for "
        "the run (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench_api; bench/api_pg.py)",
    )
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--ingest", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    if args.ingest:
        ingest(args.ingest, args.ingest_rate, args.articles + 1)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark drives the server with wrk: apt install wrk")
    if args.no_cache:
        os.environ["BENCH_NO_CACHE"] = "1"  # read by the server subprocess (settings_env)
    if args.database_url:
        api_pg.database_name(args.database_url)  # refuses a database the bench did not make
        os.environ["NEWSDESK_DATABASE_URL"] = args.database_url  # the server's, writer's and desk's store
    with tempfile.TemporaryDirectory(prefix="newsdesk-bench-api-") as data_dir:
        try:
            prepare(Path(data_dir), args)
            paths, script = Path(data_dir) / "paths.txt", Path(data_dir) / "mix.lua"
            paths.write_text("\n".join(mix(args.articles, random.Random(14))) + "\n")
            script.write_text(LUA)
            run = with_desk if args.desk else with_writer
            print(table(run(Path(data_dir), (paths, script), args), args))
        finally:  # the scratch database goes with the data directory (a kept seed stays)
            if args.database_url and not os.environ.get("BENCH_KEEP_DATABASE"):
                api_pg.drop(args.database_url, api_pg.database_name(args.database_url))


def with_writer(data_dir: Path, files: tuple[Path, Path], args: argparse.Namespace) -> list[Phase]:
    """The server alone, then beside the writer process."""
    port = free_port()
    server = start_server(str(data_dir), port, args.workers)
    base = f"http://127.0.0.1:{port}"
    phases = []
    try:
        phases.append(phase("idle store", base, files, tree_cpu(server.pid, None), args))
        command = [sys.executable, __file__, "--ingest", str(data_dir), "--articles", str(args.articles)]
        writer = subprocess.Popen([*command, "--ingest-rate", str(args.ingest_rate)])
        try:
            phases.append(phase("while ingesting", base, files, tree_cpu(server.pid, writer.pid), args))
        finally:
            writer.terminate()
            writer.wait(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return phases


def with_desk(data_dir: Path, files: tuple[Path, Path], args: argparse.Namespace) -> list[Phase]:
    """``newsdesk serve`` with its desk (bench/api_desk.py): polling feeds that do not change, then
    feeds gaining ``--ingest-rate`` articles a second."""
    feeds = api_desk.GrowingFeeds()
    api_desk.add_sources(data_dir, feeds.urls())
    port = free_port()
    service = api_desk.start_service(data_dir, port, args)
    base = f"http://127.0.0.1:{port}"
    cpu = lambda: api_desk.split_cpu(service.pid)  # noqa: E731
    taken = lambda: api_desk.taken_in(data_dir, args.articles)  # noqa: E731
    phases = []
    try:
        phases.append(phase("desk polling, no news", base, files, cpu, args, taken))
        feeds.grow(args.ingest_rate)
        phases.append(phase("while the desk ingests", base, files, cpu, args, taken))
    finally:
        feeds.stop()
        api_desk.stop_service(service)
    return phases


if __name__ == "__main__":
    main()
