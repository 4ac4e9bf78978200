"""One glibc malloc arena for a run's threads (``newsdesk.malloc``): each thread that allocates gets an
arena of its own by glibc's default, and kept its peak's freed pages (docs/benchmarks.md, "Lean
pipeline"). Each check runs in a fresh interpreter and counts the arenas glibc reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Four threads allocate 2 KB blocks (above pymalloc's limit, below mmap's: from an arena); then glibc's
# malloc_info reports each arena as a <heap>.
_PROBE = """
import ctypes, sys, threading
from newsdesk.malloc import limit_malloc_arenas
if sys.argv[1] == "capped":
    limit_malloc_arenas()
held = []
def allocate():
    held.append([bytes(2048) for _ in range(200)])
threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
stream = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
"""


def _arenas(tmp_path: Path, mode: str) -> int:
    report = tmp_path / f"{mode}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    subprocess.run([sys.executable, "-c", _PROBE, mode, str(report)], env=env, check=True, timeout=60)
    return report.read_text(encoding="utf-8").count("<heap nr=")


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):  # not a glibc system
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_threads_share_one_arena_once_capped(tmp_path: Path) -> None:
    assert _arenas(tmp_path, "default") > 1  # glibc gives each new thread an arena of its own
    assert _arenas(tmp_path, "capped") == 1
