"""An exclusive ``flock`` on a lock file beside the file it guards: how processes on one machine take
turns at work on a shared file (a key file's rotate and retire, enrichment on an SQLite database).

The kernel lets the lock go when the file is closed or its process dies, so a crashed holder never
leaves it taken. The lock file itself stays behind, empty, readable by its owner only. Standard library
only: the light CLI commands import the key ring and the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE_MODE = 0o600


def lock_path(path: Path, work: str = "") -> Path:
    """The lock file for ``work`` on ``path``: ``<path>.<work>.lock``, or ``<path>.lock`` for the file's
    one kind of work."""
    return path.with_name(f"{path.name}.{work}.lock" if work else f"{path.name}.lock")


@contextlib.contextmanager
def locked_beside(path: Path, work: str = "") -> Iterator[None]:
    """Wait until no other process holds :func:`lock_path`'s lock, then hold it for the block."""
    fd = os.open(lock_path(path, work), os.O_RDWR | os.O_CREAT, LOCK_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by closing, or by the kernel when the process dies
        yield
    finally:
        os.close(fd)
