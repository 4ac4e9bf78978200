"""Python's cycle collector kept off what a command builds once and keeps: modules, tables, models.

A cold ``newsdesk run`` made ≈ 160,000 objects that live as long as the process (its imports, the
public-suffix trie, the models' Python side), and each full collection walked all of them again to
find a few hundred garbage cycles: three full passes and ≈ 0.25 CPU-s of collection on the 181
benchmark pages, 2% of the run (docs/benchmarks.md, "The cycle collector at start-up").

So an entry point holds collection while it imports (:func:`hold_collections`), and lets it resume
once the command is loaded (:func:`settle`) with what exists then moved out of the collector's way
(``gc.freeze``); the enrichment's modules and models are loaded the same way, once (:func:`loading`). A frozen object is
still freed by its reference count; only a garbage cycle alive at a freeze is never collected, which
is bounded by what start-up left (a few hundred objects), once per process.

Processes that did not start through an entry point (tests, a program embedding the library) are
left alone: :func:`loading` only runs its body there.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_held = False  # set by an entry point: this process is a command, whose start-up may be frozen
_loaded: set[str] = set()  # what :func:`loading` has frozen in this process


def hold_collections() -> None:
    """No cycle collection until :func:`settle`: called first by an entry point, before its imports."""
    global _held
    _held = True
    gc.disable()


def settle() -> None:
    """The command is loaded: what is alive now stays, so freeze it, and let collection resume."""
    if _held:
        gc.freeze()
        gc.enable()


@contextmanager
def loading(what: str) -> Iterator[None]:
    """Load ``what`` (the enrichment's modules, its models) with collection held, then freeze it with
    everything alive: in a command process, the first time only, so that a desk's later cycles are
    never frozen. Elsewhere, or again, it only runs the body."""
    if not _held or what in _loaded:
        yield
        return
    _loaded.add(what)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


__all__ = ["hold_collections", "loading", "settle"]
