"""Nearest-neighbour search over article vectors behind one small interface.

- :class:`ExactIndex` — numpy brute force: exact, the reference every other index is measured against,
  and fast enough for small stores; its cost grows linearly with the store.
- :class:`AnnIndex` — usearch HNSW with cosine metric: about a millisecond a query from 100k to 1M
  vectors (bench/related.py; latencies in docs/benchmarks.md, "Related-article queries").
- A PostgreSQL pgvector adapter can implement the same :class:`VectorIndex` protocol.

All vectors are unit length (see :data:`~newsdesk.enrich.base.Vectors`), so scores are cosine
similarities, best first. ``add`` with an id already present replaces its vector; ``remove`` ignores ids
it does not hold.

Persistence: ``save`` writes the index file atomically plus a JSON manifest beside it (kind, dim, count,
HNSW parameters). :func:`open_index` returns the saved index when the manifest matches, otherwise an
empty one; the caller compares ``len(index)`` with its stored vector count and rebuilds from the stored
vectors when they differ (a crash between saving vectors and saving the index leaves a stale file)::

    index = open_index(path, dim=embedder.dim, expected_count=store.vector_count())
    if len(index) != store.vector_count():
        index = build_index(*store.all_vectors(), ann=True); index.save(path)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from newsdesk.enrich.base import Vectors
from newsdesk.errors import EnrichmentError
from newsdesk.unpacked import written

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".json"
INITIAL_CAPACITY = 1024


@dataclass(frozen=True)
class HnswParams:
    """usearch HNSW parameters; the values come from bench/related.py (docs/benchmarks.md).

    On 100k synthetic news-like vectors (stories within topics, ``--data topics``) expansion_add 128
    lifts recall@10 at expansion_search 64 from 0.896 to 0.987 for a slower build (CPU in the doc);
    f16 storage halves memory against f32 at no recall cost (0.888 vs 0.896 at expansion_add 64);
    connectivity 32 adds 0.011 for more memory and query time. ``expansion_search`` is the floor of the
    size-scaled search expansion (:func:`search_expansion`). ``dtype="i8"`` stores each vector scaled
    to its own largest component (:func:`_int8`), not usearch's fixed scale, which lost recall (0.945):
    see :data:`RELATED_HNSW`.
    """

    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64
    dtype: str = "f16"  # storage precision of the vectors inside the index; queries stay f32


EXPANSION_SCALE_FROM = 100_000
EXPANSION_SCALE_POWER = 0.6
EXPANSION_CAP = 512
"""Search expansion grows with the index: ``floor × (size / 100k)^0.6``, at most 512, so 1M vectors
search with ≈ 254. Measured at 1M (``--data topics``, expansion_add 128): expansion 64 → recall@10 0.655,
128 → 0.797, 256 → 0.909 within the latency goal (p95 ≤ 10 ms; docs/benchmarks.md); at 100k, 64
already gives 0.987."""


def search_expansion(size: int, floor: int) -> int:
    """The HNSW search expansion for an index of ``size`` vectors (see :data:`EXPANSION_CAP`)."""
    if size <= EXPANSION_SCALE_FROM:
        return floor
    scaled = floor * (size / EXPANSION_SCALE_FROM) ** EXPANSION_SCALE_POWER
    return max(floor, min(EXPANSION_CAP, int(scaled)))


DEFAULT_HNSW = HnswParams()
RELATED_HNSW = HnswParams(dtype="i8")
"""The saved related index (``vectors.usearch``): int8 vectors, 896 bytes a bundled-model vector
against 1,792 in f16, so ≈ 1.3 KB an article with the graph instead of ≈ 2.0 KB (bench/related.py
``--stage``; docs/benchmarks.md, "Large runs"). Its candidates are scored again from the stored f32
vectors (:class:`ExactScores`), so what the related stage sees is exact, not the index's estimate."""

