"""numpy's BLAS runs on one thread in a newsdesk command, unless the operator chose a count.

Each case is a fresh interpreter (the cap must come before numpy's first import), and reads the
thread count OpenBLAS itself reports through threadpoolctl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from newsdesk.blas import OPERATOR_VARIABLES

REPORT = """
import json, os, sys
{start}
import numpy
from threadpoolctl import threadpool_info
blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
print(json.dumps({{"blas": blas, "env": os.environ.get("OPENBLAS_NUM_THREADS")}}))
"""

CAPPED = "from newsdesk.blas import limit_blas_threads\nlimit_blas_threads()"
THROUGH_MAIN = """
import runpy
sys.argv = ["newsdesk", "--help"]
try:
    runpy.run_module("newsdesk", run_name="__main__")
except SystemExit:
    pass
"""
THROUGH_ENTRY = """
from newsdesk.entry import main
sys.argv = ["newsdesk", "--help"]
try:
    main()
except SystemExit:
    pass
"""


def report(start: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_VARIABLES}
    code = REPORT.format(start=start)
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_cap_gives_openblas_one_thread() -> None:
    found = report(CAPPED)
    assert found["blas"] == [1]
    assert found["env"] == "1"


@pytest.mark.parametrize("start", [THROUGH_MAIN, THROUGH_ENTRY], ids=["python -m newsdesk", "console script"])
def test_both_entry_points_cap_before_numpy_loads(start: str) -> None:
    assert report(start)["blas"] == [1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS has one thread whatever is asked")
def test_an_operators_count_is_kept() -> None:
    assert report(CAPPED, OMP_NUM_THREADS="2") == {"blas": [2], "env": None}
    assert report(CAPPED, OPENBLAS_NUM_THREADS="2") == {"blas": [2], "env": "2"}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS has one thread whatever is asked")
def test_without_the_cap_openblas_takes_every_core() -> None:
    """What the cap changes: a plain interpreter's OpenBLAS has a thread per core."""
    blas = report("")["blas"]
    assert isinstance(blas, list) and len(blas) == 1 and blas[0] > 1
