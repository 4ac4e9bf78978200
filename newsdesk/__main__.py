"""``python -m newsdesk`` runs the CLI, numpy's BLAS threads capped first (``blas.py``)."""

from .blas import limit_blas_threads

limit_blas_threads()

from .cli import main  # noqa: E402  (after the cap: numpy reads it when first imported)

main()
