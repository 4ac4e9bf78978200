"""USE multilingual v3 on ONNX Runtime, fp32 and int8, against the package's numpy forward pass: CPU on
the 181 leads and titles (issue 14's pipeline pages), cosines to numpy, and the accuracy that decided
(docs/embeddings.md, "USE on ONNX Runtime").

``ort-fp32`` is the product's: ``multilingual.load_use`` on a models folder, the graphs of
``newsdesk/enrich/use_onnx.py`` (its docstring draws them). The int8 variants are written here on the
same builders and are not shipped:

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
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsdesk.enrich import multilingual, use_onnx, usecache  # noqa: E402
from newsdesk.enrich.multilingual import USE_NAME, USE_THREADS, UseEmbedder  # noqa: E402
from newsdesk.enrich.use_onnx import (  # noqa: E402
    HEAD_FILE,
    POOL_NODE,
    GraphBuilder,
    build_token_graph,
    session,
    use_model,
)

# The exact int8 projection: weights per column on ±127 levels, the codes taken less 30. The table's
# codes sit near 30 (mean 30, std 7 on a lead; a block's zero, -lo/scale, is 26-35), so with zero point
# 0 every product carries 30 × the weights' rounding error, the same in every token: cosine to numpy fell
# to 0.46 (min) / 0.81 (median), at 30 it is 0.9994 / 0.9999.
PROJECTION_LEVELS = 127
PROJECTION_ZERO = 30
# Per-channel int8 weights, full range, as MiniLM's int8 graph. With every token-wise MatMul quantised
# (``plain``), per-tensor weights gave the same cosines (min 0.986) and 7-bit (reduce_range) ones too;
# per-tensor and 7-bit together lost much (median 0.955).
QUANT_PER_CHANNEL = True
QUANT_REDUCE_RANGE = False
LEADS = 181  # issue 14's pipeline pages: the extraction benchmark's first 181 ground-truth articles


def quantize_tokens(source: Path, target: Path, *, keep: Sequence[str] = ()) -> None:
    """Dynamic int8 quantisation of the token graph's MatMuls but the pooling product (with the exact
    projection, that leaves the n-gram layers; without it, the projection of the dequantised rows too)."""
    from newsdesk.enrich.ortenv import onnxruntime

    onnxruntime()  # telemetry off first (enrich/ortenv.py)
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


def integer_projection(g: GraphBuilder, weight: Any, bias: Any) -> str:
    """``rows`` (the table's uint8 codes) × the weight quantised per column to int8, as integers, then
    scaled back: each row's embedding is ``code × row_scale + row_lo``, so its product with ``W`` is
    ``row_scale · (code @ W) + row_lo · colsum(W)``, and the codes are exact. Quantising the
    dequantised rows instead (one scale for a text's rows from 17 tables) costs the accuracy
    ``docs/embeddings.md`` measures."""
    w = np.asarray(weight, np.float32)
    scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / PROJECTION_LEVELS
    codes = np.clip(np.rint(w / scale), -PROJECTION_LEVELS, PROJECTION_LEVELS).astype(np.int8)
    zero = g.const("proj_zero", np.array(PROJECTION_ZERO, np.uint8))
    product = g.op("MatMulInteger", "rows", g.const("proj_codes", codes), zero)
    scaled = g.op("Mul", g.op("Cast", product, to=1), g.const("proj_scale", scale))
    shift = g.op(
        "Add",
        "row_lo",
        g.op("Mul", "row_scale", g.const("proj_zero_f", np.array(PROJECTION_ZERO, np.float32))),
    )
    offset = g.op("Mul", shift, g.const("proj_colsum", w.sum(axis=0, dtype=np.float64)))
    return g.op("Add", g.op("Add", g.op("Mul", scaled, "row_scale"), offset), g.const("proj_b", bias))


# ---------------------------------------------------------------------------------------------- measure


def build_all(models: Path, folder: Path) -> dict[str, Any]:
    """The numpy backend, the product's ORT fp32 and the three int8 variants (graphs in ``folder``)."""
    state = usecache.load_cached(models, USE_THREADS)._backend
    build_token_graph(state, folder / "fp32.onnx")
    build_token_graph(
        state,
        folder / "exact.onnx",
        project=lambda g, _rows: integer_projection(g, state.proj_W, state.proj_b),
    )
    quantize_tokens(folder / "fp32.onnx", folder / "int8-plain.onnx")
    quantize_tokens(folder / "exact.onnx", folder / "int8-exact.onnx")
    quantize_tokens(folder / "fp32.onnx", folder / "int8-projfp32.onnx", keep=["proj_w"])
    product = multilingual.load_use(models)  # writes the product's graphs into the models folder
    product.name = f"{USE_NAME}/bench-ort-fp32"  # eval/common.py caches vectors by name
    embedders = {"numpy": UseEmbedder(usecache.load_cached(models, USE_THREADS)), "ort-fp32": product}
    lookup = usecache.load_lookup(models, USE_THREADS)
    head = session(use_onnx.graphs_folder(models) / HEAD_FILE)
    for variant in ("int8-plain", "int8-exact", "int8-projfp32"):
        tokens = session(folder / f"{variant}.onnx")
        embedder = UseEmbedder(use_model(lookup, tokens, head, threads=USE_THREADS, budget=1))
        embedder.name = f"{USE_NAME}/bench-{variant}"  # eval/common.py caches vectors by name
        embedders[variant] = embedder
    return embedders


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

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--gates", action="store_true", help="SemEval figures of the blend with each USE")
    args = parser.parse_args()
    texts, titles = read_leads(args.data)
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="use-onnx-") as folder:
        models = Path(folder)
        embedders = build_all(models, models)
        for embedder in embedders.values():
            embedder.embed(texts[:8])
        print(f"{len(texts)} leads (mean {np.mean([len(t) for t in texts]):.0f} characters) and their titles")
        accuracy(embedders, texts, titles)
        timing(embedders, texts, titles, args.rounds)
        if args.gates:
            gates(embedders, args.data, models)


if __name__ == "__main__":
    main()
