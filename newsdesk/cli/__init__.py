"""The ``newsdesk`` command: a thin Typer layer over :class:`newsdesk.app.Newsdesk`.

Each command parses its options, makes one or two facade calls and prints the result (a table, or JSON
with ``--json``). Every :class:`NewsdeskError` becomes one line on stderr and exit code 1 — never a
traceback.
"""

from __future__ import annotations

import logging
import os

from . import alerts, core, editorial, sources, users, webhooks  # noqa: F401  (they register their commands on ``app``)
from .base import app

__all__ = ["app", "main"]


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model never needs the hub
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    app()


if __name__ == "__main__":
    main()
