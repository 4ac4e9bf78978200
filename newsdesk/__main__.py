"""``python -m newsdesk`` runs the CLI, numpy's BLAS threads capped first (``blas.py``) and the cycle
collector held through its imports (``longlived.py``)."""

from .longlived import hold_collections

hold_collections()

from .blas import limit_blas_threads  # noqa: E402

limit_blas_threads()

from .cli import main  # noqa: E402  (after the cap: numpy reads it when first imported)

main()
