"""The cycle collector held through a command's start-up and its loads (newsdesk/longlived.py).

The module changes the interpreter's collector, so each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_command_holds_collection_through_start_up_then_freezes_it() -> None:
    out = _run(
        """
        import gc
        from newsdesk import longlived
        longlived.hold_collections()
        assert not gc.isenabled()
        start_up = [[i] for i in range(5000)]
        longlived.settle()
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > 5000, frozen
        print("ok")
        """
    )
    assert out == "ok"


def test_each_load_is_frozen_once_so_later_cycles_stay_collectable() -> None:
    out = _run(
        """
        import gc
        from newsdesk import longlived
        longlived.hold_collections()
        longlived.settle()
        before = gc.get_freeze_count()
        with longlived.loading("models"):
            assert not gc.isenabled()
            models = [[i] for i in range(3000)]
        assert gc.isenabled()
        after_load = gc.get_freeze_count()
        assert after_load >= before + 3000, (before, after_load)
        with longlived.loading("models"):  # a desk's next cycle: nothing frozen
            assert gc.isenabled()
            cycle = [[i] for i in range(3000)]
        assert gc.get_freeze_count() == after_load
        # garbage made after the loads is still collected
        a = []; a.append(a); del a
        assert gc.collect() >= 1
        print("ok")
        """
    )
    assert out == "ok"


def test_a_process_that_is_no_command_is_left_alone() -> None:
    out = _run(
        """
        import gc
        from newsdesk import longlived
        longlived.settle()
        with longlived.loading("models"):
            assert gc.isenabled()
            kept = [[i] for i in range(3000)]
        print(gc.get_freeze_count())
        """
    )
    assert out == "0"


def test_the_cli_runs_with_collection_resumed() -> None:
    """Through ``python -m newsdesk``: the command runs with the collector on and start-up frozen."""
    out = _run(
        """
        import atexit, gc, runpy, sys
        atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 10000))
        sys.argv = ["newsdesk", "--help"]
        try:
            runpy.run_module("newsdesk", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        """
    )
    assert out.splitlines()[-1] == "True True"
