"""glibc's malloc, steered from Python: how many arenas a process's threads allocate from, and the
lookup of libc's functions (``runmemory.release_freed_memory`` trims with it). No numpy here: a run
whose feeds all answer 304 caps the arenas too, and imports no parser or numpy
(``tests/test_cli_imports.py``). Elsewhere than glibc every call does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

# glibc malloc arenas a process may have (mallopt M_ARENA_MAX; glibc's default is 8 per core). A run
# extracts on one thread and the desk enriches on another: each got an arena of its own, which kept the
# freed pages of its peak (a 64 MB arena fully resident after extraction). 181 benchmark pages, peak
# RSS summed (docs/benchmarks.md, "Lean pipeline"): `serve`'s first cycle 407-418 MB with glibc's
# default, 387-405 with 2 arenas, 379-381 with 1; `newsdesk run` 385-392, 362-379, 358-359. One: the
# threads allocate under the GIL almost always, so they seldom wait on the arena's lock.
MALLOC_ARENAS = 1
M_ARENA_MAX = -8  # malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas for the threads started from now on (call it before the run's or the
    desk's threads start: a thread keeps the arena it first allocated from). Left alone when the
    operator chose (``MALLOC_ARENA_MAX`` or a ``glibc.malloc.arena_max`` tunable) and elsewhere than
    glibc."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    mallopt = libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


@functools.cache
def libc_function(name: str) -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    return function


__all__ = ["MALLOC_ARENAS", "libc_function", "limit_malloc_arenas"]