RESCORE_MARGIN = 0.25
""":class:`ExactScores` asks the index for ``k`` plus this share more, then keeps the ``k`` best exact
scores: the estimate may misplace a neighbour at the edge of the ``k``. At 30,000 clustered 896-d
vectors, recall@10 against exact search: 0.991 from the int8 index alone, 0.997 rescored from 13
(the same from 50, and as f16's rescored), bench/related.py."""
RESCORE_MARGIN_CAP = 16  # a widened search (200–2,000) discards most of its candidates anyway: no more
RESCORE_CACHE = 4096  # stored vectors ExactScores keeps between searches: 14 MB at 896 dimensions


class Searchable(Protocol):
    """What a reader of an index needs: the related stage searches and never adds."""

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        """Up to ``k`` (id, cosine) pairs, best first, never an id in ``exclude``."""
        ...


@runtime_checkable
class VectorIndex(Protocol):
    """What the related-articles stage and the store need from a vector index."""

    def add(self, ids: Sequence[int], vectors: Vectors) -> None: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        """Up to ``k`` (id, cosine) pairs, best first, never an id in ``exclude``."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def ids(self) -> list[int]:
        """Every id held, in no set order (a kept index reconciles them with the store's)."""
        ...

    def save(self, path: Path, *, extra: Mapping[str, Any] | None = None) -> None:
        """Write atomically, with a manifest beside it (see :func:`open_index`), ``extra`` in it too."""
        ...

    @classmethod
    def load(cls, path: Path) -> Self: ...


# ---------------------------------------------------------------------------------------------- helpers


def _as_matrix(vectors: Vectors, dim: int) -> Vectors:
    matrix: Vectors = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise EnrichmentError(f"expected vectors of dimension {dim}, got shape {np.shape(vectors)}")
    return np.ascontiguousarray(matrix)


def _as_ids(ids: Sequence[int], count: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    array = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(array) != count:
        raise EnrichmentError(f"{len(array)} ids for {count} vectors")
    if len(np.unique(array)) != len(array):
        raise EnrichmentError("duplicate ids in one add() call")
    return array


def _query(vector: Vectors, dim: int) -> Vectors:
    matrix = _as_matrix(vector, dim)
    if matrix.shape[0] != 1:
        raise EnrichmentError(f"search takes one vector, got {matrix.shape[0]}")
    query: Vectors = matrix[0]
    return query


def _int8(matrix: Vectors) -> np.ndarray[Any, np.dtype[np.int8]]:
    """Each row scaled so its largest component is ±127, then rounded. A cosine ignores a row's scale,
    so the scale costs nothing, and a unit vector of 896 dimensions (components ≈ ±0.03) keeps ≈ 7 bits
    of each component instead of the 2–3 usearch's own conversion (×127) left it."""
    peak = np.maximum(np.abs(matrix).max(axis=1, keepdims=True), np.float32(1e-12))
    scaled: np.ndarray[Any, np.dtype[np.int8]] = np.rint(matrix * (np.float32(127.0) / peak)).astype(np.int8)
    return scaled


def _best(pairs: list[tuple[int, float]], k: int, exclude: Collection[int]) -> list[tuple[int, float]]:
    return [(i, s) for i, s in pairs if i not in exclude][:k]


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, sort_keys=True)
    written(_manifest_path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest saved beside ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(_manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------- exact


class ExactIndex:
    """Brute-force cosine search over a growable numpy matrix; rows are swap-deleted on remove.

    ``int8=True`` keeps each row as :func:`_int8` makes it: a quarter of the memory (896 bytes a vector
    at the bundled model's 896 dimensions, not 3,584). Its searches are usearch's exact scan of the
    int8 rows (SIMD, no float copy of them: 17 CPU-ms at 100,000 rows where numpy's float32 product
    took 29), and each score is the cosine of the rounded query with the rounded row, within a few
    thousandths of the exact one (:class:`ExactScores` puts the exact ones back)."""

    kind = "exact"

    def __init__(self, dim: int, *, int8: bool = False) -> None:
        self.dim = dim
        self._int8 = int8
        dtype = np.int8 if int8 else np.float32
        self._vectors: np.ndarray[Any, Any] = np.zeros((INITIAL_CAPACITY, dim), dtype=dtype)
        self._ids: np.ndarray[Any, np.dtype[np.int64]] = np.zeros(INITIAL_CAPACITY, dtype=np.int64)
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def ids(self) -> list[int]:
        return list(self._rows)

    def add(self, ids: Sequence[int], vectors: Vectors) -> None:
        matrix = _as_matrix(vectors, self.dim)
        keys = _as_ids(ids, len(matrix))
        self.remove(keys.tolist())
        self._reserve(len(self) + len(keys))
        start = len(self)
        self._vectors[start : start + len(keys)] = _int8(matrix) if self._int8 else matrix
        self._ids[start : start + len(keys)] = keys
        self._rows.update({int(key): start + offset for offset, key in enumerate(keys)})

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        grown = max(needed, capacity * 2)
        self._vectors = np.resize(self._vectors, (grown, self.dim))
        self._ids = np.resize(self._ids, grown)

    def remove(self, ids: Sequence[int]) -> None:
        for key in ids:
            row = self._rows.pop(int(key), None)
            if row is None:
                continue
            last = len(self._rows)  # index of the last live row, now that one is gone
            if row != last:
                moved = int(self._ids[last])
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._rows[moved] = row

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        n = len(self)
        wanted = min(n, k + len(exclude))
        if k <= 0 or wanted == 0:
            return []
        query = _query(vector, self.dim)
        if self._int8:
            rows, cosines = _int8_scan(self._vectors[:n], query, wanted)
            found = [(int(self._ids[row]), cosine) for row, cosine in zip(rows, cosines, strict=True)]
            return _best(found, k, exclude)
        scores = self._vectors[:n] @ query
        top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        pairs = [(int(self._ids[row]), float(scores[row])) for row in top]
        return _best(pairs, k, exclude)

    def save(self, path: Path, *, extra: Mapping[str, Any] | None = None) -> None:
        n = len(self)

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:  # a file object: np.savez would append ".npz" to a name
                np.savez(handle, ids=self._ids[:n], vectors=self._vectors[:n])

        written(path, write)
        _write_manifest(path, {**(extra or {}), "kind": self.kind, "dim": self.dim, "count": n})

    @classmethod
    def load(cls, path: Path) -> ExactIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                ids, vectors = data["ids"], data["vectors"]
        except (OSError, ValueError, KeyError) as e:
            raise EnrichmentError(f"cannot read vector index {path}: {e}") from e
        index = cls(int(vectors.shape[1]), int8=vectors.dtype == np.int8)
        index.add(ids.tolist(), vectors.astype(np.float32))  # int8 rows come back as they were rounded
        return index


def _int8_scan(rows: np.ndarray[Any, Any], query: Vectors, count: int) -> tuple[list[int], list[float]]:
    """The ``count`` rows nearest ``query`` by cosine (row numbers, cosines; best first): usearch's
    exact search over the int8 rows, one thread, the query rounded as the rows were."""
    _usearch_index()  # the C++ runtime first (see there)
    from usearch.index import search

    found = search(rows, _int8(query.reshape(1, -1))[0], count, metric="cos", exact=True, threads=1)
    return found.keys.tolist(), (1.0 - found.distances).tolist()


# ---------------------------------------------------------------------------------------------- ann


@cache  # the runtime is loaded once a process, not at every search of an int8 exact index
def _usearch_index() -> Any:
    """usearch's ``Index``, imported after the system C++ runtime is loaded with global symbols.

    usearch's extension carries its own static copy of libstdc++ and exports it. Loaded first into a
    process without the shared libstdc++, its copy's unique symbols are the ones the shared library
    binds to when a later module brings it in: importing onnxruntime after usearch then segfaults
    (reproduced with these two imports alone, in any thread). scipy and scikit-learn, imported at start
    before, loaded the shared runtime first and hid it. Loading it here first keeps the order safe."""
    import ctypes

    # By its soname, not ctypes.util.find_library: that runs ldconfig in a child process, a fork of this
    # one (with the models loaded, hundreds of MB of resident memory counted twice while it lives).
    with contextlib.suppress(OSError):  # no shared libstdc++ (not glibc Linux): nothing to put first
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    from usearch.index import Index

    return Index


class AnnIndex:
    """usearch HNSW (cosine). Scores are ``1 - distance``; over-fetches by ``len(exclude)``."""

    kind = "hnsw"

    def __init__(self, dim: int, params: HnswParams = DEFAULT_HNSW, *, _index: Any = None) -> None:
        self.dim = dim
        self.params = params
        self._index: Any = _index or _usearch_index()(ndim=dim, metric="cos", **asdict(params))
        self._pinned = False  # set_expansion_search fixes the expansion; else it grows with the index

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and key >= 0 and bool(self._index.contains(key))

    def ids(self) -> list[int]:
        keys: list[int] = self._index.keys[:].tolist()  # a slice is an array (no numpy __array__ warning)
        return keys

    def set_expansion_search(self, value: int) -> None:
        """Pin the search expansion (trading query speed for recall without a rebuild: the graph does
        not depend on it) instead of letting it grow with the index."""
        self.params = replace(self.params, expansion_search=value)
        self._index.expansion_search = value
        self._pinned = True

    @property
    def memory_bytes(self) -> int:
        """usearch's own account of the graph plus vectors."""
        return int(self._index.memory_usage)

    def add(self, ids: Sequence[int], vectors: Vectors) -> None:
        matrix = _as_matrix(vectors, self.dim)
        keys = _as_ids(ids, len(matrix))
        present = keys[np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)]
        if len(present):
            self._index.remove(present)
        # One thread: inserts made in parallel build a different graph each time, so the same articles
        # got different related lists from run to run (the golden demo export caught it).
        self._index.add(keys.astype(np.uint64), self._stored(matrix), threads=1)

    def _stored(self, matrix: Vectors) -> Any:
        """``matrix`` as the index stores it: int8 rows of their own scale for ``i8`` (see :func:`_int8`)."""
        return _int8(matrix) if self.params.dtype == "i8" else matrix

    def remove(self, ids: Sequence[int]) -> None:
        keys = np.asarray(ids, dtype=np.uint64).reshape(-1)
        if len(keys):
            self._index.remove(keys)

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        wanted = min(len(self), k + len(exclude))
        if k <= 0 or wanted == 0:
            return []
        if not self._pinned:
            expansion = search_expansion(len(self), self.params.expansion_search)
            if self._index.expansion_search != expansion:
                self._index.expansion_search = expansion
        # One thread: a single query gains nothing from a pool and pays its wake-up latency.
        matches = self._index.search(self._stored(_query(vector, self.dim)[None])[0], wanted, threads=1)
        pairs = [(int(key), 1.0 - float(d)) for key, d in zip(matches.keys, matches.distances, strict=True)]
        return _best(pairs, k, exclude)

    def save(self, path: Path, *, extra: Mapping[str, Any] | None = None) -> None:
        written(path, lambda tmp: self._index.save(str(tmp)))
        manifest = {
            **(extra or {}),
            "kind": self.kind,
            "dim": self.dim,
            "count": len(self),
            **asdict(self.params),
        }
        _write_manifest(path, manifest)

    @classmethod
    def load(cls, path: Path) -> AnnIndex:
        manifest = read_manifest(path) or {}
        params = HnswParams(**{k: manifest[k] for k in asdict(DEFAULT_HNSW) if k in manifest})
        try:
            restored: Any = _usearch_index().restore(str(path))  # Any: usearch's setter typing confuses mypy
        except (OSError, RuntimeError, ValueError) as e:
            raise EnrichmentError(f"cannot read vector index {path}: {e}") from e
        if restored is None:
            raise EnrichmentError(f"cannot read vector index {path}: not a usearch file")
        restored.expansion_search = params.expansion_search  # not stored in the usearch file
        return cls(int(restored.ndim), params, _index=restored)


# ---------------------------------------------------------------------------------------------- exact


class ExactScores:
    """An index's answers scored again from the stored vectors: the index finds the candidates, the
    stored f32 vectors give their cosines, best first. ``load`` is the store's read of vectors by id
    (``Store.load_embeddings``); at most :data:`RESCORE_CACHE` of them are kept between searches, the
    oldest read dropped first (the related stage's searches of one story mostly return the same
    neighbours). An id ``load`` does not return keeps the index's score."""

    def __init__(
        self, index: Searchable, dim: int, load: Callable[[Sequence[int]], tuple[list[int], Vectors]]
    ):
        self._index = index
        self.dim = dim
        self._load = load
        self._rows: dict[int, Vectors] = {}

    def search(self, vector: Vectors, k: int, *, exclude: Collection[int] = ()) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        margin = min(RESCORE_MARGIN_CAP, max(1, int(k * RESCORE_MARGIN)))
        pairs = self._index.search(vector, k + margin, exclude=exclude)
        self._read([i for i, _ in pairs])
        known = [n for n, (i, _) in enumerate(pairs) if i in self._rows]
        if known:  # one product for them all: a widened search rescores up to 2,016 candidates
            rows = np.stack([self._rows[pairs[n][0]] for n in known])
            # einsum, not BLAS: a matrix-vector product through multi-threaded BLAS cost 6–10 CPU-ms at
            # 1,000 × 896 on the loaded box (its threads spin), einsum 0.3–0.4 ms (docs/benchmarks.md)
            exact = np.einsum("ij,j->i", rows, _query(vector, self.dim)).tolist()
            pairs = list(pairs)
            for n, score in zip(known, exact, strict=True):
                pairs[n] = (pairs[n][0], float(score))
        return sorted(pairs, key=lambda pair: -pair[1])[:k]

    def _read(self, ids: list[int]) -> None:
        missing = [i for i in ids if i not in self._rows]
        if not missing:
            return
        if (excess := len(self._rows) + len(missing) - RESCORE_CACHE) > 0:  # the oldest read go first
            for stale in list(itertools.islice(self._rows, excess)):
                del self._rows[stale]
        found, matrix = self._load(missing)
        self._rows.update(zip(found, matrix, strict=True))


# ---------------------------------------------------------------------------------------------- factory


def build_index(
    ids: Sequence[int],
    vectors: Vectors,
    *,
    ann: bool = True,
    params: HnswParams = DEFAULT_HNSW,
    int8: bool = False,
) -> VectorIndex:
    """A fresh index holding ``vectors`` (the rebuild path after a missing or stale file); ``int8``: an
    exact index's rows rounded to int8 (:class:`ExactIndex`)."""
    dim = _as_matrix(vectors, np.shape(vectors)[-1]).shape[1]
    index: VectorIndex = AnnIndex(dim, params) if ann else ExactIndex(dim, int8=int8)
    index.add(ids, vectors)
    return index


def open_index(
    path: Path,
    dim: int,
    *,
    ann: bool = True,
    expected_count: int | None = None,
    params: HnswParams = RELATED_HNSW,
) -> VectorIndex:
    """The index saved at ``path`` if its manifest matches (kind, dim, the HNSW storage precision, and
    ``expected_count`` when given), else an empty index of the requested kind that the caller fills from
    stored vectors (so an f16 file of an older version is built again as int8, once).

    A mismatch is logged, never raised: the index is a cache of the store, so a bad file costs a rebuild.
    """
    kind = AnnIndex.kind if ann else ExactIndex.kind
    empty: VectorIndex = AnnIndex(dim, params) if ann else ExactIndex(dim)
    manifest = read_manifest(path)
    reason = _stale_reason(manifest, kind, dim, expected_count, path)
    if reason is None and ann and (manifest or {}).get("dtype", DEFAULT_HNSW.dtype) != params.dtype:
        reason = "storage precision changed"
    if reason:
        log.info("vector index not reused", extra={"path": str(path), "reason": reason})
        return empty
    try:
        return AnnIndex.load(path) if ann else ExactIndex.load(path)
    except EnrichmentError as e:
        log.warning("vector index unreadable", extra={"path": str(path), "reason": str(e)})
        return empty


def _stale_reason(
    manifest: dict[str, Any] | None, kind: str, dim: int, expected_count: int | None, path: Path
) -> str | None:
    if manifest is None or not path.is_file():
        return "missing"
    if manifest.get("kind") != kind or manifest.get("dim") != dim:
        return "kind or dimension changed"
    if expected_count is not None and manifest.get("count") != expected_count:
        return "count differs from store"
    return None
