"""What weighing the title apart costs: CPU time per article of the article vectors (title + lead, plus the
title embedded on its own, ``similarity.article_vectors``) against the title + lead vector alone.

Texts: the first ``--count`` texts of the SemEval-2022 Task 8 training set (text1 of each row: news in
ten languages, as the multilingual default embeds them), split into headline and body as
``eval/similarity.py`` does. CPU time is this process's user + system time (every thread of the
embedders), so it stays meaningful on a shared machine where wall time does not; each variant runs
``--rounds`` times, interleaved, and the least CPU time counts.

    .venv/bin/python bench/similarity.py [--data ../shared/data] [--count 400] [--rounds 3] [--chars 500 700]

``--chars`` adds the article vectors of each further window (the lead cut at that many characters), so a
longer window's cost is read against the shipped one in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eval.common import data_arg  # noqa: E402
from eval.similarity import headline, read_pairs, window  # noqa: E402
from newsdesk.enrich.embed import EMBED_TEXT_CHARS, load_embedder  # noqa: E402
from newsdesk.enrich.similarity import article_vectors  # noqa: E402


def cpu_seconds(work: Callable[[], object]) -> float:
    """User + system CPU time this process spends in ``work`` (all its threads)."""
    process = psutil.Process()
    before = process.cpu_times()
    work()
    after = process.cpu_times()
    return (after.user - before.user) + (after.system - before.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    data_arg(parser)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chars", type=int, nargs="+", default=[EMBED_TEXT_CHARS], help="lead windows")
    args = parser.parse_args()
    texts = [p.text1 for p in read_pairs(args.data)[: args.count]]
    titles = [headline(t) for t in texts]
    leads = [window(t, args.chars[0]) for t in texts]
    embedder = load_embedder(args.model)
    embedder.embed(leads[:32])  # warm-up: the first run allocates arenas
    variants: dict[str, Callable[[], object]] = {
        "title + lead (before)": lambda: embedder.embed(leads),
        "article vectors (title + lead, plus the title)": lambda: article_vectors(
            embedder.embed, titles, leads
        ),
    }
    for chars in args.chars[1:]:
        longer = [window(t, chars) for t in texts]
        variants[f"article vectors, {chars}-character lead"] = lambda longer=longer: article_vectors(
            embedder.embed, titles, longer
        )
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.rounds):
        for name, work in variants.items():
            best[name] = min(best[name], cpu_seconds(work))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{embedder.name}, {len(texts)} texts, best of {args.rounds}; load average {load}\n")
    print("| variant | CPU ms per article | vs before |")
    print("|---|---:|---:|")
    base = best["title + lead (before)"]
    for name, seconds in best.items():
        print(f"| {name} | {1000 * seconds / len(texts):.1f} | {seconds / base:.2f}× |")


if __name__ == "__main__":
    main()
