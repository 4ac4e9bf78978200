"""What a large enrichment run keeps out of memory, so that its resident size stays flat in the number
of articles (issue 14, goal 3; figures in docs/benchmarks.md, "Large runs"):

* :class:`LeadSpill`: the lead vectors pass 1 makes and topics read in pass 2 wait in a temporary file;
* :class:`SpilledVectors`: the stored vectors a large run's related scans read (enrich/scan.py), copied
  once into a temporary file;
* :func:`release_freed_memory`: glibc's freed pages handed back after each batch.

The arenas a run's threads share are :mod:`newsdesk.malloc`'s.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .enrich.base import Vectors
from .malloc import libc_function
from .model import epoch_micros

SCAN_CHUNK = 1_024
"""Spilled vectors read back at a time: 3.5 MB of float32 at the bundled model's 896 dimensions."""


class _Spill:
    """An unnamed temporary file in the data folder (what is spilled comes from article texts, which may
    be sealed), open within a ``with`` block and gone when it closes."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder if folder is not None and folder.is_dir() else None
        self._file: io.BufferedRandom | None = None

    def __enter__(self) -> Self:
        self.close()
        self._file = tempfile.TemporaryFile(dir=self._folder)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._forget()

    def _forget(self) -> None:
        """Drop what is held in memory about the file's contents."""

    def _open(self) -> io.BufferedRandom:
        assert self._file is not None, f"{type(self).__name__} used outside its with block"
        return self._file


class LeadSpill(_Spill):
    """The run's lead vectors (``Work.lead_vector``), from pass 1 (embed) to topics in pass 2, kept in an
    unnamed temporary file instead of memory: the passes need every batch's leads before the first
    topic is scored, so held in memory they grew with the run. They go back exactly as they came (same
    dtype and bytes, so topics are the ones a single batch gives), one batch at a time. What stays in
    memory is one offset and the ids of each batch."""

    def __init__(self, folder: Path | None = None) -> None:
        self._chunks: list[tuple[int, np.ndarray[Any, Any], np.dtype[Any], int]] = []
        super().__init__(folder)

    def _forget(self) -> None:
        self._chunks = []

    def write(self, ids: Sequence[int], vectors: Sequence[Vectors]) -> int:
        """Spill one batch's leads (``vectors[i]`` is ``ids[i]``'s); returns the batch's number."""
        file = self._open()
        matrix = np.ascontiguousarray(np.stack(vectors)) if vectors else np.zeros((0, 0), np.float32)
        offset = file.seek(0, 2)
        file.write(matrix.tobytes())
        self._chunks.append((offset, np.asarray(ids, dtype=np.int64), matrix.dtype, matrix.shape[1]))
        return len(self._chunks) - 1

    def read(self, batch: int) -> dict[int, Vectors]:
        """Batch number ``batch``'s leads by article id, as they were written."""
        file = self._open()
        offset, ids, dtype, dim = self._chunks[batch]
        file.seek(offset)
        data = file.read(len(ids) * dim * dtype.itemsize)
        matrix = np.frombuffer(bytearray(data), dtype=dtype).reshape(len(ids), dim)
        return {int(article_id): matrix[n] for n, article_id in enumerate(ids)}

    def __len__(self) -> int:
        return len(self._chunks)


class SpilledVectors(_Spill):
    """The stored vectors a large run's batches are scanned against, copied once into an unnamed
    temporary file in the data folder (the vectors come from article texts, which may be sealed) and
    read back a chunk at a time for each batch: read from the store, 100,000 vectors cost ≈ 5 CPU-s a
    batch (a row object each), read from the file a copy from the page cache, which is not the
    process's memory. What stays in memory is each vector's id and time, 16 bytes a vector."""

    def __init__(self, folder: Path | None = None) -> None:
        self._forget()
        super().__init__(folder)

    def _forget(self) -> None:
        self._ids: np.ndarray[Any, np.dtype[np.int64]] = np.zeros(0, dtype=np.int64)
        self._times = np.zeros(0, dtype=np.int64)  # microseconds since the epoch
        self._dim = 0

    def fill(self, chunks: Iterable[tuple[Sequence[int], npt.ArrayLike, Vectors]]) -> None:
        """Copy in the (ids, their times in microseconds since the epoch, their vectors) of ``chunks``
        (``Store.embeddings_between``'s), in the order given."""
        file = self._open()
        ids, times = [], []
        for chunk_ids, chunk_times, matrix in chunks:
            if not len(chunk_ids):
                continue
            self._dim = matrix.shape[1]
            file.write(np.ascontiguousarray(matrix, dtype=np.float32).tobytes())
            ids.append(np.asarray(chunk_ids, dtype=np.int64))
            times.append(np.asarray(chunk_times, dtype=np.int64))
        if ids:
            self._ids, self._times = np.concatenate(ids), np.concatenate(times)

    def within(self, since: datetime, until: datetime) -> Iterator[tuple[list[int], Vectors]]:
        """The vectors whose time lies in ``[since, until]``, at most :data:`SCAN_CHUNK` at a time."""
        file = self._open()
        wanted = (self._times >= epoch_micros(since)) & (self._times <= epoch_micros(until))
        row_bytes = self._dim * 4
        buffer = bytearray(SCAN_CHUNK * row_bytes)
        for start in range(0, len(self._ids), SCAN_CHUNK):
            take = wanted[start : start + SCAN_CHUNK]
            if not take.any():
                continue
            file.seek(start * row_bytes)
            got = file.readinto(memoryview(buffer)[: len(take) * row_bytes])
            matrix = np.frombuffer(buffer, dtype=np.float32, count=got // 4).reshape(-1, self._dim)
            yield self._ids[start : start + SCAN_CHUNK][take].tolist(), matrix[take]

    def __len__(self) -> int:
        return len(self._ids)


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``). A batch's rows, texts and
    vectors are freed when the next one starts, but glibc keeps the freed pages of its arenas mapped,
    so resident memory climbed with every batch although nothing was held. Elsewhere than glibc this
    does nothing."""
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim(0)


__all__ = ["SCAN_CHUNK", "LeadSpill", "SpilledVectors", "release_freed_memory"]
