"""Enrichment stage throughput: articles/s through ``Enricher.run``, per step, and as the store grows.

Articles: AG News test.csv (7,600 title + description rows) and the BBC set (2,225 texts, first line =
title), shuffled together with a fixed seed; past 9,825 the list starts again (the repeats behave like
syndicated copies: long BBC texts fold as near-duplicates, short AG ones do not). Each gets one of
``DOMAIN_COUNT`` fake ``.example`` providers and a publication time; times rise with the ingestion order
and span ``SPAN`` (10 days), so batch k holds the k-th slice of those days.

The run imitates successive pipeline runs: for each batch of ``--batch`` articles it saves the articles
into a temporary SQLite store (ingest, not timed as enrichment) and calls ``Enricher.run(ids)``. By
default the enrichment clock (``newsdesk.enricher.now``) is simulated: each run happens
``CLOCK_LAG`` after its newest article, as a live pipeline would, so the story look-back, the heat
window and heat decay see the same store a deployment would after 10 days. ``--wall-clock`` leaves the
real clock (publication times then end now, so the first days fall out of the 7-day story window).

Each private step of the Enricher is wrapped with a timer (wall and process CPU seconds: the machine
is shared, and CPU seconds say what a step costs when it is not waiting for a core), and so are the
store calls and pure functions inside them, attributed to the step that made them. Printed: the
per-step table, the per-run table (does any step grow with the store?), first run against last, the
heaviest calls inside the steps, and a small probe run on the full store (per-run fixed costs dominate
small runs). ``--budget`` stops starting runs once that many seconds went to them (SIGTERM / Ctrl-C
also stop it); the tables then cover the runs done.

    .venv/bin/python bench/enrich.py [--data ../shared/data] [--n 10000] [--batch 1000] [--probe 100]
                                     [--budget 900] [--wall-clock]
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import random
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import newsdesk.enricher as enricher_module  # noqa: E402
from newsdesk.config import load_settings, load_taxonomy  # noqa: E402
from newsdesk.enrich import cluster, dedupe, heat, related, topics  # noqa: E402
from newsdesk.enrich.similarity import Calibration  # noqa: E402
from newsdesk.enricher import Enricher, _OpenStories  # noqa: E402
from newsdesk.model import Article, Provider  # noqa: E402
from newsdesk.store import Store  # noqa: E402
from newsdesk.storyheat import StoryHeat  # noqa: E402

STEPS = ("_embed", "_fold_near_duplicates", "_cluster", "_topics_and_quality", "_heat", "_relate")
SHORT = {
    "_embed": "embed",
    "_fold_near_duplicates": "fold",
    "_cluster": "cluster",
    "_topics_and_quality": "topics",
    "_heat": "heat",
    "_relate": "relate",
}
OTHER = "load + mark_enriched"  # run() outside the six steps: get_articles, sorting, the enriched marks
DOMAIN_COUNT = 50  # the brief: providers spread over ~50 fake domains
SPAN = timedelta(days=10)  # the brief: published_at spread over 10 days
SIM_START = datetime(2024, 3, 1, tzinfo=UTC)
CLOCK_LAG = timedelta(minutes=5)  # a simulated run starts this long after its newest article
EXCERPT_CHARS = 200  # feed-teaser length for Article.excerpt
SEED = 20240301

# Calls timed inside the steps: (owner, attribute, label). Module functions are patched on the module
# object, which is what newsdesk.enricher looks them up on (``cluster.assign_story(...)``).
STORE_CALLS = (
    "get_articles",
    "save_embeddings",
    "load_minhashes",
    "save_minhash",
    "save_minhashes",
    "add_alternate",
    "delete_article",
    "recent_stories",
    "create_story",
    "save_stories",
    "save_articles",
    "update_story",
    "save_article",
    "list_sources",
    "story_articles",
    "get_story",
    "update_story_heat",
    "story_member_counts",
    "heat_members",
    "save_story_heat",
    "save_story_heats",
    "count_embeddings",
    "load_embeddings",
    "related_candidates",
    "set_related_many",
    "mark_enriched_many",
)
MODULE_CALLS: tuple[tuple[Any, str], ...] = (
    (dedupe, "signature"),
    (dedupe, "find_near_duplicate"),
    (dedupe.NearDuplicateIndex, "add"),
    (cluster, "assign_story"),
    (cluster, "new_story"),
    (cluster, "update_story"),
    (topics.TopicClassifier, "classify"),
    (heat, "score_heat"),
    (related, "relate"),
)
ENRICHER_HELPERS = ("_classifier", "_vector_index", "_related_meta")
STEP_METHODS = {"_heat": (StoryHeat, "rescore")}  # steps that are not the enricher's own methods


# ------------------------------------------------------------------------------------------ corpus


@dataclass(frozen=True, slots=True)
class Doc:
    title: str
    text: str


def read_ag_news(data: Path) -> list[Doc]:
    with (data / "ag_news" / "test.csv").open(encoding="utf-8", newline="") as handle:
        return [Doc(title.strip(), lead.replace("\\", " ").strip()) for _, title, lead in csv.reader(handle)]


def read_bbc(data: Path) -> list[Doc]:
    docs = []
    for path in sorted((data / "bbc").glob("*/*.txt")):
        lines = path.read_bytes().decode("utf-8", errors="replace").strip().splitlines()
        docs.append(Doc(lines[0].strip(), "\n".join(lines[1:]).strip()))
    return docs


def corpus(data: Path, count: int, rng: random.Random) -> list[Doc]:
    """``count`` docs: AG News and BBC shuffled together, cycled when ``count`` exceeds them."""
    docs = read_ag_news(data) + read_bbc(data)
    rng.shuffle(docs)
    return [docs[i % len(docs)] for i in range(count)]


def make_articles(
    docs: Sequence[Doc], start: int, total: int, origin: datetime, rng: random.Random
) -> list[Article]:
    """Articles for ``docs`` at ingestion positions ``start``…; times rise through SPAN over ``total``."""
    out = []
    for offset, doc in enumerate(docs):
        i = start + offset
        published = origin + SPAN * ((i + rng.random()) / total)
        domain = f"news{rng.randrange(DOMAIN_COUNT):02d}.example"
        url = f"https://{domain}/{published:%Y/%m/%d}/article-{i}"
        out.append(
            Article(
                title=doc.title or doc.text[:80],
                web_url=url,
                original_url=url,
                provider=Provider(domain.split(".")[0].title(), domain),
                excerpt=doc.text[:EXCERPT_CHARS],
                published_at=published,
                text=doc.text,
                first_seen_at=published,
                fetched_at=published,
                language="en",
            )
        )
    return out


# ------------------------------------------------------------------------------------------ timing


@dataclass
class Timer:
    """Seconds per step, and per (step, call) for the calls made inside a step."""

    steps: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    stack: list[str] = field(default_factory=list)
    open_stories: list[int] = field(default_factory=list)

    def step(self, label: str, fn: Callable[..., Any], *, record: bool = True) -> Callable[..., Any]:
        """Time ``fn`` as a step; calls made inside it are attributed to ``label``."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(label)
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                if record:
                    self.steps[label] += time.perf_counter() - started
                    self.cpu[label] += time.process_time() - cpu
                self.stack.pop()

        return timed

    def call(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Time ``fn`` under the current step; outside ``Enricher.run`` (ingest) it is not timed."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.stack:
                return fn(*args, **kwargs)
            key = (self.stack[-1], label)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls[key] += time.perf_counter() - started
                self.counts[key] += 1

        return timed


_INHERITED = object()


@contextmanager
def patched(patches: Sequence[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set each ``owner.name = value`` and undo it afterwards. A method ``owner`` inherits (the store's
    mixins) is shadowed on ``owner`` itself and the shadow removed again, leaving the base untouched."""
    saved = [(owner, name, owner.__dict__.get(name, _INHERITED)) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def instrumentation(timer: Timer, embedder_type: Any, clock: Callable[[], datetime] | None) -> list[Any]:
    patches: list[tuple[Any, str, Any]] = [(Enricher, "run", timer.step(OTHER, Enricher.run, record=False))]
    for n in STEPS:
        owner, name = STEP_METHODS.get(n, (Enricher, n))
        patches.append((owner, name, timer.step(n, getattr(owner, name))))
    patches += [(Enricher, n, timer.call(n.lstrip("_"), getattr(Enricher, n))) for n in ENRICHER_HELPERS]
    patches += [(Store, n, timer.call(f"store.{n}", getattr(Store, n))) for n in STORE_CALLS]
    for owner, name in MODULE_CALLS:
        prefix = owner.__name__.rsplit(".", 1)[-1]
        patches.append((owner, name, timer.call(f"{prefix}.{name}", getattr(owner, name))))
    patches.append((embedder_type, "embed", timer.call("model inference", embedder_type.embed)))
    original_open = Enricher._open_stories

    def counting_open(self: Enricher, since: datetime, calibration: Calibration) -> _OpenStories:
        found = original_open(self, since, calibration)
        timer.open_stories.append(len(found))
        return found

    patches.append((Enricher, "_open_stories", timer.call("open_stories", counting_open)))
    if clock is not None:
        patches.append((enricher_module, "now", clock))
    return patches


# ------------------------------------------------------------------------------------------ running


@dataclass(frozen=True, slots=True)
class BatchResult:
    index: int
    store_before: int
    articles: int
    folded: int
    new_stories: int
    seconds: float
    steps: dict[str, float]
    cpu: dict[str, float]  # process CPU seconds (all threads): what the step costs on an idle machine
    story_scans: int  # stories whose heat was recomputed
    open_stories: int
    load: float


@dataclass
class Clock:
    """The simulated ``now`` of the enrichment module: set before each run."""

    at: datetime = SIM_START

    def __call__(self) -> datetime:
        return self.at


def run_batch(
    enricher: Enricher, timer: Timer, articles: list[Article], index: int, clock: Clock | None
) -> tuple[BatchResult, float]:
    """Ingest ``articles`` (timed apart) and enrich them; returns the batch figures and ingest seconds."""
    store = enricher.store
    before = store.count_articles()
    started = time.perf_counter()
    ids = [store.save_article(a).id for a in articles]
    ingest = time.perf_counter() - started
    if clock is not None:
        clock.at = max(a.published_at or SIM_START for a in articles) + CLOCK_LAG
    steps_before, cpu_before = dict(timer.steps), dict(timer.cpu)
    scans_before = timer.counts[("_heat", "store.heat_members")]
    started, cpu_started = time.perf_counter(), time.process_time()
    counts = enricher.run(ids)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    steps = {s: timer.steps[s] - steps_before.get(s, 0.0) for s in STEPS}
    steps[OTHER] = seconds - sum(steps.values())
    cpu = {s: timer.cpu[s] - cpu_before.get(s, 0.0) for s in STEPS}
    cpu[OTHER] = cpu_seconds - sum(cpu.values())
    result = BatchResult(
        index=index,
        store_before=before,
        articles=len(articles),
        folded=int(counts.get("near_duplicates", 0)),
        new_stories=int(counts.get("stories_new", 0)),
        seconds=seconds,
        steps=steps,
        cpu=cpu,
        story_scans=timer.counts[("_heat", "store.heat_members")] - scans_before,
        open_stories=timer.open_stories[-1] if timer.open_stories else 0,
        load=os.getloadavg()[0],
    )
    return result, ingest


# ------------------------------------------------------------------------------------------ printing


def print_steps(results: Sequence[BatchResult]) -> None:
    articles = sum(r.articles for r in results)
    total = sum(r.seconds for r in results)
    print(f"\n## Steps ({articles} articles in {len(results)} runs)\n")
    cpu_total = sum(sum(r.cpu.values()) for r in results)
    print("| step | total s | ms / article | share | CPU s | CPU ms / article | CPU share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for step in (*STEPS, OTHER):
        seconds = sum(r.steps[step] for r in results)
        cpu = sum(r.cpu[step] for r in results)
        label = f"`{step}`" if step in STEPS else step
        print(f"| {label} | {seconds:.1f} | {1000 * seconds / articles:.2f} | {seconds / total:.1%} "
              f"| {cpu:.1f} | {1000 * cpu / articles:.2f} | {cpu / cpu_total:.1%} |")  # fmt: skip
    print(f"| **all of run()** | {total:.1f} | {1000 * total / articles:.2f} | 100% "
          f"| {cpu_total:.1f} | {1000 * cpu_total / articles:.2f} | 100% |")  # fmt: skip
    print(f"\nThroughput: **{articles / total:.1f} articles/s** through `Enricher.run` (wall clock; "
          f"{articles / cpu_total:.1f} articles per CPU-second) "
          f"({sum(r.folded for r in results)} folded as near-duplicates, "
          f"{sum(r.new_stories for r in results)} stories started).")  # fmt: skip


def print_batches(results: Sequence[BatchResult]) -> None:
    print("\n## Per run (ms per article of the run; does a step grow with the store?)\n")
    names = [SHORT[s] for s in STEPS]
    print(f"| run | store before | articles | s | CPU s | art/s | {' | '.join(names)} | other | open stories "
          "| heat stories | load avg |")  # fmt: skip
    print("|" + "---:|" * (len(names) + 10))
    for r in results:
        per = " | ".join(f"{1000 * r.steps[s] / r.articles:.1f}" for s in (*STEPS, OTHER))
        print(f"| {r.index} | {r.store_before} | {r.articles} | {r.seconds:.1f} | {sum(r.cpu.values()):.1f} "
              f"| {r.articles / r.seconds:.1f} "
              f"| {per} | {r.open_stories} | {r.story_scans} | {r.load:.1f} |")  # fmt: skip


def print_growth(results: Sequence[BatchResult]) -> None:
    full = [r for r in results if r.articles == results[0].articles]
    if len(full) < 2:
        return
    first, last = full[0], full[-1]
    print(f"\n## First run → last full run (store {first.store_before} → {last.store_before} articles)\n")
    print(
        "| step | first ms/article | last ms/article | × | first CPU ms/article | last CPU ms/article | × |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for step in (*STEPS, OTHER):
        a, b = 1000 * first.steps[step] / first.articles, 1000 * last.steps[step] / last.articles
        c, d = 1000 * first.cpu[step] / first.articles, 1000 * last.cpu[step] / last.articles
        print(f"| {SHORT.get(step, step)} | {a:.2f} | {b:.2f} | {_ratio(b, a)} | {c:.2f} | {d:.2f} "
              f"| {_ratio(d, c)} |")  # fmt: skip
    rate_a, rate_b = first.articles / first.seconds, last.articles / last.seconds
    cpu_a, cpu_b = first.articles / sum(first.cpu.values()), last.articles / sum(last.cpu.values())
    print(f"| **articles/s** (CPU: per CPU-second) | {rate_a:.1f} | {rate_b:.1f} | {rate_b / rate_a:.2f} "
          f"| {cpu_a:.1f} | {cpu_b:.1f} | {cpu_b / cpu_a:.2f} |")  # fmt: skip


def _ratio(new: float, old: float) -> str:
    return f"{new / old:.1f}" if old > 0 else "—"


def print_calls(timer: Timer, articles: int, top: int) -> None:
    print(f"\n## Heaviest calls inside the steps (top {top}, all runs)\n")
    print("| step | call | calls | total s | ms / call | ms / article | share of step |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ranked = sorted(timer.calls.items(), key=lambda item: -item[1])[:top]
    for (step, call), seconds in ranked:
        count = timer.counts[(step, call)]
        whole = timer.steps.get(step, 0.0)
        share = f"{seconds / whole:.0%}" if whole else "—"
        print(f"| {SHORT.get(step, step)} | {call} | {count} | {seconds:.1f} | {1000 * seconds / count:.2f} "
              f"| {1000 * seconds / articles:.2f} | {share} |")  # fmt: skip


def print_probe(result: BatchResult) -> None:
    print(f"\n## Probe: one run of {result.articles} articles on the full store ({result.store_before})\n")
    print("| step | s | ms / article | CPU s |")
    print("|---|---:|---:|---:|")
    for step in (*STEPS, OTHER):
        seconds = result.steps[step]
        print(f"| {SHORT.get(step, step)} | {seconds:.2f} | {1000 * seconds / result.articles:.1f} "
              f"| {result.cpu[step]:.2f} |")  # fmt: skip
    cpu = sum(result.cpu.values())
    print(f"| **all** | {result.seconds:.2f} | {1000 * result.seconds / result.articles:.1f} | {cpu:.2f} |")
    print(f"\n{result.articles / result.seconds:.1f} articles/s for a run this small.")


# ------------------------------------------------------------------------------------------ main


def progress(result: BatchResult, ingest: float) -> None:
    """One line per run on stderr, so a long run shows where it is (and survives an interrupt)."""
    steps = " ".join(
        f"{SHORT.get(s, 'other')}={1000 * result.steps[s] / result.articles:.1f}" for s in (*STEPS, OTHER)
    )
    print(f"run {result.index}: store {result.store_before}, {result.articles} articles in {result.seconds:.1f} s "
          f"(CPU {sum(result.cpu.values()):.1f} s, ingest {ingest:.1f} s, load {result.load:.1f}); ms/article "
          f"{steps}; open stories {result.open_stories}, heat stories {result.story_scans}",
          file=sys.stderr, flush=True)  # fmt: skip


def bench(args: argparse.Namespace, tmp: Path) -> None:
    rng = random.Random(SEED)
    docs = corpus(args.data, args.n + args.probe, rng)
    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(tmp), "NEWSDESK_ENCRYPT": "0"})
    store = Store.open(settings.database, index_full_text=settings.index_full_text)
    enricher = Enricher(settings, store, load_taxonomy(None))
    started = time.perf_counter()
    embedder = enricher.embedder
    print(f"\nModel load (incl. ONNX export into the temp dir, not counted): {time.perf_counter() - started:.1f} s, "
          f"embedder {embedder.name}")  # fmt: skip
    begun = time.perf_counter()  # the budget counts enrichment runs, not the model load
    clock = None if args.wall_clock else Clock()
    origin = SIM_START if clock is not None else datetime.now(UTC) - SPAN
    timer = Timer()
    results: list[BatchResult] = []
    ingest = 0.0
    snapshot = Timer()
    probe = None
    stopped = ""
    with patched(instrumentation(timer, type(embedder), clock)):
        try:
            for index, start in enumerate(range(0, args.n, args.batch), 1):
                if args.budget and time.perf_counter() - begun > args.budget:
                    stopped = (
                        f"stopped after {len(results)} runs: the --budget of {args.budget:.0f} s was spent"
                    )
                    break
                chunk = docs[start : min(start + args.batch, args.n)]
                articles = make_articles(chunk, start, args.n, origin, rng)
                result, seconds = run_batch(enricher, timer, articles, index, clock)
                results.append(result)
                ingest += seconds
                snapshot = Timer(dict(timer.steps), dict(timer.cpu), dict(timer.calls), dict(timer.counts))
                progress(result, seconds)
            if args.probe and not stopped:
                tail = make_articles(docs[args.n :], args.n, args.n, origin, rng)
                probe, _ = run_batch(enricher, timer, tail, len(results) + 1, clock)
        except KeyboardInterrupt:
            stopped = (
                f"interrupted during run {len(results) + 1}: figures are for the {len(results)} runs done"
            )
    store.close()
    if stopped:
        print(f"\n**Note: {stopped}.**")
    if not results:
        return
    print(f"Ingest (save_article of the raw articles, not counted): {ingest:.1f} s")
    print_steps(results)
    print_batches(results)
    print_growth(results)
    print_calls(snapshot, sum(r.articles for r in results), args.top)
    if probe is not None:
        print_probe(probe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=10_000, help="articles to enrich")
    parser.add_argument("--batch", type=int, default=1_000, help="articles per Enricher.run (pipeline run)")
    parser.add_argument("--probe", type=int, default=100, help="then one small run of this many (0 = none)")
    parser.add_argument("--top", type=int, default=20, help="rows of the inner-calls table")
    parser.add_argument("--wall-clock", action="store_true", help="do not simulate the enrichment clock")
    parser.add_argument(
        "--budget", type=float, default=900, help="start no new run after this many seconds (0 = none)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    load = os.getloadavg()
    print("# Enrichment throughput\n")
    print(f"Command: `.venv/bin/python bench/enrich.py --n {args.n} --batch {args.batch} --probe {args.probe}"
          f"{' --wall-clock' if args.wall_clock else ''} --budget {args.budget:.0f}`  ")  # fmt: skip
    print(f"Cores: {os.cpu_count()}; load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}  ")
    print(
        f"Clock: {'wall' if args.wall_clock else 'simulated (each run ' + str(CLOCK_LAG) + ' after its newest article)'}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newsdesk-bench-enrich-") as tmp:
        bench(args, Path(tmp))
    end = os.getloadavg()
    print(f"\nWall time {time.perf_counter() - started:.0f} s; load average at end: "
          f"{end[0]:.1f} / {end[1]:.1f} / {end[2]:.1f}")  # fmt: skip


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
