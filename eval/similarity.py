"""Same-story similarity: does our cosine track human judgements of "same news story"?

Data: SemEval-2022 Task 8 training set, English–English pairs only (161 of 1,283). Gold ``Overall`` runs
1 (very similar) … 4 (very dissimilar), so we correlate cosine with ``-Overall``. Reference: the best
SemEval-2022 system reached Pearson 0.818 over all languages on the official evaluation set (0.872 on its
English pairs); our goal is ≥ 0.80.

The English texts in this file are each one ~1,000-character string: headline and the start of the body
run together with no separator, so "title + lead" here means the first N characters. Variants:

- ``lead-200`` / ``lead-500``  the first 200 / 500 characters, cut on a word boundary;
- ``full``                     the whole text (the model truncates at 256 tokens);
- ``chunked-mean``             the text cut into ~``CHUNK_WORDS``-word windows, each embedded, the
                               vectors averaged and re-normalised (uses text past the truncation).

Prints Pearson r with a bootstrap 95% interval (pairs resampled) and Spearman ρ for each.

    .venv/bin/python eval/similarity.py [--data ../shared/data] [--backend auto]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsdesk.enrich.base import Embedder, Vectors  # noqa: E402
from newsdesk.enrich.embed import cut_on_word, load_embedder  # noqa: E402

GOAL = 0.80
CHUNK_WORDS = 120  # ≈ 160 word pieces: comfortably under the 256-token truncation
BOOTSTRAP_ROUNDS = 2000
SEED = 2022


@dataclass(frozen=True)
class Pair:
    text1: str
    text2: str
    overall: float


def read_pairs(data: Path) -> list[Pair]:
    csv.field_size_limit(1 << 30)
    path = data / "semeval2022-task8" / "training_set.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["lang1"] == "en" and r["lang2"] == "en"]
    return [Pair(r["text1"].strip(), r["text2"].strip(), float(r["Overall"])) for r in rows]


def chunks(text: str, words: int = CHUNK_WORDS) -> list[str]:
    tokens = text.split()
    return [" ".join(tokens[i : i + words]) for i in range(0, max(len(tokens), 1), words)]


def embed_chunked_mean(embedder: Embedder, texts: list[str]) -> Vectors:
    pieces = [chunks(t) for t in texts]
    flat = embedder.embed([p for group in pieces for p in group])
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    start = 0
    for row, group in enumerate(pieces):
        mean = flat[start : start + len(group)].mean(axis=0)
        out[row] = mean / np.linalg.norm(mean)
        start += len(group)
    return out


def variants(embedder: Embedder) -> dict[str, Callable[[list[str]], Vectors]]:
    return {
        "lead-200": lambda texts: embedder.embed([cut_on_word(t, 200) for t in texts]),
        "lead-500": lambda texts: embedder.embed([cut_on_word(t, 500) for t in texts]),
        "full": embedder.embed,
        "chunked-mean": lambda texts: embed_chunked_mean(embedder, texts),
    }


def pearson(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    def ranks(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        order = values.argsort(kind="stable")
        out = np.empty(len(values))
        out[order] = np.arange(len(values))
        # average the ranks of ties, as Spearman's definition requires
        for value in np.unique(values):
            tied = values == value
            out[tied] = out[tied].mean()
        return out

    return pearson(ranks(x), ranks(y))


def bootstrap_interval(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
    rng = np.random.default_rng(SEED)
    samples = rng.integers(0, len(x), size=(BOOTSTRAP_ROUNDS, len(x)))
    values = np.sort([pearson(x[s], y[s]) for s in samples])
    return float(values[int(0.025 * BOOTSTRAP_ROUNDS)]), float(values[int(0.975 * BOOTSTRAP_ROUNDS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    pairs = read_pairs(args.data)
    embedder = load_embedder(backend=args.backend)
    gold = -np.array([p.overall for p in pairs])
    print(f"\n## Same-story similarity: SemEval-2022 Task 8, {len(pairs)} English pairs, {embedder.name}\n")
    print("| text used | Pearson r | 95% CI | Spearman ρ | goal ≥ 0.80 |")
    print("|---|---:|---|---:|---|")
    for name, embed in variants(embedder).items():
        first, second = embed([p.text1 for p in pairs]), embed([p.text2 for p in pairs])
        cosine = np.sum(first * second, axis=1)
        r = pearson(cosine, gold)
        low, high = bootstrap_interval(cosine, gold)
        met = "yes" if r >= GOAL else "no"
        print(f"| {name} | {r:.3f} | {low:.3f}–{high:.3f} | {spearman(cosine, gold):.3f} | {met} |")


if __name__ == "__main__":
    main()
