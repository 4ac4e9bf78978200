"""Language identification: py3langid's classifier, its model unpacked once so that a process loads it
in a fraction of the time and memory.

py3langid reads its model from an LZMA-compressed ``model.npz.xz`` in every process: ≈ 0.5-0.6 CPU-s
to inflate. Unpacked once under the user's cache folder (:func:`cache_root`; extraction runs in pool
workers that have no settings, and the model depends only on the package version), it loads in
≈ 0.06-0.16 CPU-s::

    ~/.cache/newsdesk/py3langid-<version>-<layout>-<key>/
        ptc.npy        the feature-by-language table (float16, 100,053 × 142)
        arrays.npz     the DFA that finds the features and the class priors
        classes.json   the languages

The feature table stays in memory: left on disk (``rowfile.RowFile``) it saved 27 MB but a text's few
hundred scattered rows cost ≈ 0.9 ms of reads, twice the classification (+0.33 CPU-s over the 181
benchmark pages, more than the load saved at a few thousand pages); memory-mapped, 200 texts touched
all of its pages (docs/benchmarks.md, "Lean pipeline", "Models unpacked once").

The identifier is py3langid's own class built from the same arrays, installed as the module's
identifier, so :func:`classify` and ``py3langid.classify`` give what the package gives, number for
number (``tests/test_langid.py``). Anything failing (no writable cache folder, a package whose
internals moved) leaves py3langid to load its model itself, as before.
"""

from __future__ import annotations

import json
import logging
import threading
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import py3langid
from py3langid import langid as _langid

from newsdesk.unpacked import unpacked

log = logging.getLogger(__name__)

PACKAGE = "py3langid"
LAYOUT = 1  # bumped when the folder's layout changes
PTC, ARRAYS, CLASSES = "ptc.npy", "arrays.npz", "classes.json"
_install_lock = threading.Lock()
_installed = False


def classify(text: str) -> tuple[str, float]:
    """``(language, score)`` for ``text``, as ``py3langid.classify`` gives it."""
    if not _installed:
        install()
    language, score = py3langid.classify(text)
    return str(language), float(score)


def install(root: Path | None = None) -> None:
    """Make py3langid's module-level identifier the one built from the unpacked model (unpacking it
    first when missing); once per process, and never over an identifier already loaded. A thread that
    classifies meanwhile waits here rather than have py3langid load a second model."""
    global _installed
    with _install_lock:
        if _installed:
            return
        try:
            if _langid.IDENTIFIER is None:
                _langid.IDENTIFIER = load_cached(root or cache_root())
        except Exception as e:  # any failure: py3langid loads its own model on first use
            log.warning("unpacked language model not usable, loading the package's", extra={"error": repr(e)})
        finally:
            _installed = True


def cache_root() -> Path:
    """The per-user cache folder (the same place as the embedders' default ``cache_dir``)."""
    return Path.home() / ".cache" / "newsdesk"


def cache_folder(root: Path) -> Path:
    model = Path(_langid.MODEL_DIR) / _langid.MODEL_FILE
    return root / f"py3langid-{version(PACKAGE)}-{LAYOUT}-{model.stat().st_size:x}"


def ensure_cache(root: Path) -> Path:
    """The unpacked model's folder, written first when missing (:func:`newsdesk.unpacked.unpacked`)."""
    return unpacked(cache_folder(root), _unpack)


def load_cached(root: Path) -> Any:
    """py3langid's ``LanguageIdentifier`` over the unpacked model (unpacked first when missing)."""
    folder = ensure_cache(root)
    classes = json.loads((folder / CLASSES).read_text(encoding="utf-8"))
    with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
        nextmove = _langid_array(arrays["nextmove"])
        row = _langid_array(arrays["row"])
        output = array("q", arrays["output"].tobytes())
        prior = arrays["pc"]
    table = np.load(folder / PTC, allow_pickle=False)
    identifier = _langid.LanguageIdentifier(table, prior, classes, nextmove, output, tk_row=row)
    # Its two per-state tables as stdlib arrays, not lists of ints: 4 MB each less (104,583 states).
    identifier._rowbase = array("q", identifier._rowbase)
    return identifier


def _unpack(folder: Path) -> None:
    """Read the package's model its own way, then write it out uncompressed."""
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(Path(_langid.MODEL_DIR) / _langid.MODEL_FILE)
    np.save(folder / PTC, np.ascontiguousarray(ptc), allow_pickle=False)
    np.savez(
        folder / ARRAYS,
        allow_pickle=False,
        pc=np.asarray(pc),
        nextmove=np.frombuffer(nextmove, dtype=_dtype(nextmove)),
        row=np.frombuffer(row, dtype=_dtype(row)),
        output=np.asarray(output, dtype=np.int64),
    )
    (folder / CLASSES).write_text(json.dumps(list(classes)), encoding="utf-8")


def _dtype(values: Any) -> np.dtype[Any]:
    """The numpy type of a stdlib ``array`` (py3langid keeps its DFA in them)."""
    return np.dtype(f"u{values.itemsize}")


def _langid_array(values: np.ndarray[Any, Any]) -> Any:
    """A stdlib ``array`` as py3langid's loader makes them (indexing it yields plain ints, fast)."""
    from py3langid.modelio import _to_array

    return _to_array(values)
