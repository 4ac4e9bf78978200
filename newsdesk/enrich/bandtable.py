"""The near-duplicate index's LSH band keys -> slots, compactly, the large part out of memory.

A band entry is one ``uint64``, ``key << 32 | slot``. Entries are kept in sorted runs: the latest
signatures' keys wait in two small dicts and become a run every :data:`MERGE_EVERY` signatures; the
newest run is merged into the one before while that one is not much larger (:data:`MERGE_RATIO`), a
piece at a time (:func:`_merge`). A key's entries are the range ``[key << 32, key << 32 | 0xFFFFFFFF]``
of a run.

Small runs live in memory maps of their own. A run of :data:`FILE_ENTRIES` or more, given a folder, is
written to an unnamed file there, and only every :data:`FENCE`-th entry of it stays in memory: a key is
looked for in the one 4 KiB window of the file that the fences point at, read with ``pread``. The
entries of the large runs grow with every article of the near-duplicate window (≈ 0.5 KB an article,
55 MB at 100,000 in one go); in the file they are the kernel's page cache, which it may drop and read
again, not the process's memory (docs/benchmarks.md, "The band keys in a file").
"""

from __future__ import annotations

import itertools
import logging
import mmap
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Entries = npt.NDArray[np.uint64]

MERGE_EVERY = 512
"""Signatures held in the small dicts (about 51 entries each) before they become a run. The dicts' Python
objects, about 80 bytes an entry (tracemalloc), are the one part of the table not paid per article:
2.1 MB at 512. bench/neardup_memory.py at 100,000 articles: 458 bytes an article resident at 512, 449
at 256, 514 at 1,024; fewer signatures held mean more small runs to search."""

MERGE_RATIO = 4
"""The newest run is merged into the one before while that one is at most this many times its size
(1 would be a binary counter). Over the 586 runs made for 300,000 articles a query searches 2.8 runs
on average instead of 4.4, for 10.8 copies of an entry in merges instead of 8.6 (a count of the
policy). Timed query by query beside the old index in one process (two rounds, medians): candidates
in 0.90 of its time at 4, 1.00 at 1; adds cost the same at both (docs/benchmarks.md, "Near-duplicate
band keys, packed (h2)")."""

MERGE_CHUNK = 2**16
"""Entries (8 bytes each) a merge takes from each run at a time (:func:`_merge`), so that its peak stays
about 2 MiB over what the two runs held, whatever their size. Merging two runs of 32 MiB: 2**12
entries 90 CPU-ms, peak +2.1 MiB; 2**14 71-78 ms, +2.0; 2**16 59-67 ms, +1.9-2.3; 2**18 71 ms, +5.8;
2**20 97 ms, +23.8."""

FILE_ENTRIES = 2**19
"""Runs this large (4 MiB) or larger go to the file when the table has a folder. The runs in memory then
hold at most a few MiB whatever the index's size, and a query reads the file only for the few large runs
(bench/neardup_memory.py; docs/benchmarks.md, "The band keys in a file")."""

FENCE = 511
"""Every FENCE-th entry of a file run is kept in memory: a key's first entry lies in the window of
``FENCE + 1`` entries (4 KiB) that starts at the last fence below the key. 8 bytes in memory for 4 KiB
in the file."""

_SHIFT = np.uint64(32)  # a packed entry is key << 32 | slot
_LOW = np.uint64(0xFFFF_FFFF)  # its slot; or'ed into a key's entries' lowest value, above all of them
_PRIVATE: int | None = getattr(mmap, "MAP_PRIVATE", None)
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)
_HUGEPAGE: int | None = getattr(mmap, "MADV_HUGEPAGE", None)


class _Run(Protocol):
    """A sorted run of entries, wherever it is kept."""

    size: int

    def read(self, start: int, end: int) -> Entries:
        """Its entries ``start`` … ``end`` - 1 (fewer at its end)."""
        ...

    def entries(self, lowest: Entries) -> list[Entries]:
        """Its entries whose key is one of ``lowest >> 32`` (sorted), in slices."""
        ...

    def release(self, start: int, end: int) -> None:
        """A merge has read its entries up to ``end`` and will not read them again."""
        ...

    def close(self) -> None:
        """It is merged away: what it holds goes back."""
        ...


