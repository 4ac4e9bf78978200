"""The installed ``newsdesk`` command's entry point, which imports the CLI only when it is called.

The console script pip writes is a small file that imports its entry point at the top. Extraction
workers start from a forkserver, and multiprocessing re-runs the parent's main *file* in each worker
(as ``__mp_main__``) so that its functions can be found there; with ``newsdesk.cli:main`` as the entry
point that import pulled Typer, Rich, SQLAlchemy and httpx into every worker (≈ 40 MB each, against
none under ``python -m newsdesk``, whose ``__main__`` multiprocessing leaves alone). Through this
module a worker imports only this file. It also caps numpy's BLAS threads before numpy can be
imported (``blas.py``).
"""

from __future__ import annotations


def main() -> None:
    from .longlived import hold_collections

    hold_collections()  # through the imports (longlived.py)
    from .blas import limit_blas_threads

    limit_blas_threads()
    from .cli import main as run

    run()
