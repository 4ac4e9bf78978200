"""How many threads numpy's BLAS (the OpenBLAS its wheels bundle) may use in a newsdesk command.

OpenBLAS starts a thread per core at import and hands each matrix product to all of them. Ours are
small: a text's language scores (py3langid, one product per page), a batch's topic and story
scores, a search's candidates. For those the helper threads mostly wait for work, and OpenBLAS's
waiting spins: the cores stay busy without computing anything, and on a machine whose cores are
already busy (the desk beside the API, or beside anything else) the spinning is paid in full. The
181 benchmark pages (``bench/peers.py --cases pipeline``, docs/benchmarks.md): ``newsdesk run``
13.2–13.9 CPU-s with OpenBLAS's default against 11.6–12.3 with one thread, the run without
enrichment 5.3–5.5 against 4.2–4.5 (two interleaved rounds each). ONNX Runtime keeps its own threads (set in
``enrich/embed.py``), and the USE embedder already capped BLAS around its encodes.

The variable has to be set before numpy is first imported, so the entry points set it before they
import anything else; the processes a command starts (extraction workers, ``serve``'s API workers)
inherit it. An operator who set a thread count keeps theirs.
"""

from __future__ import annotations

import os

BLAS_THREADS = 1
OPERATOR_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")
"""What OpenBLAS reads for its thread count, in its own order of precedence: any one set means the
operator chose."""


def limit_blas_threads(threads: int = BLAS_THREADS) -> None:
    """Give OpenBLAS ``threads`` threads in this process and the ones it starts, unless the operator
    set a count. Does nothing for a numpy already imported (its pool is made at import)."""
    if any(name in os.environ for name in OPERATOR_VARIABLES):
        return
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)


__all__ = ["BLAS_THREADS", "OPERATOR_VARIABLES", "limit_blas_threads"]
