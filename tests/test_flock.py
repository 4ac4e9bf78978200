"""The one flock helper behind the key file's rotate/retire and the SQLite store's one-at-a-time work:
each waits while another process holds its lock file. The other process is real and takes the lock
with ``fcntl`` itself, on the file name each lock is documented to use."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from newsdesk.secure import create_key_file, load_key_file
from newsdesk.store import Store

HELD_S = 0.5  # how long the work must stay blocked while the other process holds the lock
RELEASED_S = 20.0  # generous on a loaded two-core machine: the work's time once the lock is free

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()  # until the test closes this process's stdin
"""


@contextmanager
def held_by_another_process(lock_file: Path) -> Iterator[None]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "held"
        yield
    finally:
        child.stdin.close()
        child.wait(10)


def assert_waits_for(lock_file: Path, work: Callable[[], object]) -> None:
    """``work`` (on a thread) does not finish while another process holds ``lock_file``; it does once
    that process lets go."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: (work(), done.set()))
    with held_by_another_process(lock_file):
        thread.start()
        assert not done.wait(HELD_S), f"went ahead while another process held {lock_file.name}"
    thread.join(RELEASED_S)
    assert done.is_set(), "did not go ahead once the lock was free"


def test_a_key_rotation_waits_for_the_key_file_lock(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = create_key_file(path)
    rotated: list[str] = []
    assert_waits_for(tmp_path / "keys.json.lock", lambda: rotated.append(ring.rotate(path)))
    assert load_key_file(path).active_id == rotated[0]
    assert stat.S_IMODE((tmp_path / "keys.json.lock").stat().st_mode) == 0o600


def test_sqlite_enrichment_waits_for_the_database_lock(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'newsdesk.db'}")

    def enrich() -> None:
        with store.one_at_a_time("enrich"):
            pass

    try:
        assert_waits_for(tmp_path / "newsdesk.db.enrich.lock", enrich)
    finally:
        store.close()
