"""The desk's enrichment CPU per small cycle on a 100k-article store: the related index kept between
cycles (enrich/keptindex.py) against a checkout that opens and saves ``vectors.usearch`` every cycle.

What it does: copies the store ``bench/api.py --desk --store DIR`` seeded (100k articles, each with a
vector of the bundled model and enriched, the related index file beside it) into a temporary folder for
each run, then, in a child process importing newsdesk from the tree under test, makes one long-lived
enricher (as the desk's facade keeps it) and runs ``--cycles`` small cycles after one warm-up cycle
(which loads the model and the index in both trees): each saves ``--per-cycle`` new articles (AG News
titles and excerpts, dated just after the seeded ones) and times ``Enricher.run`` over them — embed,
fold, stories, topics, quality, heat, related. CPU is the child's user + system (all its threads), per
cycle; trees alternate within each round (``--rounds``), with the load average printed beside each run.

Usage::

    .venv/bin/python bench/related_desk.py --store /tmp/bench-store --base /work/main-checkout
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEEDED = "seed-100000-desk"


def corpus(data: Path) -> list[tuple[str, str]]:
    path = data / "ag_news" / "test.csv"
    if not path.exists():
        return [(f"Synthetic headline {i}", f"Synthetic excerpt {i} about markets.") for i in range(1000)]
    with path.open(encoding="utf-8") as handle:
        return [(row[1].strip() or "Untitled", row[2].strip()[:400]) for row in csv.reader(handle)]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_mb() -> dict[str, float]:
    """This process's resident size now and its peak (``VmRSS``, ``VmHWM``), MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def child(folder: Path, cycles: int, per_cycle: int, data: Path) -> dict[str, Any]:
    """Run in the child: a warm-up cycle, then ``cycles`` timed ones; the figures as a dict."""
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings
    from newsdesk.model import Article, Provider

    env = {"NEWSDESK_DATA_DIR": str(folder), "NEWSDESK_CONFIG": str(folder / "absent.toml")}
    settings = load_settings(env=os.environ | env, base_dir=folder)
    texts = corpus(data)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    index_file = folder / "vectors.usearch"
    with Newsdesk(settings) as nd:
        nd.init()  # the key file (sealing is on by default); the seeded tables are there already
        enricher = nd.enricher
        n = nd.store.last_article_id()
        spent: list[float] = []
        walls: list[float] = []
        for cycle in range(cycles + 1):
            ids = []
            for _ in range(per_cycle):
                n += 1
                title, excerpt = texts[n % len(texts)]
                url = f"https://site{n % 40}.example.com/new/{n}"
                article = Article(title, url, url, Provider(f"Site {n % 40}", f"site{n % 40}.example.com"),
                                  excerpt=excerpt, published_at=start + timedelta(minutes=n))  # fmt: skip
                ids.append(nd.store.save_article(article).id or 0)
            before_cpu, before_wall = cpu_s(), time.perf_counter()
            enricher.run(ids)
            if cycle:  # the first loads the model and the index in either tree
                spent.append(cpu_s() - before_cpu)
                walls.append(time.perf_counter() - before_wall)
        return {
            "cpu_s": spent,
            "wall_s": walls,
            "file_mtime": index_file.stat().st_mtime if index_file.exists() else None,
            "enriched": enricher.counts.get("enriched", 0),
            **memory_mb(),  # between cycles: the kept index stays resident, a reloaded one was freed
        }


def one_run(tree: Path, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A fresh copy of the seeded store and a child over it importing newsdesk from ``tree``."""
    with tempfile.TemporaryDirectory(prefix="newsdesk-bench-related-desk-") as tmp:
        folder = Path(tmp)
        shutil.copyfile(store / f"{SEEDED}.db", folder / "newsdesk.db")
        extras = store / f"{SEEDED}-extras"
        shutil.copytree(extras / "models", folder / "models")
        for path in extras.glob("vectors.usearch*"):
            shutil.copyfile(path, folder / path.name)
        command = [sys.executable, __file__, "--child", str(folder), "--cycles", str(args.cycles),
                   "--per-cycle", str(args.per_cycle), "--data", str(args.data)]  # fmt: skip
        env = os.environ | {"PYTHONPATH": str(tree)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tree)
        if done.returncode:
            raise SystemExit(f"the child failed in {tree}:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="the folder bench/api.py --desk --store seeded")
    parser.add_argument("--base", type=Path, help="the checkout to compare with (e.g. main's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--per-cycle", type=int, default=5, help="new articles a cycle")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cycles, args.per_cycle, args.data)))
        return
    if args.store is None:
        raise SystemExit("--store: the folder bench/api.py --desk --store seeded")
    trees = ([("base", args.base)] if args.base else []) + [("this", ROOT)]
    medians: dict[str, list[float]] = {name: [] for name, _ in trees}
    print(f"{args.cycles} cycles of {args.per_cycle} new articles each, after a warm-up cycle; CPU-s a cycle")
    for round_ in range(args.rounds):
        for name, tree in trees if round_ % 2 == 0 else trees[::-1]:
            result = one_run(tree, args.store, args)
            cpu = result["cpu_s"]
            medians[name].append(statistics.median(cpu))
            print(f"round {round_ + 1} {name:<5} median {statistics.median(cpu):.3f}  min {min(cpu):.3f}  "
                  f"max {max(cpu):.3f}  wall median {statistics.median(result['wall_s']):.3f}  "
                  f"RSS after {result['VmRSS']:.0f} MiB (peak {result['VmHWM']:.0f})  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    for name, values in medians.items():
        print(f"{name:<5} median of medians {statistics.median(values):.3f} CPU-s a cycle "
              f"(range {min(values):.3f}-{max(values):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
