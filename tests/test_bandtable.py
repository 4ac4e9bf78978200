"""The near-duplicate band keys' large runs in a file (enrich/bandtable.py): what stays in memory, what
the folder shows, and what happens when the file cannot be made or written."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from newsdesk.enrich import bandtable

KEYS = 50  # keys a signature, about the index's bands


def _keys(count: int, seed: int) -> list[np.ndarray]:
    """Random keys, one row a signature; about one key in ten from a pool of 30 shared ones."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 2**32 - 1, (count, KEYS), dtype=np.uint64).astype(np.uint32)
    shared = rng.random((count, KEYS)) < 0.1
    rows[shared] = rng.integers(0, 30, int(shared.sum())).astype(np.uint32)
    return list(rows)


def _answers(table: bandtable.BandTable, rows: list[np.ndarray]) -> list[list[int]]:
    return [sorted(set(table.find(row).tolist())) for row in rows[::37]]


def _filled(folder: Path | None, rows: list[np.ndarray]) -> bandtable.BandTable:
    table = bandtable.BandTable(folder)
    for slot, row in enumerate(rows):
        table.add(row, slot)
    return table


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 16 signatures, merged a few hundred entries at a time, in the file from 2,000 entries."""
    monkeypatch.setattr(bandtable, "MERGE_EVERY", 16)
    monkeypatch.setattr(bandtable, "MERGE_CHUNK", 300)
    monkeypatch.setattr(bandtable, "FILE_ENTRIES", 2_000)


def _open_in(folder: Path) -> int:
    """This process's open files in ``folder`` (unnamed ones show as deleted)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # the listing's own, closed since
            count += str(fd.readlink()).startswith(str(folder))
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd (Linux)")
def test_large_runs_go_to_unnamed_files_that_close_with_the_table(small: None, tmp_path: Path) -> None:
    rows = _keys(3_000, seed=1)
    in_memory = _filled(None, rows)
    in_file = _filled(tmp_path, rows)
    assert _answers(in_file, rows) == _answers(in_memory, rows)
    runs = in_file.runs()
    filed = sum(size for size, in_the_file in runs if in_the_file)
    assert filed > 0.9 * sum(size for size, _ in runs)  # nearly every entry is in the file
    assert all(size < 4 * 2_000 for size, in_the_file in runs if not in_the_file)
    assert not any(in_the_file for _, in_the_file in in_memory.runs())
    assert list(tmp_path.iterdir()) == []  # unnamed: nothing to clean up after a crash
    assert 0 < _open_in(tmp_path) <= len(runs)  # the merged-away runs' files were closed
    del in_file
    gc.collect()
    assert _open_in(tmp_path) == 0


def test_a_folder_that_cannot_hold_the_file_keeps_the_runs_in_memory(
    small: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _keys(1_000, seed=2)
    with caplog.at_level(logging.WARNING, logger="newsdesk.enrich.bandtable"):
        table = _filled(tmp_path / "gone", rows)
    assert _answers(table, rows) == _answers(_filled(None, rows), rows)
    assert not any(in_the_file for _, in_the_file in table.runs())
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "kept in memory" in warned[0] and "gone" in warned[0]


# A child process whose files may not grow past 64 KiB (writes fail with EFBIG, as on a full disk),
# adding the test's keys to a table with a folder and to one without; it prints both tables' answers.
_FULL_DISK = """
import json, resource, signal, sys
import numpy as np
from newsdesk.enrich import bandtable
from tests.test_bandtable import _answers, _filled, _keys
bandtable.MERGE_EVERY, bandtable.MERGE_CHUNK, bandtable.FILE_ENTRIES = 16, 300, 2_000
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
rows = _keys(3_000, seed=3)
table = _filled(sys.argv[1], rows)
print(json.dumps({"file": _answers(table, rows), "memory": _answers(_filled(None, rows), rows),
                  "runs": table.runs()}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="a file size limit stands in for a full disk (Linux)")
def test_a_write_that_fails_midway_loses_no_key(tmp_path: Path) -> None:
    """Runs reach the file until one outgrows the limit: that merge is done again in memory from the
    runs it read (left whole until the file was written), and later ones stay in memory; the table
    answers as one that never had a file."""
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FULL_DISK), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    found = json.loads(child.stdout)
    assert found["file"] == found["memory"] and any(found["file"])
    assert "kept in memory" in child.stderr and "File too large" in child.stderr
    assert sum(size for size, _ in found["runs"]) == 3_000 // 16 * 16 * KEYS  # the last 8 wait in the dicts
