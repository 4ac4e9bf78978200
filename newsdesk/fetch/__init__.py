"""fetch stage package.

Importing it first keeps httpx from loading its command-line client: ``httpx/__init__.py`` imports
``httpx._main`` (for the ``httpx`` console script) inside ``try … except ImportError``, and with it
click, pygments and rich's syntax highlighting, ≈ 60 CPU-ms of every cold ``newsdesk`` process that
fetches (docs/benchmarks.md, "The cold 304 poll at reader's cost"). :class:`_RefuseHttpxCli` makes
that one import fail as if the extra were not installed, which httpx is written to handle (its ``main``
then only says so), and removes itself: a later ``import httpx._main`` works as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

HTTPX_CLI = "httpx._main"


class _RefuseHttpxCli(MetaPathFinder):
    """Refuses ``httpx._main`` once (the import httpx's own ``__init__`` makes), then leaves."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != HTTPX_CLI:
            return None
        _uninstall()
        raise ModuleNotFoundError(f"{HTTPX_CLI}: not loaded by newsdesk", name=fullname)


def _uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _RefuseHttpxCli)]


if "httpx" not in sys.modules and not any(isinstance(f, _RefuseHttpxCli) for f in sys.meta_path):
    sys.meta_path.insert(0, _RefuseHttpxCli())
