"""The desk's thread runs at a lower CPU priority (``desk.lower_priority``, the ``desk_nice`` setting):
what it starts inherits it, the rest of the process keeps its own."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from newsdesk.desk import lower_priority


def _nice(thread: int = 0) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread or threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_the_desk_thread_and_what_it_starts_are_niced_the_rest_not() -> None:
    before = _nice()
    seen: dict[str, int] = {}

    def desk() -> None:
        lower_priority(5)
        seen["desk"] = _nice()
        child = threading.Thread(target=lambda: seen.setdefault("started by it", _nice()))
        child.start()
        child.join()

    thread = threading.Thread(target=desk)
    thread.start()
    thread.join()
    assert seen == {"desk": min(before + 5, 19), "started by it": min(before + 5, 19)}
    assert _nice() == before  # the server's threads keep theirs


def test_no_increment_changes_nothing() -> None:
    before = _nice()
    lower_priority(0)
    assert _nice() == before
