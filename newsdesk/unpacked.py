"""A model's files unpacked once into a folder of their own, so that later processes load them fast;
single files written the same way (:func:`written`); and a rename made durable (:func:`synced_folder`).

The folder appears whole or not at all: the files are written into a temporary folder beside it, which
is then renamed into place. Two processes racing both unpack; the first rename wins and the loser's
copy is discarded, so a reader never sees a half-written model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def unpacked(folder: Path, unpack: Callable[[Path], None]) -> Path:
    """``folder``, written by ``unpack(staging)`` first when it is missing."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        unpack(staging)
        staging.replace(folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def written(path: Path, write: Callable[[Path], object]) -> None:
    """``path`` written whole or not at all: ``write(temporary)`` fills a file beside it, which is then
    renamed into place, so a reader never sees half a file and two writers racing each leave a whole
    one. A failed write leaves ``path`` as it was and no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(name))
        Path(name).replace(path)
    finally:
        Path(name).unlink(missing_ok=True)


def synced_folder(folder: Path) -> None:
    """Flush ``folder``'s own entries to disk: a file renamed into it survives a power cut only once the
    folder is synced too (the key file and the export's manifest, whose loss would cost data)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