class BandTable:
    """LSH band keys -> slots: sorted runs of packed entries plus the latest signatures' keys in two
    small dicts (the module's docstring has the shape). With ``folder``, runs of
    :data:`FILE_ENTRIES` or more are kept in an unnamed file there; when a file cannot be made or
    written (the disk is full, the folder gone) the table logs it once and keeps its runs in memory.

    datasketch's ``MinHashLSH`` keeps each band as bytes in Python dicts and sets: several times the
    size of the signature itself. Packed, an entry is 8 bytes, sorted in place (no index array). A key is
    a hash of the band's values, so two signatures sharing a band always share its key; a key shared by
    chance only adds a candidate, which the exact Jaccard check then turns away."""

    def __init__(self, folder: Path | None = None) -> None:
        self._runs: list[_Run] = []
        self._recent: dict[int, int] = {}  # key -> the first of the recent signatures' slots with it
        self._again: dict[int, list[int]] = {}  # key -> the others (a copy's, or a key shared by chance)
        self._pending: Entries = np.zeros(0, dtype=np.uint64)  # the recent signatures' entries, unsorted
        self._filled = 0
        self._folder = folder
        # read when the table is made, so that a test may set small ones on the module
        self._merge_every, self._ratio, self._chunk = MERGE_EVERY, MERGE_RATIO, MERGE_CHUNK
        self._file_entries, self._fence = FILE_ENTRIES, FENCE

    def add(self, keys: npt.NDArray[np.uint32], slot: int) -> None:
        """Index ``keys`` (of one size in a table) under ``slot`` (below 2**32 - 1)."""
        if self._filled + keys.size > self._pending.size:
            self._flush()
            self._pending = np.empty(self._merge_every * keys.size, dtype=np.uint64)
        self._remember(keys.tolist(), slot)
        entries = self._pending[self._filled : self._filled + keys.size]
        np.left_shift(keys, _SHIFT, out=entries)
        entries |= np.uint64(slot)
        self._filled += keys.size
        if self._filled == self._pending.size:
            self._flush()

    def _remember(self, keys: list[int], slot: int) -> None:
        """The recent signatures' keys, for :meth:`find` until they are in a run."""
        if self._recent.keys().isdisjoint(keys):  # nearly always: one step in C, no loop in Python
            self._recent.update(zip(keys, itertools.repeat(slot)))
            return
        for key in keys:
            if key in self._recent:
                self._again.setdefault(key, []).append(slot)
            else:
                self._recent[key] = slot

    def find(self, keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """The slots sharing at least one key with ``keys`` (a slot may come more than once)."""
        lowest = np.sort(keys).astype(np.uint64) << _SHIFT  # sorted: each search starts at the last
        listed = keys.tolist()
        recent = [slot for slot in map(self._recent.get, listed) if slot is not None]
        if self._again:
            recent.extend(slot for key in listed for slot in self._again.get(key, ()))
        found = [np.array(recent, dtype=np.uint64)]
        for run in self._runs:
            found.extend(run.entries(lowest))
        return (np.concatenate(found) & _LOW).astype(np.intp)

    def runs(self) -> list[tuple[int, bool]]:
        """Each run's size and whether it is in the file, oldest first (for tests and benchmarks)."""
        return [(run.size, isinstance(run, _FileRun)) for run in self._runs]

    def _flush(self) -> None:
        """The recent signatures become a run, merged into the ones before while they are not much
        larger (``ratio``)."""
        if self._filled:
            run = _MemoryRun(_mapped(self._filled))
            run.array[:] = self._pending[: self._filled]
            run.array.sort()
            self._runs.append(run)
        self._recent, self._again, self._filled = {}, {}, 0
        while len(self._runs) > 1 and self._runs[-2].size <= self._ratio * self._runs[-1].size:
            older, newer = self._runs.pop(-2), self._runs.pop()
            self._runs.append(self._merged(older, newer))
            older.close()
            newer.close()

    def _merged(self, older: _Run, newer: _Run) -> _Run:
        """``older`` and ``newer`` as one run: in the file when it is large and the file can be written
        (the two are left whole until it is, so that a failed write loses nothing), else in memory."""
        size = older.size + newer.size
        if self._folder is not None and size >= self._file_entries:
            try:
                return _merge(older, newer, _FileWriter(self._folder, size, self._fence), self._chunk)
            except OSError as error:
                log.warning("near-duplicate band keys kept in memory: %s cannot be written (%s)",
                            self._folder, error)  # fmt: skip
                self._folder = None
        return _merge(older, newer, _MemoryWriter(size), self._chunk, release=True)


class _MemoryRun:
    """A run in a private anonymous map of its own (:func:`_mapped`)."""

    def __init__(self, array: Entries) -> None:
        self.array, self.size = array, array.size

    def read(self, start: int, end: int) -> Entries:
        return self.array[start:end]

    def entries(self, lowest: Entries) -> list[Entries]:
        return _entries(self.array, lowest)

    def release(self, start: int, end: int) -> None:
        """Hand back the whole pages of the run among entries ``start`` … ``end`` - 1 and any before."""
        base = self.array.base
        if _DONTNEED is None or not isinstance(base, memoryview) or not isinstance(base.obj, mmap.mmap):
            return
        low, high = (start * 8 // mmap.PAGESIZE) * mmap.PAGESIZE, (end * 8 // mmap.PAGESIZE) * mmap.PAGESIZE
        if high > low:
            base.obj.madvise(_DONTNEED, low, high - low)

    def close(self) -> None:
        self.array = np.zeros(0, dtype=np.uint64)  # the map goes with the last view of it


class _FileRun:
    """A run in an unnamed file: every ``fence``-th entry in memory, the rest read when asked for."""

    def __init__(self, file: IO[bytes], size: int, fences: Entries, fence: int) -> None:
        self._file, self.size, self._fences, self._fence = file, size, fences, fence

    def read(self, start: int, end: int) -> Entries:
        end = min(end, self.size)
        if end <= start:
            return np.zeros(0, dtype=np.uint64)
        data = os.pread(self._file.fileno(), (end - start) * 8, start * 8)
        if len(data) != (end - start) * 8:
            raise OSError(f"near-duplicate band keys: the file ended at entry {start + len(data) // 8}")
        return np.frombuffer(data, dtype=np.uint64)

    def entries(self, lowest: Entries) -> list[Entries]:
        """One read a window: the windows that hold the keys' first entries, in order, are a sorted
        array of their own (an entry on two windows' edge comes twice: a slot may come more than once).
        A key whose entries run past its window's end (many of one key) reads on from there."""
        width = self._fence + 1
        starts = np.maximum(self._fences.searchsorted(lowest) - 1, 0) * self._fence  # ascending
        starts = starts[np.flatnonzero(np.diff(starts, prepend=-1))]
        windows = self._windows(starts.tolist(), width)
        found = _entries(windows, lowest)
        lasts = windows[width - 1 :: width] & ~_LOW  # the key of each whole window's last entry
        past = np.flatnonzero(lowest.take(lowest.searchsorted(lasts), mode="clip") == lasts)
        for k in past.tolist():
            found.append(self._beyond(int(starts[k]) + width, lasts[k] | _LOW))
        return found

    def _windows(self, starts: list[int], width: int) -> Entries:
        """The ``width`` entries from each of ``starts`` (ascending), one after another; the last window
        is cut short at the run's end."""
        out = np.empty(len(starts) * width, dtype=np.uint64)
        view, step, fd = out.view(np.uint8).data, width * 8, self._file.fileno()
        got = 0
        for k, start in enumerate(starts):
            got = os.preadv(fd, [view[k * step : (k + 1) * step]], start * 8)
        return out[: out.size - width + got // 8] if starts else out

    def _beyond(self, start: int, highest: np.uint64) -> Entries:
        """The entries from ``start`` up to ``highest``, a window at a time."""
        pieces = []
        while (window := self.read(start, start + self._fence + 1)).size:
            pieces.append(window[: window.searchsorted(highest, "right")])
            if pieces[-1].size < window.size:
                break
            start += window.size
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint64)

    def release(self, start: int, end: int) -> None:
        """Nothing to hand back: what was read is the page cache's."""

    def close(self) -> None:
        self._file.close()  # unnamed: its blocks are freed with it


class _MemoryWriter:
    """A merge's output in a new memory map, resident as it is written."""

    def __init__(self, size: int) -> None:
        self._array = _mapped(size)

    def write(self, at: int, piece: Entries) -> None:
        self._array[at : at + piece.size] = piece

    def finish(self) -> _Run:
        return _MemoryRun(self._array)


class _FileWriter:
    """A merge's output appended to a new unnamed file in ``folder``, its fences kept on the way."""

    def __init__(self, folder: Path, size: int, fence: int) -> None:
        self._file = tempfile.TemporaryFile(dir=folder, prefix=".bands-")  # noqa: SIM115 (the run's, till closed)
        self._size, self._fence, self._fences = size, fence, list[Entries]()

    def write(self, at: int, piece: Entries) -> None:
        self._written(lambda: self._file.write(piece.data))
        self._fences.append(piece[(-at) % self._fence :: self._fence].copy())  # not a view of the piece

    def finish(self) -> _Run:
        self._written(self._file.flush)
        fences = np.concatenate(self._fences) if self._fences else np.zeros(0, dtype=np.uint64)
        return _FileRun(self._file, self._size, fences, self._fence)

    def _written(self, write: Callable[[], object]) -> None:
        """``write()``; when it fails, the file is closed (its blocks freed) before the error goes on."""
        try:
            write()
        except OSError:
            self._file.close()
            raise


class _Writer(Protocol):
    def write(self, at: int, piece: Entries) -> None: ...

    def finish(self) -> _Run: ...


def _entries(run: Entries, lowest: Entries) -> list[Entries]:
    """The entries of ``run`` whose key is one of ``lowest >> 32`` (sorted), a slice a key. One search
    a key, for where its entries would start; the end only for the few keys that are there."""
    if run.size == 0:
        return []
    starts = run.searchsorted(lowest)
    hit = np.flatnonzero(run.take(starts, mode="clip") - lowest <= _LOW)  # below lowest: wraps, too big
    if hit.size == 0:
        return []
    ends = run.searchsorted(lowest[hit] | _LOW)
    return [run[start:end] for start, end in zip(starts[hit].tolist(), ends.tolist(), strict=True)]


def _merge(older: _Run, newer: _Run, out: _Writer, chunk: int, *, release: bool = False) -> _Run:
    """``older`` and ``newer`` (sorted) as one sorted run, written to ``out`` a piece at a time: each
    piece holds at most ``chunk`` entries of either and every entry of both up to its largest value, so
    pieces follow one another in order. With ``release``, the pages of the old runs already read are
    handed back as it goes: the merge's peak is the two runs plus a piece or two, not twice them."""
    i = j = 0
    while i < older.size or j < newer.size:
        first, second = older.read(i, i + chunk), newer.read(j, j + chunk)
        if first.size and second.size:
            last = min(first[-1], second[-1])
            first, second = (
                first[: first.searchsorted(last, "right")],
                second[: second.searchsorted(last, "right")],
            )
        piece = np.concatenate([first, second])
        piece.sort(kind="stable")  # two sorted halves: timsort merges them in one pass
        out.write(i + j, piece)
        if release:
            older.release(i, i + first.size)
            newer.release(j, j + second.size)
        i, j = i + first.size, j + second.size
    return out.finish()


def _mapped(size: int) -> Entries:
    """An uninitialised run of ``size`` entries in a private anonymous map of its own: resident only
    where written, and what :meth:`_MemoryRun.release` hands back leaves the process at once (memory
    freed to malloc may stay in it). Without such maps (not POSIX), a plain array."""
    if _PRIVATE is None:
        return np.empty(size, dtype=np.uint64)
    buffer = mmap.mmap(-1, max(size, 1) * 8, flags=_PRIVATE)
    if size * 8 >= 4 << 20 and _HUGEPAGE is not None:
        buffer.madvise(_HUGEPAGE)
    return np.frombuffer(buffer, dtype=np.uint64, count=size)
