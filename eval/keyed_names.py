"""Keying the names sketch: does it change what the product scores? (the privacy fix of issue 15's sketch)

The sketch's hashes are CRC-32 with encryption off and a keyed 32-bit BLAKE2b with it on
(``similarity.SketchKey``). A keyed hash renames the buckets; what could move is the bottom-k cut (which
64 of a long text's tokens are kept) and collisions between distinct tokens. On the SemEval-2022 Task 8
training pairs this prints, for CRC-32 and for each of ``--keys`` keys (fixed, so the figures repeat):

- the tokens of every text and their distinct hashes (a collision merges two tokens);
- the pairs whose names overlap differs from CRC-32's, and the largest difference;
- with the embedder (``--no-scores`` skips it): the product's pair score (``Calibration.score_pair``)
  pooled Pearson, English–English Pearson and Spearman against the gold, and the two names weights
  refitted as ``eval/similarity.py`` fits them.

    .venv/bin/python eval/keyed_names.py [--data ../shared/data] [--keys 5] [--no-scores]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eval import similarity as evalsim  # noqa: E402
from eval.common import data_arg  # noqa: E402
from newsdesk.enrich.embed import load_embedder  # noqa: E402
from newsdesk.enrich.similarity import (  # noqa: E402
    Relation,
    SketchKey,
    article_names,
    calibration_for,
    hash_tokens,
    name_tokens,
    names_overlap,
)

Array = np.ndarray[Any, Any]


def keys(count: int) -> dict[str, SketchKey | None]:
    """CRC-32 (``None``) and ``count`` fixed keys."""
    fixed = {
        f"key {i}": SketchKey(hashlib.sha256(f"eval/keyed_names/{i}".encode()).digest()) for i in range(count)
    }
    return {"CRC-32 (unkeyed)": None} | fixed


def overlaps(pairs: list[evalsim.LangPair], key: SketchKey | None) -> Array:
    """Each pair's names overlap as the product reads it, sketches made under ``key``."""
    return np.array(
        [names_overlap(article_names(p.text1, key=key), article_names(p.text2, key=key)) for p in pairs]
    )


def distinct_hashes(tokens: set[str], key: SketchKey | None) -> int:
    return int(hash_tokens(tokens, cap=len(tokens), key=key).size)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    data_arg(parser)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--no-scores", action="store_true")
    args = parser.parse_args()
    pairs = evalsim.read_pairs(args.data)
    tokens = set().union(*(name_tokens(t) for p in pairs for t in (p.text1, p.text2)))
    chosen = keys(args.keys)
    names = {label: overlaps(pairs, key) for label, key in chosen.items()}
    crc = names["CRC-32 (unkeyed)"]
    print(f"{len(pairs)} pairs, {len(tokens)} distinct tokens\n")
    print("| sketch | distinct hashes | pairs whose overlap moved | largest move |")
    print("|---|---:|---:|---:|")
    for label, key in chosen.items():
        moved = np.abs(names[label] - crc)
        print(
            f"| {label} | {distinct_hashes(tokens, key)} | {int((moved > 1e-12).sum())} | {moved.max():.4f} |"
        )
    if args.no_scores:
        return
    embedder = load_embedder("bundled")
    shipped = calibration_for(embedder.name)
    cos, rels, gold = evalsim.cosines(embedder, pairs), evalsim.pair_relations(pairs), evalsim.gold_of(pairs)
    calibrated, crossing = evalsim.calibrated(shipped, cos, rels), evalsim.crossing_of(pairs)
    english = rels == Relation.ENGLISH
    print(
        "\n| sketch | pair score, pooled Pearson | en–en | Spearman | names weights refitted (one / two languages) |"
    )
    print("|---|---:|---:|---:|---|")
    for label, overlap in names.items():
        scores = evalsim.pair_scores(shipped, cos, rels, overlap)
        same, cross = evalsim.names_weight_fit(calibrated, overlap, gold, crossing)
        print(
            f"| {label} | {evalsim.pearson(scores, gold):.4f} | {evalsim.pearson(scores[english], gold[english]):.4f}"
            f" | {evalsim.spearman(scores, gold):.4f} | {same:.3f} / {cross:.3f} |"
        )


if __name__ == "__main__":
    main()
