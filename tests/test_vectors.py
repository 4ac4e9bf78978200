"""Vector indexes: exact reference behaviour, HNSW recall against it, persistence and staleness."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.vectors import (
    DEFAULT_HNSW,
    EXPANSION_CAP,
    EXPANSION_SCALE_FROM,
    RELATED_HNSW,
    AnnIndex,
    ExactIndex,
    ExactScores,
    VectorIndex,
    build_index,
    open_index,
    read_manifest,
    search_expansion,
)
from newsdesk.errors import EnrichmentError

DIM = 64


def clustered(n: int, dim: int = DIM, clusters: int = 50, spread: float = 0.3, seed: int = 7) -> Vectors:
    """Unit vectors scattered around random centres: the shape real news embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def unit(*values: float) -> Vectors:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


@pytest.fixture(params=["exact", "exact-i8", "ann", "ann-i8"])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    if request.param.startswith("exact"):
        return ExactIndex(DIM, int8=request.param == "exact-i8")
    return AnnIndex(DIM, RELATED_HNSW if request.param == "ann-i8" else DEFAULT_HNSW)


def test_search_returns_nearest_first_with_cosine(index: VectorIndex) -> None:
    index.add([10, 11, 12], np.stack([unit(1, 0), unit(1, 1), unit(0, 1)]))
    result = index.search(unit(1, 0.1), 3)
    assert [i for i, _ in result] == [10, 11, 12]
    assert result[0][1] == pytest.approx(float(unit(1, 0) @ unit(1, 0.1)), abs=1e-3)  # int8: an estimate
    assert len(index) == 3


def test_exclude_and_k(index: VectorIndex) -> None:
    index.add([1, 2, 3], np.stack([unit(1, 0), unit(1, 1), unit(0, 1)]))
    assert [i for i, _ in index.search(unit(1, 0), 2, exclude={1})] == [2, 3]
    assert index.search(unit(1, 0), 0) == []
    assert [i for i, _ in index.search(unit(1, 0).reshape(1, -1), 10)] == [1, 2, 3]


def test_remove_and_replace(index: VectorIndex) -> None:
    index.add([1, 2, 3], np.stack([unit(1, 0), unit(1, 1), unit(0, 1)]))
    index.remove([1, 99])  # unknown ids are ignored
    assert len(index) == 2
    assert [i for i, _ in index.search(unit(1, 0), 5)] == [2, 3]
    index.add([3], unit(1, 0).reshape(1, -1))  # re-adding an id replaces its vector
    assert len(index) == 2
    assert index.search(unit(1, 0), 1)[0][0] == 3


def test_empty_index_and_bad_shapes(index: VectorIndex) -> None:
    assert index.search(unit(1), 5) == []
    with pytest.raises(EnrichmentError):
        index.add([1], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(EnrichmentError):
        index.add([1, 2], np.stack([unit(1), unit(0, 1)])[:1])
    with pytest.raises(EnrichmentError):
        index.add([1, 1], np.stack([unit(1), unit(0, 1)]))


def test_save_and_load_round_trip(index: VectorIndex, tmp_path: Path) -> None:
    vectors = clustered(500)
    index.add(list(range(500)), vectors)
    index.remove([0, 1])
    path = tmp_path / "vectors.idx"
    index.save(path)
    loaded = type(index).load(path)
    assert len(loaded) == 498
    before, after = index.search(vectors[7], 5), loaded.search(vectors[7], 5)
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-5)
    manifest = read_manifest(path)
    assert manifest is not None and manifest["count"] == 498 and manifest["dim"] == DIM


def test_exact_index_grows_past_initial_capacity() -> None:
    vectors = clustered(3000)
    index = ExactIndex(DIM)
    for start in range(0, 3000, 700):
        index.add(list(range(start, min(start + 700, 3000))), vectors[start : start + 700])
    assert len(index) == 3000
    assert index.search(vectors[2999], 1)[0][0] == 2999


def test_ann_recall_against_exact() -> None:
    # Same centres for data and queries (same seed); the 200 queries are not in the index.
    points = clustered(4200, clusters=80)
    vectors, queries = points[:4000], points[4000:]
    ids = list(range(4000))
    exact, ann = build_index(ids, vectors, ann=False), build_index(ids, vectors, ann=True)
    hits = 0
    for query in queries:
        truth = {i for i, _ in exact.search(query, 10)}
        hits += len(truth & {i for i, _ in ann.search(query, 10)})
    assert hits / (10 * len(queries)) >= 0.95


def test_int8_index_rescored_gives_the_exact_scores() -> None:
    """The saved related index keeps int8 vectors; rescored from the stored ones, its answers carry the
    exact cosines, and it finds the exact top 10 as often as the f16 index does."""
    points = clustered(4200, clusters=80)
    vectors, queries = points[:4000], points[4000:]
    ids = list(range(4000))
    exact = build_index(ids, vectors, ann=False)
    reads: list[int] = []

    def load(wanted: list[int] | tuple[int, ...]) -> tuple[list[int], Vectors]:
        reads.extend(wanted)
        return sorted(wanted), vectors[sorted(wanted)]

    rescored = ExactScores(build_index(ids, vectors, params=RELATED_HNSW), DIM, load)
    f16 = build_index(ids, vectors)
    hits, hits_f16 = 0, 0
    for query in queries:
        truth = exact.search(query, 10)
        found = rescored.search(query, 10, exclude={truth[0][0]})
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        assert [s for _, s in found] == pytest.approx([float(vectors[i] @ query) for i, _ in found], abs=1e-6)
        assert truth[0][0] not in dict(found)
        hits += len({i for i, _ in truth[1:]} & {i for i, _ in found})
        hits_f16 += len(
            {i for i, _ in truth[1:]} & {i for i, _ in f16.search(query, 10, exclude={truth[0][0]})}
        )
    assert hits >= hits_f16 - len(queries) * 9 * 0.005
    assert hits / (9 * len(queries)) >= 0.95
    assert len(reads) < 13 * len(queries)  # neighbours read once, while the cache holds them


