"""Main-text extraction accuracy on the article-extraction benchmark (181 real article pages).

The metric is the benchmark's own (scrapinghub/article-extraction-benchmark, ``evaluate.py``): each text
is cut into overlapping 4-token shingles (tokens = ``\\w+`` runs); per page, true positives are the
shingles both texts share (as multisets), false positives the extra predicted ones, false negatives the
missed ones. Precision is averaged over pages with a non-empty prediction, recall over pages with a
non-empty truth, and F1 is the harmonic mean of those two averages. The published figures below were
computed that way, so ours sit beside them like for like.

Usage::

    .venv/bin/python eval/extraction.py [--data ../shared/data] [--json] [--variants] [--limit N]

``--variants`` also scores the trafilatura configurations that chose the settings in
``newsdesk/extract/text.py``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsdesk.errors import ExtractionError  # noqa: E402
from newsdesk.extract.article import extract  # noqa: E402

BENCHMARK = "article-extraction-benchmark"
SHINGLE = 4
"""Tokens per shingle: the benchmark's ``ngram_n``."""

PUBLISHED_F1 = {
    "trafilatura 2.0.0": 0.958,
    "newspaper4k 0.9.3.1": 0.949,
    "news-please 1.6.16": 0.948,
    "readability.js 0.6.0": 0.947,
    "readability-lxml 0.8.4.1": 0.922,
    "goose3 3.1.20": 0.896,
    "jusText 3.0.2": 0.804,
    "whole-page text (html-text)": 0.665,
}
"""F1 from the benchmark's README (latest and previous evaluations)."""

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Page:
    id: str
    url: str
    html: str
    truth: str


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float
    pages: int
    seconds: float


def load_pages(data: Path, limit: int | None = None, ids: Sequence[str] | None = None) -> list[Page]:
    """Benchmark pages in ground-truth order (or ``ids`` order), at most ``limit`` of them."""
    folder = data / BENCHMARK
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    chosen = list(ids) if ids is not None else sorted(truth)
    pages = []
    for page_id in chosen[:limit]:
        html = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8")
        item = truth[page_id]
        pages.append(
            Page(page_id, item.get("url") or "https://example.invalid/", html, item.get("articleBody", ""))
        )
    return pages


def shingles(text: str) -> Counter[tuple[str, ...]]:
    """4-token shingles of ``text``; a text of fewer tokens is one short shingle, an empty one none."""
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1)) if tokens)


def page_counts(truth: str, predicted: str) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over shingle multisets."""
    want, got = shingles(truth), shingles(predicted)
    return sum((want & got).values()), sum((got - want).values()), sum((want - got).values())


def score(pairs: Iterable[tuple[str, str]], seconds: float = 0.0) -> Scores:
    """Scores of (truth, prediction) pairs, averaged over pages as the benchmark does."""
    precisions, recalls, pages = [], [], 0
    for truth, predicted in pairs:
        pages += 1
        tp, fp, fn = page_counts(truth, predicted)
        if tp + fp > 0:
            precisions.append(1.0 if fp == fn == 0 else tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(1.0 if fp == fn == 0 else tp / (tp + fn))
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, pages, seconds)


def run(pages: Sequence[Page], system: Callable[[Page], str]) -> Scores:
    started = time.perf_counter()
    predictions = [system(page) for page in pages]
    elapsed = time.perf_counter() - started
    return score(((p.truth, text) for p, text in zip(pages, predictions, strict=True)), elapsed)


def newsdesk_text(page: Page, *, fast: bool = False) -> str:
    try:
        return extract(page.html, page.url, fast=fast).text
    except ExtractionError:
        return ""


def trafilatura_text(**options: Any) -> Callable[[Page], str]:
    import trafilatura

    def system(page: Page) -> str:
        return trafilatura.extract(page.html, url=page.url, **options) or ""

    return system


VARIANTS: dict[str, dict[str, Any]] = {
    "trafilatura include_comments=False": {"include_comments": False},
    "  + favor_recall": {"include_comments": False, "favor_recall": True},
    "  + fast": {"include_comments": False, "fast": True},
    "  + favor_precision": {"include_comments": False, "favor_precision": True},
    "  + favor_precision + fast": {"include_comments": False, "favor_precision": True, "fast": True},
    "  + include_tables=False": {"include_comments": False, "include_tables": False},
}


def systems(variants: bool) -> dict[str, Callable[[Page], str]]:
    import trafilatura

    table: dict[str, Callable[[Page], str]] = {
        "newsdesk extract": newsdesk_text,
        "newsdesk extract (fast)": lambda page: newsdesk_text(page, fast=True),
        f"trafilatura {trafilatura.__version__} defaults": trafilatura_text(),
    }
    if variants:
        table.update({name: trafilatura_text(**options) for name, options in VARIANTS.items()})
    return table


def report(results: dict[str, Scores]) -> str:
    lines = [f"{'system':<40} {'P':>6} {'R':>6} {'F1':>6} {'pages/s':>8}", "measured here:"]
    for name, s in results.items():
        rate = s.pages / s.seconds if s.seconds else 0.0
        lines.append(f"  {name:<38} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {rate:8.1f}")
    lines.append("published (benchmark README, same pages and metric):")
    lines += [f"  {name:<38} {'':>6} {'':>6} {f1:6.3f}" for name, f1 in PUBLISHED_F1.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages (by id)")
    parser.add_argument("--variants", action="store_true", help="also score trafilatura option variants")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")
    args = parser.parse_args(argv)
    pages = load_pages(args.data, args.limit)
    results = {name: run(pages, system) for name, system in systems(args.variants).items()}
    if args.json:
        summary = {"pages": len(pages), "measured": {k: asdict(v) for k, v in results.items()}}
        print(json.dumps({**summary, "published_f1": PUBLISHED_F1}, indent=2))
    else:
        print(f"{len(pages)} pages from {args.data / BENCHMARK}")
        print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
