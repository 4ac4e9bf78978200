"""MinHash values and the LSH banding in numpy alone: the arithmetic of datasketch's ``affine64``
scheme, without importing datasketch.

Importing datasketch loads its whole package, whose LSH module imports scipy only to integrate two
polynomials when it picks its banding: in every run and desk process, for one 128-value minimum over
each text's shingles (docs/benchmarks.md, "Lean pipeline"). Here the same construction takes a few
lines; the hash values equal datasketch's bit for bit (``tests/test_minhash.py`` checks it against the
library), so signatures stored by earlier versions stay comparable with new ones::

    shingle ─► first 8 bytes of SHA-1 (little-endian uint64) ─► MurmurHash3 64-bit finaliser
            ─► a_k · h + b_k  (mod 2^64, a_k odd, k = 1 … num_perm) ─► minimum over the shingles

``a`` and ``b`` come from numpy's legacy ``RandomState(seed)``, drawn as datasketch draws them.

Contract: pure functions of their arguments (the band index itself is ``dedupe.NearDuplicateIndex``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Values = npt.NDArray[np.uint64]

MAX_HASH = np.uint64(2**64 - 1)  # the value of an empty minimum (no shingle seen)
# MurmurHash3's 64-bit finaliser (fmix64): shift, multiplier, shift, multiplier, shift.
_FMIX = (
    np.uint64(33),
    np.uint64(0xFF51AFD7ED558CCD),
    np.uint64(33),
    np.uint64(0xC4CEB9FE1A85EC53),
    np.uint64(33),
)
_CHUNK = 4_096  # shingles per step: bounds the (shingles × num_perm) temporary to 4 MiB at 128 values
# Gauss-Legendre nodes for the banding integrals: the integrands are polynomials of degree b·r ≤ num_perm,
# which n nodes integrate exactly up to degree 2n - 1.
_QUADRATURE_NODES = 256


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[Values, Values]:
    """The affine maps' ``a`` (odd) and ``b``, as datasketch draws them for ``affine64``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def base_hashes(items: Sequence[bytes]) -> Values:
    """Each item's SHA-1 cut to its first 8 bytes, read little-endian, then mixed by fmix64."""
    digests = b"".join(hashlib.sha1(item).digest()[:8] for item in items)
    hv = np.frombuffer(digests, dtype="<u8").astype(np.uint64)
    s1, m1, s2, m2, s3 = _FMIX
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


def minhash(items: Sequence[bytes], num_perm: int, seed: int) -> Values:
    """The ``num_perm`` MinHash values of the set ``items`` (all :data:`MAX_HASH` when it is empty)."""
    a, b = permutations(num_perm, seed)
    out = np.full(num_perm, MAX_HASH, dtype=np.uint64)
    hv = base_hashes(items)
    for start in range(0, hv.size, _CHUNK):
        column = hv[start : start + _CHUNK].reshape(-1, 1)
        np.minimum(out, (column * a + b).min(axis=0), out=out)  # uint64 arithmetic wraps: mod 2^64
    return out


def cardinality(values: Values) -> float:
    """The estimated number of distinct items behind ``values`` (datasketch's ``MinHash.count``)."""
    return float(values.size / np.sum(values / float(MAX_HASH)) - 1.0)


@functools.lru_cache(maxsize=32)
def bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that minimise the false positive plus false negative probability mass
    around ``threshold``, equally weighted: datasketch's choice for its default weights, computed
    with exact quadrature instead of scipy's adaptive integration."""
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    below = threshold * (nodes + 1.0) / 2.0  # nodes mapped onto [0, threshold]
    above = threshold + (1.0 - threshold) * (nodes + 1.0) / 2.0  # … and onto [threshold, 1]
    best, found = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = threshold / 2.0 * float(weights @ (1.0 - (1.0 - below**r) ** b))
            false_negative = (1.0 - threshold) / 2.0 * float(weights @ ((1.0 - above**r) ** b))
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best:
                best, found = error, (b, r)
    return found