def test_an_exact_int8_index_rescored_ranks_as_the_float_one() -> None:
    """Semantic search keeps its copy of the stored vectors in int8 (a quarter of the memory) and puts
    the exact cosines back from the stored ones: its top 10 is the float index's, scores and all, but
    for a neighbour within a rounding error of the tenth place; its own estimates are within a
    hundredth of the exact cosines."""
    points = clustered(4200, clusters=80)
    vectors, queries = points[:4000], points[4000:]
    ids = list(range(100, 4100))
    exact, small = build_index(ids, vectors, ann=False), build_index(ids, vectors, ann=False, int8=True)
    assert isinstance(small, ExactIndex) and isinstance(exact, ExactIndex)
    assert small._vectors.nbytes * 4 == exact._vectors.nbytes
    rescored = ExactScores(
        small, DIM, lambda wanted: (sorted(wanted), vectors[[i - 100 for i in sorted(wanted)]])
    )
    same = 0
    for query in queries:
        truth, found = exact.search(query, 10), rescored.search(query, 10)
        assert [s for _, s in found] == pytest.approx(
            [float(vectors[i - 100] @ query) for i, _ in found], abs=1e-6
        )
        estimates = small.search(query, 4000)
        assert [s for _, s in estimates] == pytest.approx(
            sorted((float(vectors[i - 100] @ query) for i in ids), reverse=True), abs=0.02
        )
        same += [i for i, _ in found] == [i for i, _ in truth]
    assert same >= 0.97 * len(queries)


def test_search_expansion_grows_with_the_index_within_bounds() -> None:
    assert search_expansion(50_000, 64) == search_expansion(100_000, 64) == 64
    grown = [search_expansion(n, 64) for n in (200_000, 1_000_000, 3_000_000)]
    assert grown == sorted(grown) and grown[0] > 64 and 240 <= grown[1] <= 270
    assert search_expansion(100_000_000, 64) == EXPANSION_CAP


def test_an_unpinned_expansion_follows_the_size_and_a_pinned_one_stays() -> None:
    size = EXPANSION_SCALE_FROM + 20_000  # just past the floor; 8-d keeps the build to a few seconds
    vectors = np.random.default_rng(3).normal(size=(size, 8)).astype(np.float32)
    ann = AnnIndex(8, replace(DEFAULT_HNSW, connectivity=8, expansion_add=16))  # a cheap graph suffices
    ann.add(range(size), vectors)
    expected = search_expansion(size, DEFAULT_HNSW.expansion_search)
    assert expected > DEFAULT_HNSW.expansion_search
    ann.search(vectors[0], 5)
    assert ann._index.expansion_search == expected  # usearch's own setting, read back
    ann.set_expansion_search(32)
    ann.search(vectors[0], 5)
    assert ann._index.expansion_search == 32


def test_open_index_reuses_matching_file(tmp_path: Path) -> None:
    path = tmp_path / "ann.usearch"
    build_index(list(range(100)), clustered(100), params=RELATED_HNSW).save(path)
    assert len(open_index(path, DIM, expected_count=100)) == 100
    assert len(open_index(path, DIM)) == 100


def test_open_index_builds_an_f16_file_again_as_int8(tmp_path: Path) -> None:
    path = tmp_path / "ann.usearch"
    build_index(list(range(100)), clustered(100), params=DEFAULT_HNSW).save(path)
    assert len(open_index(path, DIM)) == 0
    assert len(open_index(path, DIM, params=DEFAULT_HNSW)) == 100


@pytest.mark.parametrize(
    ("dim", "ann", "expected_count"),
    [(DIM, True, 101), (DIM + 1, True, None), (DIM, False, None)],
    ids=["stale-count", "other-dim", "other-kind"],
)
def test_open_index_returns_empty_when_stale(
    tmp_path: Path, dim: int, ann: bool, expected_count: int | None
) -> None:
    path = tmp_path / "ann.usearch"
    build_index(list(range(100)), clustered(100), params=RELATED_HNSW).save(path)
    opened = open_index(path, dim, ann=ann, expected_count=expected_count)
    assert len(opened) == 0
    assert isinstance(opened, AnnIndex if ann else ExactIndex)


def test_open_index_survives_missing_and_corrupt_files(tmp_path: Path) -> None:
    path = tmp_path / "ann.usearch"
    assert len(open_index(path, DIM)) == 0
    build_index(list(range(100)), clustered(100)).save(path)
    path.write_bytes(b"garbage" * 10)
    assert len(open_index(path, DIM)) == 0
