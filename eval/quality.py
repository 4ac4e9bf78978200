"""How the shipped source prior ranks news domains (newsdesk.enrich.quality), and the prior's builder.

Data: ``domain-quality-ratings/data/domain_ratings.csv`` (Lin et al. 2023, PNAS Nexus 2(9) pgad286:
11,520 domains; ``pc1`` is their aggregate, the other columns the rating sets it was built from, each
covering part of the domains). For every domain, the quality score of one article is computed with only
the shipped prior (no import: ``quality.source_reputation(domain)``); printed is the Spearman rank
correlation between that score and each expert rating, over the domains the rating covers:

* a typical article — the same for every domain (the BBC article of median length, with date and
  description, no author or image): the ranking is the prior's alone;
* a random BBC article per domain (seeded): the ranking when article features vary as they do in a
  real feed; the prior's share of the score is what keeps outlets apart.

Before the shipped prior every domain got the same 15 points, so the ranking was constant (no
correlation at all). pc1 is built from the expert columns and the prior IS pc1, so the correlation with
pc1 measures only what the rounding and the rest of the score lose; the per-rater columns are the
fairer figures.

``--write-prior`` rebuilds the package file (``newsdesk/enrich/data/domain-ratings.csv.gz``) from
``domain_pc1.csv``: domains sorted, ``www.`` dropped, scores rounded to 3 decimals (0.03 quality points).

    .venv/bin/python eval/quality.py [--data ../shared/data] [--write-prior]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy.stats import spearmanr

from eval.common import Doc, data_arg, load_bbc
from newsdesk.enrich import quality

RATINGS_DIR = Path("domain-quality-ratings") / "data"
PRIOR_FILE = Path(__file__).resolve().parent.parent / "newsdesk" / "enrich" / "data" / quality.SHIPPED_RATINGS
RATERS = ("pc1", "afm", "mbfc", "lewandowsky_mean", "fc", "misinfome_bin")
PRIOR_DECIMALS = 3
SEED = 4


def write_prior(data: Path, out: Path = PRIOR_FILE) -> int:
    """Write the shipped ``domain,score`` table from ``domain_pc1.csv``; returns the rows written."""
    ratings, errors = quality.load_ratings(data / RATINGS_DIR / "domain_pc1.csv")
    if errors:
        raise SystemExit(f"domain_pc1.csv has bad rows: {errors[:3]}")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["domain", "score"])
    for domain in sorted(ratings):
        writer.writerow([domain, f"{round(ratings[domain], PRIOR_DECIMALS):g}"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0))
    return len(ratings)


def expert_ratings(data: Path) -> list[dict[str, str]]:
    with (data / RATINGS_DIR / "domain_ratings.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def article_score(doc: Doc, domain: str) -> int:
    """Quality of ``doc`` published by ``domain``, with only the shipped prior."""
    features = quality.QualityFeatures(
        title=doc.title, text=doc.text, reputation=quality.source_reputation(domain),
        has_date=True, has_description=True,
    )  # fmt: skip
    return quality.score_quality(features)[0]


def correlations(rows: Sequence[dict[str, str]], scores: Sequence[int]) -> dict[str, tuple[float, int]]:
    """Spearman rho and the number of domains, per rater (domains the rater left blank are skipped)."""
    out = {}
    for rater in RATERS:
        pairs = [
            (s, float(r[rater])) for r, s in zip(rows, scores, strict=True) if r[rater] not in ("", "NA")
        ]
        rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
        out[rater] = (float(rho), len(pairs))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data_arg(parser)
    parser.add_argument("--write-prior", action="store_true", help="rebuild the shipped ratings file")
    args = parser.parse_args(argv)
    if args.write_prior:
        count = write_prior(args.data)
        print(f"{PRIOR_FILE}: {count} domains, {PRIOR_FILE.stat().st_size:,} bytes")
        return
    rows = expert_ratings(args.data)
    docs = load_bbc(args.data)
    typical = sorted(docs, key=lambda d: len(d.text.split()))[len(docs) // 2]
    rng = random.Random(SEED)
    runs = {
        "typical article": [article_score(typical, r["domain"]) for r in rows],
        "random BBC article": [article_score(docs[rng.randrange(len(docs))], r["domain"]) for r in rows],
    }
    print(f"{len(rows)} domains; shipped prior covers {len(quality.shipped_ratings())}")
    for name, scores in runs.items():
        spread = np.percentile(scores, [5, 50, 95])
        print(f"\n{name}: quality 5/50/95th percentile {spread[0]:.0f}/{spread[1]:.0f}/{spread[2]:.0f}")
        print("  rater               Spearman  domains")
        for rater, (rho, n) in correlations(rows, scores).items():
            print(f"  {rater:18s}  {rho:8.3f}  {n:7d}")


if __name__ == "__main__":
    main()
