"""What a large enrichment run keeps out of memory, so that its resident size stays flat in the number
of articles (issue 14, goal 3; figures in docs/benchmarks.md, "Large runs"):

* :class:`LeadSpill`: the lead vectors pass 1 makes and topics read in pass 2 wait in a temporary file;
* :func:`release_freed_memory`: glibc's freed pages handed back after each batch.

The arenas a run's threads share are :mod:`newsdesk.malloc`'s.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .enrich.base import Vectors
from .malloc import libc_function


class LeadSpill:
    """The run's lead vectors (``Work.lead_vector``), from pass 1 (embed) to topics in pass 2, kept in an
    unnamed temporary file instead of memory: the passes need every batch's leads before the first
    topic is scored, so held in memory they grew with the run. They go back exactly as they came (same
    dtype and bytes, so topics are the ones a single batch gives), one batch at a time; the file lives
    in the data folder (the leads come from article texts, which may be sealed) and is gone on close.
    What stays in memory is one offset and the ids of each batch."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder if folder is not None and folder.is_dir() else None
        self._file: IO[bytes] | None = None
        self._chunks: list[tuple[int, np.ndarray[Any, Any], np.dtype[Any], int]] = []

    def __enter__(self) -> LeadSpill:
        self.close()
        self._file = tempfile.TemporaryFile(dir=self._folder)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._chunks = None, []

    def write(self, ids: Sequence[int], vectors: Sequence[Vectors]) -> int:
        """Spill one batch's leads (``vectors[i]`` is ``ids[i]``'s); returns the batch's number."""
        assert self._file is not None, "LeadSpill.write outside its with block"
        matrix = np.ascontiguousarray(np.stack(vectors)) if vectors else np.zeros((0, 0), np.float32)
        offset = self._file.seek(0, 2)
        self._file.write(matrix.tobytes())
        self._chunks.append((offset, np.asarray(ids, dtype=np.int64), matrix.dtype, matrix.shape[1]))
        return len(self._chunks) - 1

    def read(self, batch: int) -> dict[int, Vectors]:
        """Batch number ``batch``'s leads by article id, as they were written."""
        assert self._file is not None, "LeadSpill.read outside its with block"
        offset, ids, dtype, dim = self._chunks[batch]
        self._file.seek(offset)
        data = self._file.read(len(ids) * dim * dtype.itemsize)
        matrix = np.frombuffer(bytearray(data), dtype=dtype).reshape(len(ids), dim)
        return {int(article_id): matrix[n] for n, article_id in enumerate(ids)}

    def __len__(self) -> int:
        return len(self._chunks)


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``). A batch's rows, texts and
    vectors are freed when the next one starts, but glibc keeps the freed pages of its arenas mapped,
    so resident memory climbed with every batch although nothing was held. Elsewhere than glibc this
    does nothing."""
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim(0)


__all__ = ["LeadSpill", "release_freed_memory"]
