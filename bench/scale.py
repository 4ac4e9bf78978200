"""Ingestion at scale (issue 14, goal 3): N generated articles in one cold ``newsdesk run``, for several N.

Each N gets a fresh data folder; the articles are served on loopback as feeds (100 items each) and pages
on 4 hosts (``bench/peers.py``'s generated case: distinct texts, same vocabulary), and go through the
whole pipeline with enrichment on (fetch, extract in the pool, dedupe, embed, stories, topics, scores,
heat, related, seal, rules; image caching off). Prints, per N, the peak resident memory summed over the
run's process tree (and its largest process), CPU per article summed over the tree, then a full
``newsdesk export`` of that store and an export with nothing changed, both as cold CLIs.

Flat memory means the peak does not grow with N: the enrichment works in bounded batches, the run stops
its extraction workers before enriching, and what still grows is listed in docs/benchmarks.md ("Large
runs": the related index, the open-story centroids, the near-duplicate band keys). The goal: ≤ 600 MB
summed at 100,000 articles; the unchanged export ≤ 5% of the full one.

``--timeline FILE`` also writes, every few seconds of each run, the resident size of every process of
its tree (parent, forkserver, workers): which phase holds the peak (ingest, with the extraction workers
beside the parent, or enrichment, the parent alone) and what grows with N.

Usage::

    .venv/bin/python bench/scale.py [--sizes 1000,3000] [--newsdesk-tree DIR] [--keep] [--timeline FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ROOT, Cost, Desk, Site, become_subreaper, measure, serve_generated

MEMORY_GOAL_MB = 600  # issue 14, goal 3: summed over processes, at 100,000 articles
UNCHANGED_GOAL = 0.05  # the unchanged export's CPU as a share of the full one's
TIMELINE_S = 5.0  # the timeline's period: coarse, it only places the phases (the peak is measure's)


@contextlib.contextmanager
def timeline(out: TextIO | None, label: str) -> Iterator[None]:
    """While the block runs, a line to ``out`` every :data:`TIMELINE_S`: the time, ``label``, the summed
    RSS (MiB) of this process's descendants and each one's ``pid:MiB``. Nothing without ``out``."""
    if out is None:
        yield
        return
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(out, label, done), daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()


def _sample(out: TextIO, label: str, done: threading.Event) -> None:
    me = psutil.Process()
    while not done.wait(TIMELINE_S):
        sizes = []
        for process in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                sizes.append((process.pid, process.memory_info().rss >> 20))
        listed = " ".join(f"{pid}:{mib}" for pid, mib in sizes)
        print(
            f"{time.strftime('%H:%M:%S')} {label} sum={sum(m for _, m in sizes)} {listed}",
            file=out,
            flush=True,
        )


def one_size(desk: Desk, site: Site, count: int, work: Path, out: TextIO | None = None) -> dict[str, Cost]:
    """A fresh store ingesting ``count`` generated articles, then two exports of it."""
    feeds = serve_generated(site, count)
    data_dir = Path(tempfile.mkdtemp(dir=work)) / "data"
    env = desk.setup(data_dir, feeds, cache_images="0")
    with timeline(out, f"run-{count}"):
        run = measure(desk.command("run", "--json"), env=env, cwd=data_dir)
    folder = data_dir / "records"
    full = measure(desk.command("export", str(folder), "--json"), env=env, cwd=data_dir)
    again = measure(desk.command("export", str(folder), "--json"), env=env, cwd=data_dir)
    return {"run": run, "export, full": full, "export, nothing changed": again}


def report(count: int, costs: dict[str, Cost]) -> None:
    run, full, again = costs["run"], costs["export, full"], costs["export, nothing changed"]
    share = again.cpu_s / full.cpu_s if full.cpu_s else 0.0
    print(
        f"{count:>8,} {run.rss_sum_mb:>11.0f} {run.rss_max_mb:>11.0f} {1000 * run.cpu_s / count:>9.1f} "
        f"{run.wall_s:>8.0f} {full.cpu_s:>8.2f} {again.cpu_s:>8.2f} {100 * share:>6.1f}%",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,3000", help="article counts, comma-separated")
    parser.add_argument("--newsdesk-tree", type=Path, default=ROOT, help="the newsdesk checkout to run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--timeline", type=Path, help="write each run's per-process RSS timeline here")
    args = parser.parse_args(argv)
    become_subreaper()
    desk = Desk(args.newsdesk_tree.resolve())
    work = Path(tempfile.mkdtemp(prefix="newsdesk-scale-"))
    print(
        f"{'articles':>8} {'RSS sum MB':>11} {'largest MB':>11} {'CPU ms/a':>9} {'wall s':>8} "
        f"{'export s':>8} {'again s':>8} {'share':>7}",
        flush=True,
    )
    out = args.timeline.open("a", encoding="utf-8") if args.timeline else None
    try:
        for count in (int(n) for n in args.sizes.split(",")):
            site = Site()
            try:
                report(count, one_size(desk, site, count, work, out))
            finally:
                site.stop()
    finally:
        if out is not None:
            out.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"goals: RSS sum <= {MEMORY_GOAL_MB} MB and flat in N; unchanged export <= {UNCHANGED_GOAL:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
