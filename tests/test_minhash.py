"""MinHash in numpy alone (``enrich/minhash.py``) against datasketch, the library it replaces at run
time: the same hash values (so signatures stored before stay comparable), the same cardinality
estimate, the same LSH banding and the same candidates."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from newsdesk.enrich import dedupe, minhash
from tests.test_dedupe import article, with_typos


def library_signature(text: str) -> np.ndarray:
    """What ``dedupe.signature`` stored when it called datasketch."""
    distinct = sorted(dedupe.shingles(dedupe.tokens(dedupe.strip_quoted(text))))
    found = MinHash(num_perm=dedupe.NUM_PERM, seed=dedupe.SEED, scheme=dedupe.SCHEME)
    found.update_batch(distinct)
    return np.append(np.asarray(found.hashvalues, dtype=np.uint64), np.uint64(len(distinct)))


@pytest.mark.parametrize("seed", range(5))
def test_signatures_equal_the_librarys(seed: int) -> None:
    for text in (article(seed), article(seed, words=6000), "Zürich — 東京の記者が書いた " * 40):
        assert np.array_equal(dedupe.signature(text), library_signature(text))


def test_the_cardinality_estimate_equals_the_librarys() -> None:
    for seed in range(5):
        values = dedupe.hashes(library_signature(article(seed)))
        library = MinHash(num_perm=values.size, seed=dedupe.SEED, scheme=dedupe.SCHEME, hashvalues=values)
        assert minhash.cardinality(values) == pytest.approx(library.count(), rel=1e-12)
    empty = MinHash(num_perm=128, seed=dedupe.SEED, scheme=dedupe.SCHEME)
    assert np.array_equal(minhash.minhash([], 128, dedupe.SEED), empty.hashvalues)
    assert minhash.cardinality(empty.hashvalues) == empty.count()


@pytest.mark.parametrize("num_perm", [64, 128])
def test_the_banding_equals_the_librarys(num_perm: int) -> None:
    for threshold in np.round(np.arange(0.05, 1.0, 0.05), 2):
        assert minhash.bands(float(threshold), num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_a_signature_stored_by_the_library_finds_its_copies() -> None:
    """An index of signatures stored before (datasketch's) has, for a new text, the candidates the
    library's own LSH index has at the same threshold; a replaced signature is no longer found."""
    index = dedupe.NearDuplicateIndex()
    library = MinHashLSH(dedupe.THRESHOLD - dedupe.LSH_SLACK, dedupe.NUM_PERM)
    stored = {}
    for key in range(40):
        stored[key] = library_signature(article(key % 20) if key < 20 else with_typos(article(key)))
        index.add(key, stored[key])
        values = dedupe.hashes(stored[key])
        library.insert(key, MinHash(num_perm=values.size, seed=1, scheme=dedupe.SCHEME, hashvalues=values))
    for seed in (*range(25), 30, 35):
        query = dedupe.signature(with_typos(article(seed), every=9))
        values = dedupe.hashes(query)
        wrapped = MinHash(num_perm=values.size, seed=1, scheme=dedupe.SCHEME, hashvalues=values)
        assert index.candidates(query) == set(library.query(wrapped))
    index.add(3, library_signature(article(99)))
    assert 3 not in index.candidates(stored[3])
