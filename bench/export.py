"""Benchmark of the incremental record export (``newsdesk.publish.export``).

Generates N synthetic articles shaped like the reference record (topics, an image, two related records, a
secured payload), then times, into a fresh folder:

1. full export (every file new),
2. incremental export with nothing changed, told so by the same stamp (``Newsdesk.export`` passes the
   store's change stamp): no record is rendered,
3. incremental export with nothing changed but no stamp (every record rendered and compared),
4. incremental export with 1% of the records changed (quality bumped) and 1% removed,

plus ``dump_record`` alone over all N, which every export pays (a file's digest needs its text). Prints a
table. Usage::

    .venv/bin/python bench/export.py [--count 100000] [--folder /tmp/x] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsdesk.model import Article, Image, Provider, RelatedRef
from newsdesk.publish.export import ExportSummary, export_records
from newsdesk.record import dump_record

CHANGED_SHARE = 0.01  # the task's incremental case: 1% of the records change between two exports
SECURED = "A" * 700 + "==;" + "B" * 22 + "=="  # the size of the reference record's payload
START = datetime(2023, 1, 1, tzinfo=UTC)


def make_article(n: int) -> Article:
    provider = Provider(f"Provider {n % 300}", f"provider{n % 300}.example")
    related = tuple(
        RelatedRef(
            title=f"Related story {n}-{k} about fintech",
            excerpt="A short excerpt of the related story, cut on a word boundary.",
            web_url=f"https://other{k}.example/story/{n}",
            provider=Provider(f"Other {k}", f"other{k}.example"),
            published_at=START + timedelta(minutes=7 * n + k),
            quality=30 + k,
        )
        for k in range(2)
    )
    return Article(
        title=f"Story {n}: how banks use machine learning to score credit in market {n % 97}",
        web_url=f"https://{provider.domain}/news/{n}",
        original_url=f"https://{provider.domain}/news/{n}?utm_source=rss",
        provider=provider,
        excerpt="Economists say a cluster of interconnected firms explains why some places win " * 2,
        published_at=START + timedelta(minutes=7 * n),
        quality=n % 101,
        heat=-1,
        topics=("AI in Finance", "AI"),
        images=(Image(f"https://{provider.domain}/img/{n}.jpg", 835, 526, True),),
        related=related,
        secured=SECURED,
    )


@dataclass(frozen=True)
class Row:
    phase: str
    seconds: float
    summary: ExportSummary | None


def timed(phase: str, run: Callable[[], ExportSummary | None]) -> Row:
    started = time.perf_counter()
    summary = run()
    return Row(phase, time.perf_counter() - started, summary)


def dump_all(articles: list[Article]) -> None:
    for item in articles:
        dump_record(item)


HEADER = f"{'phase':<34} {'seconds':>8} {'records/s':>10} {'written':>8} {'unchanged':>9} {'removed':>8}"


def print_row(row: Row, count: int) -> None:
    s = row.summary
    cells = (s.written, s.unchanged, s.removed) if s else ("-", "-", "-")
    rate = count / row.seconds
    line = f"{row.phase:<34} {row.seconds:>8.2f} {rate:>10,.0f} {cells[0]:>8} {cells[1]:>9} {cells[2]:>8}"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=None, help="export folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the export folder")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="newsdesk-export-bench-"))
    articles = [make_article(n) for n in range(args.count)]
    step = max(1, round(1 / CHANGED_SHARE))
    changed = [
        a.replace(quality=(a.quality + 1) % 101) if i % step == 0 else a for i, a in enumerate(articles)
    ]
    changed = [a for i, a in enumerate(changed) if i % step != 1]  # and 1% dropped
    phases: list[tuple[str, Callable[[], ExportSummary | None]]] = [
        ("dump_record only", lambda: dump_all(articles)),
        ("full export (empty folder)", lambda: export_records(articles, folder, stamp="state-1")),
        ("nothing changed, same stamp", lambda: export_records(articles, folder, stamp="state-1")),
        ("nothing changed, no stamp", lambda: export_records(articles, folder)),
        ("incremental, 1% changed, 1% gone", lambda: export_records(changed, folder, stamp="state-2")),
    ]
    print(f"{args.count:,} articles into {folder}{' (kept)' if args.keep else ' (removed at the end)'}")
    print(HEADER, flush=True)
    try:
        for phase, run in phases:
            print_row(timed(phase, run), args.count)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
