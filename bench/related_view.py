"""What resident memory a saved related index costs when usearch memory-maps it (``view``) instead of
reading it (``restore``/``load``): psutil's RSS, and its anonymous and file-backed parts
(``/proc/self/status``: ``RssAnon``, ``RssFile``), after opening the file and after ``--queries``
searches, each kind in a fresh child process. A one-go run's index is ≈ 1.3 KB an article in anonymous
memory (docs/benchmarks.md, "Large runs"); a view's pages are the file's, shared with the page cache
and droppable under pressure, but RSS counts those it touched.

Usage::

    .venv/bin/python bench/related_view.py /tmp/bench-store/seed-100000-desk-extras/vectors.usearch
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def status_mb() -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}


def child(path: Path, how: str, queries: int) -> dict[str, Any]:
    import numpy as np
    import psutil

    sys.path.insert(0, str(ROOT))
    from newsdesk.enrich.vectors import _int8, _usearch_index

    usearch_index = _usearch_index()
    started = status_mb()
    began = time.process_time()
    index = usearch_index.restore(str(path), view=how == "view")
    opened = status_mb() | {
        "cpu_s": time.process_time() - began,
        "psutil_rss": psutil.Process().memory_info().rss / 2**20,
    }
    rng = np.random.default_rng(14)
    began = time.process_time()
    for _ in range(queries):
        q = rng.standard_normal(index.ndim).astype(np.float32)
        index.search(_int8((q / np.linalg.norm(q))[None])[0], 20, threads=1)
    searched = status_mb() | {
        "cpu_s": time.process_time() - began,
        "psutil_rss": psutil.Process().memory_info().rss / 2**20,
    }
    return {"how": how, "size": len(index), "start": started, "opened": opened, "searched": searched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.path, args.child, args.queries)))
        return
    print(f"file {args.path.stat().st_size / 2**20:.0f} MiB; MiB of the child process")
    for how in ("restore", "view"):
        command = [sys.executable, __file__, str(args.path), "--child", how, "--queries", str(args.queries)]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        for stage in ("start", "opened", "searched"):
            s = result[stage]
            extra = f"  psutil RSS {s['psutil_rss']:.0f}  CPU {s['cpu_s']:.2f} s" if "cpu_s" in s else ""
            print(f"{how:<8} {stage:<9} VmRSS {s['VmRSS']:6.0f}  RssAnon {s['RssAnon']:6.0f}  "
                  f"RssFile {s['RssFile']:6.0f}  VmHWM {s['VmHWM']:6.0f}{extra}")  # fmt: skip


if __name__ == "__main__":
    main()
