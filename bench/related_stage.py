"""The related stage and the near-duplicate index alone, on a store seeded directly (issue 14, goal 3).

A 100,000-article ``bench/scale.py`` run costs about 2 CPU-hours; what grows with N at its end is the
related stage's vector index and, beside it, the near-duplicate band keys. This seeds a SQLite store
through the store's own tables with N articles as a one-go run leaves them: every one inside the
related and near-duplicate windows (``sort_at`` now), a names sketch each (12 of its story's 30 names and 8
others), clustered 896-d vectors (``bench/related.py``'s
``--data topics`` shape, the bundled model's dimension, stored under its name so its calibration
applies), one story per synthetic story, distinct random MinHash signatures (the band keys' worst case).
Then, per tree and round, a fresh child process with that tree on its path runs the enricher's own code:

1. ``_near_duplicate_index`` over the N signatures (as pass 1 holds it);
2. ``_relate_all`` for the last ``sample`` articles: the index built from all N stored vectors (no
   saved file, as in a first run), then their related lists.

It prints the child's resident size after each step, its peak (``VmHWM``) and its CPU per step. The
models are not loaded (a stand-in with the bundled model's name and dimension): the figures are what
the stage adds to a run's parent, whose models and imports hold ≈ 440 MB before it (docs/benchmarks.md).

    .venv/bin/python bench/related.py --stage 100000 [--sample 2000] [--rounds 2] [--newsdesk-tree DIR ...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDER = "use-multilingual-v3/numpy+all-MiniLM-L6-v2/onnx-int8@0.5"  # the bundled model's name
DIM = 896
CHUNK = 2_000


def seed(data_dir: Path, vectors: Any, labels: Any) -> float:
    """Stories, articles (with signatures) and vectors through the store's tables; seconds taken."""
    from sqlalchemy import insert

    from newsdesk.enrich.similarity import names_to_bytes
    from newsdesk.model import Article, Provider
    from newsdesk.store import Store
    from newsdesk.store import rows as store_rows
    from newsdesk.store import tables as t

    started, now = time.perf_counter(), datetime.now(UTC)
    rng = np.random.default_rng(896)
    pools = rng.integers(0, 2**32, (int(labels.max()) + 1, 30))  # each story's names: 30 hashes
    store = Store.open(f"sqlite:///{data_dir / 'newsdesk.db'}")
    stories = [{"id": s + 1, "title": f"story {s}", "first_seen_at": now, "last_seen_at": now}
               for s in range(int(labels.max()) + 1)]  # fmt: skip
    with store.engine.begin() as c:
        c.execute(insert(t.stories), stories)
    for start in range(0, len(vectors), CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, len(vectors))):
            domain = f"site{n % 40}.example.com"
            article = Article(title=f"Article {n}", excerpt="", web_url=f"https://{domain}/a/{n}",
                              original_url=f"https://{domain}/a/{n}", provider=Provider(f"Site {n % 40}", domain))  # fmt: skip
            signature = np.append(rng.integers(0, 2**63, 128, dtype=np.uint64), np.uint64(300))
            names = np.unique(np.concatenate([rng.choice(pools[labels[n]], 12), rng.integers(0, 2**32, 8)]))
            rows.append(store_rows.article_row(article, full_text_index=False) | {
                "id": n + 1, "story_id": int(labels[n]) + 1, "first_seen_at": now, "updated_at": now,
                "sort_at": now, "language": "en", "minhash": signature.tobytes(),
                "names": names_to_bytes(names)})  # fmt: skip
        with store.engine.begin() as c:
            c.execute(insert(t.articles), rows)
        ids = range(start + 1, start + len(rows) + 1)
        store.save_embeddings(EMBEDDER, list(zip(ids, vectors[start : start + len(rows)], strict=True)))
    store.close()
    return time.perf_counter() - started


def run_tree(tree: Path, data_dir: Path, count: int, sample: int) -> dict[str, float]:
    """One fresh child with ``tree`` first on its path; its figures."""
    (data_dir / "vectors.usearch").unlink(missing_ok=True)
    env = os.environ | {"PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", str(data_dir), str(count), str(sample)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def report(trees: list[Path], count: int, sample: int, rounds: int, work: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import related

    vectors, labels = related.clustered_vectors(count, DIM)
    data_dir = work / f"stage-names-{count}"
    if not (data_dir / "newsdesk.db").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"seeded {count:,} articles in {seed(data_dir, vectors, labels):.0f} s", flush=True)
    del vectors
    print(f"\n| round | tree | MiB at start | + band keys | + index and related | peak (VmHWM) | "
          f"band keys CPU s | index + {sample:,} related CPU s | load |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in range(rounds):
        for tree in trees if n % 2 == 0 else trees[::-1]:
            f = run_tree(tree, data_dir, count, sample)
            print(f"| {n + 1} | {tree.name} | {f['start']:.0f} | {f['keys'] - f['start']:+.0f} | "
                  f"{f['related'] - f['keys']:+.0f} | {f['peak']:.0f} | {f['keys_cpu']:.1f} | "
                  f"{f['related_cpu']:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)  # fmt: skip
    shutil.rmtree(data_dir / "records", ignore_errors=True)


# ------------------------------------------------------------------------------------------- the child


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(data_dir: Path, count: int, sample: int) -> None:
    """Runs in the measured process: the tree's enricher on the seeded store; prints one JSON line."""
    from types import SimpleNamespace

    from newsdesk.config import load_settings, load_taxonomy
    from newsdesk.enricher import Enricher
    from newsdesk.store import Store

    env = {"NEWSDESK_CONFIG": str(data_dir / "absent.toml"), "NEWSDESK_DATA_DIR": str(data_dir)}
    settings = load_settings(env=env, base_dir=data_dir)
    store = Store.open(f"sqlite:///{data_dir / 'newsdesk.db'}")
    stand_in: Any = SimpleNamespace(name=EMBEDDER, dim=DIM)
    enricher = Enricher(settings, store, load_taxonomy(None), embedder=stand_in)
    out = {"start": _status("VmRSS")}
    cpu = time.process_time()
    enricher._near_duplicate_index(set())
    out |= {"keys": _status("VmRSS"), "keys_cpu": time.process_time() - cpu}
    first = count - sample + 1
    ids = list(range(first, count + 1))
    kept = [ids[i : i + enricher.batch_size] for i in range(0, len(ids), enricher.batch_size)]
    cpu = time.process_time()
    enricher._relate_all(kept, None)
    out |= {"related": _status("VmRSS"), "related_cpu": time.process_time() - cpu, "peak": _status("VmHWM")}
    store.close()
    print(json.dumps(out))


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
