"""``similarity.stored_overlaps`` (one article's sketch against many stored ones, in array operations)
gives, pair for pair, the float that reading each stored sketch and ``stored_overlap`` give: the related
stage ranks by these scores, so they must be equal, not close."""

from __future__ import annotations

import numpy as np
import pytest

from newsdesk.enrich.similarity import (
    NAMES_CAP,
    SketchKey,
    names_to_bytes,
    read_sketch,
    stored_overlap,
    stored_overlaps,
)

KEYS = [None, SketchKey(b"1" * 32), SketchKey(b"2" * 32)]


def stored(rng: np.random.Generator, pool: int, key: SketchKey | None) -> bytes | None:
    """A sketch as the store keeps one (unique hashes, ascending, cut at the cap, after its key's tag),
    of a random size that is often exactly the cap; None now and then (stored before names), and a
    damaged row (bytes of no known shape) now and then."""
    draw = rng.random()
    if draw < 0.04:
        return None
    if draw < 0.06:
        return b"\x07\x01\x02"
    size = NAMES_CAP if rng.random() < 0.3 else int(rng.integers(0, NAMES_CAP))
    values = rng.choice(pool, size=min(pool, size + int(rng.integers(0, 40))), replace=False)
    return names_to_bytes(np.unique(values.astype(np.uint32))[:NAMES_CAP], key)


@pytest.mark.parametrize("seed", range(12))
def test_many_at_once_equal_one_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = int(rng.choice([80, 300, 2_000]))  # small pools: shared names, sketches cut at the cap
    first = read_sketch(stored(rng, pool, KEYS[seed % 2]))
    others = [stored(rng, pool, KEYS[int(rng.integers(0, 3))]) for _ in range(400)]
    expected = [stored_overlap(first, read_sketch(other)) for other in others]
    assert stored_overlaps(first, others) == expected
    if first is not None and first.names.size:
        assert any(0.0 < value < 1.0 for value in expected)  # the draw exercised partial overlaps


def test_edges() -> None:
    full = np.arange(10, 10 + NAMES_CAP * 3, 3, dtype=np.uint32)
    first = read_sketch(names_to_bytes(full))
    beyond = names_to_bytes(np.array([10, 13, 999_999], dtype=np.uint32))  # 999,999: above full's top
    others = [names_to_bytes(full), b"", None, beyond, names_to_bytes(full, KEYS[1])]
    assert stored_overlaps(first, others) == [1.0, 0.0, 0.0, 1.0, 0.0]  # the last: another key
    assert stored_overlaps(None, [names_to_bytes(full)]) == [0.0]
    assert stored_overlaps(read_sketch(b""), [names_to_bytes(full)]) == [0.0]
    assert stored_overlaps(first, []) == []
