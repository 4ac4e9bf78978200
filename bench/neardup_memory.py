"""What the near-duplicate index costs an article: resident memory, peak, add and query time.

Issue 14 goal 3 wants a one-go run of 100,000 articles flat in the article count; the enrichment keeps
a ``dedupe.NearDuplicateIndex`` over every signature of the run, so its bytes an article, its peak
included (the merges' temporaries), is what matters. For each N, a fresh child process builds an index
as the enricher does (``signatures=`` a lookup, so the index keeps band keys only) over N signatures:
random ones, and every 10th an edited copy of an earlier one (a fifth of its values changed, Jaccard ≈
0.8) so that queries have hits. The signatures are made again from their id on demand (a hash of it),
so the probe holds none of them: what grows is the index alone.

Printed per N: bytes an article of resident size after the adds (``VmRSS``) and of the peak during them
(``VmHWM``, reset before the first add through ``/proc/self/clear_refs``), both over the size before;
the mean µs of an add (the signature already made) and of a query (2,000 queries after the adds: half
edited copies of indexed articles, half new texts); and a digest of the queries' results, equal
between two trees when their indexes answer alike. Resident size, not tracemalloc: the index's runs
live in memory maps of their own, which tracemalloc does not see.

    PYTHONPATH=. .venv/bin/python bench/neardup_memory.py [--sizes 10000 30000 100000 300000] [--folder DIR]

With ``--folder`` the index keeps its large runs in a file there, as the enricher does in its data
folder (enrich/bandtable.py): the file's pages are the kernel's page cache, not the process's.

To measure another tree, run its copy of this script with ``PYTHONPATH`` at that tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from newsdesk.enrich import dedupe

SIZES = (10_000, 30_000, 100_000, 300_000)
COPY_EVERY = 10  # every 10th article is an edited copy of an earlier one
CHUNK = 1_000  # signatures made at a time, outside the timed adds
QUERIES = 2_000
SHINGLES = 200  # the shingle count every probe signature carries (containment needs one)
_MASK = np.uint64(2**64 - 1)
Matrix = npt.NDArray[np.uint64]


def _mix(values: Matrix) -> Matrix:
    """splitmix64's finaliser: a fixed, well-spread hash of each value (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (values ^ (values >> np.uint64(31))) & _MASK


def _random(ids: npt.NDArray[np.int64], salt: int) -> Matrix:
    """``NUM_PERM`` hash values per id, a function of the id and ``salt`` (0-7) alone."""
    columns = np.arange(dedupe.NUM_PERM, dtype=np.uint64)
    grid = ids.astype(np.uint64)[:, None] * np.uint64(dedupe.NUM_PERM) + columns
    with np.errstate(over="ignore"):
        return _mix(grid * np.uint64(8) + np.uint64(salt))


def _edited(values: Matrix, ids: npt.NDArray[np.int64], salt: int) -> Matrix:
    """``values`` with about a fifth of each row replaced (where a hash of the id falls under a fifth
    of the range): an edited copy's signature, Jaccard ≈ 0.8 to the original's."""
    change = _random(ids, salt) < np.uint64(2**64 // 5)
    return np.where(change, _random(ids, salt + 1), values)


def signatures(ids: Sequence[int]) -> Matrix:
    """The probe's signatures of ``ids``, one a row: hash values then the shingle count. A copy (every
    :data:`COPY_EVERY` th id) is an edit of the random values of the id a third its own."""
    at = np.asarray(ids, dtype=np.int64)
    values = _random(at, 1)
    copies = (at % COPY_EVERY == 0) & (at > 0)
    values[copies] = _edited(_random(at[copies] // 3, 1), at[copies], 2)
    return np.hstack([values, np.full((len(at), 1), SHINGLES, dtype=np.uint64)])


_MADE: dict[int, dedupe.Signature] = {}  # the queries' candidates, made before the timed queries


def lookup(ids: Sequence[int]) -> Mapping[int, dedupe.Signature]:
    """The signature source the index reads candidates from (the enricher's is a store lookup): made
    again from the ids, or taken from :data:`_MADE` so that a timed query times the index alone."""
    missing = [i for i in ids if i not in _MADE]
    made = dict(zip(missing, signatures(missing), strict=True)) if missing else {}
    return {i: _MADE[i] if i in _MADE else made[i] for i in ids}


def status() -> dict[str, int]:
    """This process's resident size and its peak since the last reset, bytes."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak() -> None:
    """Start VmHWM again from the current size (Linux: "5" to clear_refs), so the import's peak is
    not taken for the index's."""
    Path("/proc/self/clear_refs").write_text("5")


def build(n: int, folder: Path | None = None) -> tuple[dedupe.NearDuplicateIndex, float]:
    """An index of articles 0 … n-1 and the seconds its adds took (the signatures made outside)."""
    index = dedupe.NearDuplicateIndex(signatures=lookup, folder=folder)
    spent = 0.0
    for start in range(0, n, CHUNK):
        chunk = signatures(range(start, min(start + CHUNK, n)))
        began = time.perf_counter()
        for offset, sig in enumerate(chunk):
            index.add(start + offset, sig)
        spent += time.perf_counter() - began
    return index, spent


def probe_queries(index: dedupe.NearDuplicateIndex, n: int) -> tuple[float, int, str]:
    """Mean seconds a query, the hits found, and a digest of every answer."""
    copied = np.random.default_rng(7).integers(0, n, QUERIES // 2)
    queries = signatures(copied.tolist())  # edited copies of indexed articles, then new texts
    queries[:, :-1] = _edited(queries[:, :-1], np.arange(n, n + QUERIES // 2, dtype=np.int64), 5)
    queries = np.vstack([queries, signatures(range(10 * n, 10 * n + QUERIES // 2))])
    _MADE.update(lookup(sorted(set().union(*(index.candidates(sig) for sig in queries)))))
    digest, hits, spent = hashlib.sha256(), 0, 0.0
    for sig in queries:
        began = time.perf_counter()
        found = index.query(sig)
        spent += time.perf_counter() - began
        hits += len(found)
        digest.update(repr(found).encode())
    return spent / len(queries), hits, digest.hexdigest()[:12]


def one(n: int, folder: Path | None) -> dict[str, Any]:
    """Build and query an index of ``n`` articles in this process (its large runs in ``folder``, when
    given); the figures as a dict."""
    build(2 * CHUNK)  # warm up numpy's code paths and the allocator outside the measurement
    reset_peak()
    before = status()
    index, add_s = build(n, folder)
    after = status()
    query_s, hits, digest = probe_queries(index, n)
    return {
        "n": n,
        "rss_per_article": (after["VmRSS"] - before["VmRSS"]) / n,
        "peak_per_article": (after["VmHWM"] - before["VmRSS"]) / n,
        "add_us": add_s / n * 1e6,
        "query_us": query_s * 1e6,
        "hits": hits,
        "digest": digest,
        "length": len(index),
        "filed_mb": sum(size for size, filed in index._table.runs() if filed) * 8 / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--folder", type=Path, help="keep the large runs in a file here (the enricher "
                        "gives its data folder); by default every run is in memory")  # fmt: skip
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child's own run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.folder)))
        return
    print("| N | RSS B/article | peak B/article | add µs | query µs | hits | digest | in the file MB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        command = [sys.executable, __file__, "--one", str(n)]
        command += ["--folder", str(args.folder)] if args.folder else []
        r = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(f"| {n:,} | {r['rss_per_article']:.0f} | {r['peak_per_article']:.0f} | {r['add_us']:.1f} | "
              f"{r['query_us']:.1f} | {r['hits']:,} | {r['digest']} | {r['filed_mb']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
