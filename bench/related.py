"""Related-article queries at scale: HNSW latency, recall against exact search, build time, memory.

Data: synthetic clustered unit vectors (384-d, fixed seed): ``size / STORY_SIZE`` story centres, each
point a centre plus Gaussian noise, scaled so same-story cosines sit around 0.6 like MiniLM vectors of
one news story. ``--data topics`` (default) draws the story centres around topic centres (two stories
of a topic at cosine ≈ 0.35), as news is organised; ``--data stories`` leaves every story isolated, the
worst case for a graph index. Queries are fresh points around the same centres (not in the index).

For each size and HNSW config it prints build time (wall and CPU) and memory (usearch's account), then
per ``expansion_search`` the single-query latency p50/p95 for k=10 and k=50 (the first over-fetch of
``relate``) and recall@10 against exact brute force, from the index alone and rescored from the exact
vectors (``ExactScores``, as the related stage reads the saved int8 index); then the whole ``relate()``
call and one exact query. Latency is given as wall time and as thread CPU time: this machine is shared, and under load the
wall p95 mostly measures time spent descheduled.
Ground truth is computed in blocks with one matrix multiply per block.

    .venv/bin/python bench/related.py [--sizes 100000 1000000] [--queries 500]
    .venv/bin/python bench/related.py --stage 100000 [--sample 2000] [--newsdesk-tree DIR ...]

``--stage N`` measures instead the related stage and the near-duplicate index of the enricher alone on a
store of N seeded articles, peak RSS of the process (``bench/related_stage.py``).

The 1M build dominates: 1,193 CPU-seconds (13 min wall) for the default config on `--data topics`; the
isolated-story data took 1,377 CPU-s with expansion_add 64. Use `--sizes 100000` for a run of a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsdesk.enrich.base import Vectors  # noqa: E402
from newsdesk.enrich.related import RelatedMeta, relate  # noqa: E402
from newsdesk.enrich.vectors import (  # noqa: E402
    DEFAULT_HNSW,
    AnnIndex,
    ExactScores,
    HnswParams,
    Searchable,
    build_index,
    search_expansion,
)

DIM = 384
SEED = 384
STORY_SIZE = 20  # mean articles per synthetic story
NOISE = 0.04  # per-dimension noise around a unit centre: same-story cosine ≈ 0.62 at 384-d (measured)
STORIES_PER_TOPIC = 100  # --data topics: 500 topics at 1M vectors
STORY_SPREAD = 0.07  # stories around their topic's centre: two stories of one topic at cosine ≈ 0.35
BLOCK = 100_000
EXPANSIONS = (32, 64, 128, 256)
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def centres(size: int, rng: np.random.Generator, *, topics: bool) -> Vectors:
    """One unit centre per story. With ``topics``, stories are drawn around topic centres, so stories of
    one topic are alike and the space has a gradient to walk, as news has; without, every story is
    isolated (the worst case for a graph index: nothing leads from one cluster to the next)."""
    count = max(size // STORY_SIZE, 1)
    if not topics:
        return _unit(rng.normal(size=(count, DIM)).astype(np.float32))
    tops = _unit(rng.normal(size=(max(count // STORIES_PER_TOPIC, 1), DIM)).astype(np.float32))
    labels = rng.integers(0, len(tops), count)
    return _unit(tops[labels] + rng.normal(scale=STORY_SPREAD, size=(count, DIM)).astype(np.float32))


def around(centre_rows: Vectors, labels: np.ndarray[Any, Any], rng: np.random.Generator) -> Vectors:
    return _unit(centre_rows[labels] + rng.normal(scale=NOISE, size=(len(labels), DIM)).astype(np.float32))


def _unit(points: Vectors) -> Vectors:
    unit: Vectors = points / np.linalg.norm(points, axis=1, keepdims=True)
    return unit


def clustered_vectors(size: int, dim: int) -> tuple[Vectors, np.ndarray[Any, Any]]:
    """``--data topics`` vectors of ``dim`` dimensions and their story labels, for ``--stage``: the
    noise scaled by √(DIM / dim), so stories and topics keep the cosines they have at DIM."""
    rng = np.random.default_rng(SEED)
    scale = np.float32(np.sqrt(DIM / dim))
    count = max(size // STORY_SIZE, 1)
    tops = _unit(rng.normal(size=(max(count // STORIES_PER_TOPIC, 1), dim)).astype(np.float32))
    middle = _unit(
        tops[rng.integers(0, len(tops), count)]
        + scale * STORY_SPREAD * rng.normal(size=(count, dim)).astype(np.float32)
    )
    labels = rng.integers(0, count, size)
    vectors = np.empty((size, dim), dtype=np.float32)
    for start in range(0, size, BLOCK):
        rows = labels[start : start + BLOCK]
        vectors[start : start + BLOCK] = _unit(
            middle[rows] + scale * NOISE * rng.normal(size=(len(rows), dim)).astype(np.float32)
        )
    return vectors, labels


def dataset(size: int, queries: int, *, topics: bool) -> tuple[Vectors, np.ndarray[Any, Any], Vectors]:
    """(vectors, story label per vector, queries), generated block by block to bound peak memory."""
    rng = np.random.default_rng(SEED)
    middle = centres(size, rng, topics=topics)
    labels = rng.integers(0, len(middle), size)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for start in range(0, size, BLOCK):
        vectors[start : start + BLOCK] = around(middle, labels[start : start + BLOCK], rng)
    return vectors, labels, around(middle, rng.integers(0, len(middle), queries), rng)


def exact_top(vectors: Vectors, queries: Vectors, k: int) -> np.ndarray[Any, Any]:
    """Exact top-k ids per query: per block a matrix product and a partial sort, then a merge."""
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_scores = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), BLOCK):
        scores = queries @ vectors[start : start + BLOCK].T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_ids = np.hstack([best_ids, top + start])
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        keep = np.argsort(-best_scores, axis=1)[:, :k]
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return best_ids


def latencies(call: Callable[[Vectors], object], queries: Vectors) -> dict[str, float]:
    """p50/p95 in ms of one call per query, as wall time and as this thread's CPU time. On a shared,
    oversubscribed machine the wall p95 measures the scheduler; CPU time measures the search."""
    wall, cpu = [], []
    for query in queries:
        started, started_cpu = time.perf_counter(), time.thread_time()
        call(query)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return {
        "p50": float(np.percentile(wall, 50)),
        "p95": float(np.percentile(wall, 95)),
        "cpu_p50": float(np.percentile(cpu, 50)),
        "cpu_p95": float(np.percentile(cpu, 95)),
    }


def rescored(index: AnnIndex, vectors: Vectors) -> ExactScores:
    """``index`` with its answers scored again from the exact vectors, as the related stage reads it."""

    def load(ids: Sequence[int]) -> tuple[list[int], Vectors]:
        wanted = sorted(ids)
        return wanted, vectors[wanted]

    return ExactScores(index, DIM, load)


def recall(index: Searchable, queries: Vectors, truth: np.ndarray[Any, Any], k: int) -> float:
    found = [
        len({i for i, _ in index.search(q, k)} & set(row.tolist()))
        for q, row in zip(queries, truth, strict=True)
    ]
    return sum(found) / truth.size


def build(vectors: Vectors, params: HnswParams) -> tuple[AnnIndex, float, float]:
    """The index, wall seconds and process CPU seconds (all threads) to build it."""
    index = AnnIndex(DIM, params)
    started, started_cpu = time.perf_counter(), time.process_time()
    for start, stop in _blocks(len(vectors)):
        index.add(range(start, stop), vectors[start:stop])
    return index, time.perf_counter() - started, time.process_time() - started_cpu


def _blocks(size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, BLOCK):
        yield start, min(start + BLOCK, size)


def parse_config(text: str) -> HnswParams:
    """ "16:64:f16" → connectivity 16, expansion_add 64, dtype f16."""
    connectivity, expansion_add, dtype = text.split(":")
    return replace(
        DEFAULT_HNSW, connectivity=int(connectivity), expansion_add=int(expansion_add), dtype=dtype
    )


def report_size(size: int, queries_count: int, configs: list[HnswParams], *, topics: bool) -> None:
    vectors, labels, queries = dataset(size, queries_count, topics=topics)
    truth = exact_top(vectors, queries, 10)
    shape = "stories within topics" if topics else "isolated stories"
    print(f"\n## {size:,} vectors × {DIM}-d ({shape}), {queries_count} queries, load avg {_load():.1f}\n")
    print(
        "| M | ef_add | dtype | build s wall / CPU | MB | ef_search | k=10 p50 / p95 ms | k=10 CPU p50 / p95 ms"
        " | k=50 CPU p95 ms | recall@10 | rescored |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for params in configs:
        index, wall, cpu = build(vectors, params)
        head = f"| {params.connectivity} | {params.expansion_add} | {params.dtype} | {wall:.0f} / {cpu:.0f}"
        mb = index.memory_bytes / 2**20
        for expansion in EXPANSIONS:
            index.set_expansion_search(expansion)
            at10 = latencies(lambda q, i=index: i.search(q, 10), queries)  # type: ignore[misc]
            at50 = latencies(lambda q, i=index: i.search(q, 50), queries)  # type: ignore[misc]
            hit = recall(index, queries, truth, 10)
            exact_hit = recall(rescored(index, vectors), queries, truth, 10)
            print(
                f"{head} | {mb:.0f} | {expansion} | {at10['p50']:.2f} / {at10['p95']:.2f}"
                f" | {at10['cpu_p50']:.2f} / {at10['cpu_p95']:.2f} | {at50['cpu_p95']:.2f} | {hit:.3f}"
                f" | {exact_hit:.3f} |"
            )
        if params == configs[-1]:
            auto = search_expansion(len(index), params.expansion_search)
            index.set_expansion_search(auto)  # what an unpinned index uses at this size
            report_relate(index, vectors, labels, queries)
        del index


def report_relate(index: AnnIndex, vectors: Vectors, labels: np.ndarray[Any, Any], queries: Vectors) -> None:
    """relate() end to end (last config, the size-scaled expansion), and exact brute force for scale."""
    meta = {
        i: RelatedMeta(int(story), NOW, f"site{i % 500}.example") for i, story in enumerate(labels.tolist())
    }
    rel = latencies(lambda q: relate(-1, q, NOW, index, meta), queries)
    exact = build_index(range(len(vectors)), vectors, ann=False)
    brute = latencies(lambda q: exact.search(q, 10), queries[:50])
    print(
        f"\nrelate() k=5, {index.params}: p50 {rel['p50']:.2f} / p95 {rel['p95']:.2f} ms wall,"
        f" CPU p50 {rel['cpu_p50']:.2f} / p95 {rel['cpu_p95']:.2f} ms"
    )
    print(f"exact numpy search k=10 (50 queries): p50 {brute['p50']:.1f} / p95 {brute['p95']:.1f} ms wall")


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main() -> None:
    global DIM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["16:64:f16", "32:128:f16", "16:128:f16"],
        help="connectivity:expansion_add:dtype, swept at the smallest size; the last is also used above it",
    )
    parser.add_argument(
        "--data",
        choices=("topics", "stories"),
        default="topics",
        help="stories grouped in topics (news-like), or isolated stories (worst case)",
    )
    parser.add_argument(
        "--dim",
        type=int,
        default=DIM,
        help="dimensions (896: the bundled model's; same noise: looser stories)",
    )
    parser.add_argument(
        "--stage", type=int, help="instead: the related stage alone on a seeded store of this size"
    )
    parser.add_argument("--sample", type=int, default=2000, help="--stage: articles whose related are made")
    parser.add_argument("--rounds", type=int, default=1, help="--stage: rounds, trees alternated")
    parser.add_argument(
        "--newsdesk-tree", type=Path, nargs="+", default=[REPO], help="--stage: checkouts to run"
    )
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/newsdesk-related-stage"), help="--stage: kept store"
    )
    args = parser.parse_args()
    if args.stage:
        import related_stage

        trees = [tree.resolve() for tree in args.newsdesk_tree]
        related_stage.report(trees, args.stage, args.sample, args.rounds, args.work)
        return
    DIM = args.dim
    configs = [parse_config(c) for c in args.configs]
    for size in sorted(args.sizes):
        chosen = configs if size == min(args.sizes) else configs[-1:]
        report_size(size, args.queries, chosen, topics=args.data == "topics")


if __name__ == "__main__":
    main()
