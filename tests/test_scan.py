"""The related stage's scan of stored vectors (``enrich/scan.py``): every article keeps exactly the best
cosines a brute-force search over all the vectors at once gives, whatever the chunking."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from newsdesk.enrich import scan
from newsdesk.enrich.scan import Candidates, TopScores
from newsdesk.model import epoch_micros
from newsdesk.runmemory import SCAN_CHUNK, SpilledVectors


def unit_rows(rng: np.random.Generator, rows: int, dim: int = 24) -> np.ndarray:
    matrix = rng.standard_normal((rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def brute_force(queries: np.ndarray, stored: np.ndarray, ids: list[int], width: int) -> list[list[int]]:
    scores = queries @ stored.T
    order = [np.lexsort((np.arange(len(ids)), -row))[:width] for row in scores]
    return [[ids[i] for i in row] for row in order]


def chunked(ids: list[int], stored: np.ndarray, sizes: list[int]) -> list[tuple[list[int], np.ndarray]]:
    out, start = [], 0
    for size in sizes:
        out.append((ids[start : start + size], stored[start : start + size]))
        start += size
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scanned_candidates_are_the_brute_force_best_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stored = unit_rows(rng, 1_500)
    ids = sorted(rng.choice(10**9, size=len(stored), replace=False).tolist())
    queries = unit_rows(rng, 37)
    sizes = rng.integers(1, 64, size=200).tolist()
    chunks = chunked(ids, stored, sizes)
    query_ids = list(range(-37, 0))  # the articles asking: any ids
    found = scan.scan(query_ids, queries, chunks, width=40, slack=64)  # cut back again and again
    expected = brute_force(queries, stored[: sum(len(c[0]) for c in chunks)], ids, 40)
    for row, article_id in enumerate(query_ids):
        got = found[article_id].search(queries[row], 40)
        assert [i for i, _ in got] == expected[row]
        assert all(a[1] >= b[1] for a, b in itertools.pairwise(got))  # best first


def test_rows_are_cut_back_to_the_width_and_their_floor_turns_lower_scores_away() -> None:
    top = TopScores(2, width=3, slack=4)
    top.offer(np.array([[0.1, 0.9, 0.5, 0.7], [0.2, 0.3, 0.4, 0.6]], dtype=np.float32))
    top.offer(np.array([[0.8, 0.2, 0.3, 0.95], [0.1, 0.1, 0.1, 0.1]], dtype=np.float32))
    top.settle()
    places, scores = top.best(0)
    assert places.tolist() == [7, 1, 4] and scores.tolist() == pytest.approx([0.95, 0.9, 0.8])
    places, scores = top.best(1)
    assert places.tolist() == [3, 2, 1] and scores.tolist() == pytest.approx([0.6, 0.4, 0.3])
    with pytest.raises(ValueError, match="wider than the slack"):
        top.offer(np.zeros((2, 5), dtype=np.float32))


def test_a_search_of_the_candidates_leaves_out_the_excluded_and_stops_at_k() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    candidates = Candidates(np.array([3, 2, 0, 1], dtype=np.int32), scores, np.array([9, 1, 3, 5]))
    vector = np.zeros(4, dtype=np.float32)
    assert [i for i, _ in candidates.search(vector, 2, exclude={5})] == [3, 9]
    assert [i for i, _ in candidates.search(vector, 10)] == [5, 3, 9, 1]
    assert candidates.search(vector, 0) == []


def test_a_store_without_vectors_gives_no_candidates() -> None:
    found = scan.scan([4], np.ones((1, 3), dtype=np.float32) / np.sqrt(3), iter(()))
    assert found[4].search(np.zeros(3, dtype=np.float32), 5) == []


def test_spilled_vectors_come_back_exactly_and_only_within_the_time_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    stored = unit_rows(rng, 2 * SCAN_CHUNK + 7)
    ids = list(range(10, 10 + len(stored)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(hours=n) for n in range(len(stored))]
    with SpilledVectors(tmp_path) as spill:
        micros = [epoch_micros(at) for at in times]
        spill.fill(
            (ids[i : i + 100], micros[i : i + 100], stored[i : i + 100]) for i in range(0, len(ids), 100)
        )
        assert len(spill) == len(ids)
        assert list(tmp_path.iterdir()) == []  # unnamed: nothing left behind in the folder
        back = list(spill.within(times[0], times[-1]))
        assert [i for chunk_ids, _ in back for i in chunk_ids] == ids
        assert np.concatenate([m for _, m in back]).tobytes() == stored.tobytes()
        some = list(spill.within(times[1500], times[2000]))
        assert [i for chunk_ids, _ in some for i in chunk_ids] == ids[1500:2001]
        assert np.concatenate([m for _, m in some]).tobytes() == stored[1500:2001].tobytes()
        assert list(spill.within(start - timedelta(days=9), start - timedelta(days=8))) == []
