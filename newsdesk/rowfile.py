"""A big lookup table left on disk, read a few rows at a time.

USE's 65 MB embedding table has a row per sentencepiece piece, and a batch of texts uses a few hundred
of them. Held in memory, the table counts in full in every process's resident size. :class:`RowFile`
reads the rows asked for with ``pread`` instead. Reads, not a memory map: a mapped file counts in the
resident size by the page cache's fault-around (64 KiB for each touched row), which took a run's USE
table back to about its full size; rows read are transient, and the file's pages sit in the page
cache, shared and reclaimable. Thread-safe: ``pread`` takes its own offset. Worth it only where a
call reads rows in runs or few of them: py3langid's table, a few hundred scattered rows a text, cost
twice its classification in reads (``extract/langid.py``).
"""

from __future__ import annotations

import os
import weakref
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np


class RowFile:
    """A matrix left on disk in a ``.npy`` file: ``rows[ids]`` reads just the rows of ``ids`` (one
    ``pread`` per run of consecutive ids) and returns them as ``matrix[ids]`` would."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            major, _minor = np.lib.format.read_magic(handle)
            shape, fortran, dtype = _read_header(handle, major)
            self._offset = handle.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: not a C-ordered matrix")
        self.shape, self.dtype = shape, dtype
        self._row_bytes = shape[1] * dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        # finalize, not __del__: it holds os.close itself, so closing works at interpreter exit too
        # (a __del__ run then found the os module already torn down)
        weakref.finalize(self, os.close, self._fd)

    def __getitem__(self, ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = np.empty((len(unique), self.shape[1]), dtype=self.dtype)
        for first, last in _runs(unique):
            view = memoryview(rows[first:last]).cast("B")  # type: ignore[arg-type]
            offset = self._offset + int(unique[first]) * self._row_bytes
            if os.preadv(self._fd, [view], offset) != len(view):
                raise OSError(f"short read from the matrix at row {int(unique[first])}")
        return rows[inverse.reshape(-1)]


def _read_header(handle: Any, major: int) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    if major == 1:
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)


def _runs(ids: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """``[first, last)`` index ranges of ``ids`` (sorted, unique) holding consecutive values."""
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    edges = [0, *breaks.tolist(), len(ids)]
    return list(pairwise(edges))
