"""The ``newsdesk`` command: a thin Typer layer over :class:`newsdesk.app.Newsdesk`.

Each command parses its options, makes one or two facade calls and prints the result (a table, or JSON
with ``--json``). Every :class:`NewsdeskError` becomes one line on stderr and exit code 1 — never a
traceback.

The commands live in six modules, each registering its own on the one Typer ``app``. An invocation
imports only the module of the command it names (:data:`COMMAND_MODULES`): the others bring the
webhooks' sender, the catalog and the sources' forms, ≈ 0.1 CPU-s a cron ``newsdesk run`` paid for
nothing (docs/benchmarks.md, "Polling at reader's cost: the cold CLI"). Help, a typo and
``newsdesk.cli.app`` (tests, the docs generator) get every command.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..longlived import settle

if TYPE_CHECKING:
    import typer

__all__ = ["COMMAND_MODULES", "app", "load_commands", "main"]

# A top-level command or group -> the module of this package that registers it (tests/test_cli.py
# checks this against what the modules register).
COMMAND_MODULES = {
    **dict.fromkeys(("init", "config", "run", "export", "show", "demo", "reembed", "search", "feeds",
                     "serve", "worker", "schedule"), "core"),
    **dict.fromkeys(("review", "publish", "reject", "topic", "topics", "explain", "decrypt", "key",
                     "token"), "editorial"),
    "source": "sources", "alert": "alerts", "digest": "alerts", "user": "users", "webhook": "webhooks",
}  # fmt: skip
MODULES = tuple(dict.fromkeys(COMMAND_MODULES.values()))


def load_commands(argv: Sequence[str] = ()) -> typer.Typer:
    """The app with the command ``argv`` names registered (every command when it names none we know)."""
    wanted = COMMAND_MODULES.get(argv[0]) if argv else None
    for module in (wanted,) if wanted else MODULES:
        importlib.import_module(f".{module}", __name__)
    from .base import app

    return app


def __getattr__(name: str) -> object:
    """``newsdesk.cli.app``: the app with every command (PEP 562, so importing the package loads none)."""
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model never needs the hub
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    app = load_commands(sys.argv[1:])
    settle()  # the command's imports are done: the collector resumes without them (longlived.py)
    app()


if __name__ == "__main__":
    main()
