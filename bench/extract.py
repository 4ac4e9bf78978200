"""Extraction throughput on the 181 article-extraction-benchmark pages, and worst-case pages.

Prints pages/second, per-page latency and CPU milliseconds per page for: our ``extract`` in one
process, our ``extract`` in a ``ProcessPoolExecutor`` with 2 workers, our fast mode, plain
``trafilatura.extract``, and newspaper4k (HTML handed in, no network), all on the same pages in the
same run. ``--hostile`` adds generated
multi-megabyte pages (flat paragraphs, link lists, tables, deep nesting) timed once each with plain
trafilatura and with our bounded ``extract``.

Usage::

    .venv/bin/python bench/extract.py [--data ../shared/data] [--hostile] [--limit N]

Timings depend on the machine and its load (the figures in docs come from the 2-vCPU EPYC boxes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsdesk.errors import ExtractionError  # noqa: E402
from newsdesk.extract.article import extract  # noqa: E402

BENCHMARK = "article-extraction-benchmark"
POOL_WORKERS = 2
"""The machines have 2 vCPUs."""
HOSTILE_MB = 5


@dataclass(frozen=True, slots=True)
class Timing:
    pages: int
    seconds: float
    latencies: tuple[float, ...] = ()
    failures: int = 0
    cpu_seconds: float = 0.0
    """This process's CPU time: on a shared, loaded box it moves far less than the wall clock."""

    def row(self, name: str) -> str:
        rate = self.pages / self.seconds if self.seconds else 0.0
        if not self.latencies:
            return f"  {name:<36} {rate:9.1f} {'':>9} {'':>9}"
        ordered = sorted(self.latencies)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        cpu = self.cpu_seconds * 1000 / self.pages
        failed = f"  ({self.failures} pages failed)" if self.failures else ""
        return f"  {name:<36} {rate:9.1f} {p95 * 1000:9.1f} {ordered[-1] * 1000:9.1f} {cpu:9.1f}{failed}"


def load(data: Path, limit: int | None) -> list[tuple[str, str]]:
    folder = data / BENCHMARK
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    out = []
    for page_id in sorted(truth)[:limit]:
        html = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8")
        out.append((html, truth[page_id].get("url") or "https://example.invalid/"))
    return out


def ours(page: tuple[str, str]) -> int:
    try:
        return len(extract(page[0], page[1]).text)
    except ExtractionError:
        return 0


def ours_fast(page: tuple[str, str]) -> int:
    try:
        return len(extract(page[0], page[1], fast=True).text)
    except ExtractionError:
        return 0


def plain_trafilatura(page: tuple[str, str]) -> int:
    import trafilatura

    return len(trafilatura.extract(page[0], url=page[1]) or "")


def newspaper4k(page: tuple[str, str]) -> int:
    from newspaper import Article

    article = Article(page[1], fetch_images=False)
    article.download(input_html=page[0])  # sets the HTML; no request is made
    try:
        article.parse()
    except ImportError:  # Korean/Chinese/Japanese pages need its optional NLP extras (not installed)
        return -1
    return len(article.text)


def timed(pages: Sequence[tuple[str, str]], system: Callable[[tuple[str, str]], int]) -> Timing:
    system(pages[0])  # warm-up: imports, model loads
    latencies, failures = [], 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for page in pages:
        t0 = time.perf_counter()
        failures += system(page) < 0
        latencies.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu_started
    return Timing(len(pages), time.perf_counter() - started, tuple(latencies), failures, cpu)


def pooled(pages: Sequence[tuple[str, str]]) -> Timing:
    with ProcessPoolExecutor(max_workers=POOL_WORKERS) as pool:
        list(pool.map(ours, pages[: POOL_WORKERS * 2]))  # warm both workers
        started = time.perf_counter()
        list(pool.map(ours, pages, chunksize=4))
        return Timing(len(pages), time.perf_counter() - started)


def hostile_pages() -> dict[str, str]:
    size = HOSTILE_MB * 1_000_000
    flat = "<div><p>Paragraph with several words of running text in it.</p></div>"
    link = "<li><a href='/a'>a link to another page</a></li>"
    row = "<tr><td>cell</td><td>more words in a table cell</td></tr>"
    return {
        "flat paragraphs": f"<html><body>{flat * (size // len(flat))}</body></html>",
        "link list": f"<html><body><ul>{link * (size // len(link))}</ul></body></html>",
        "table": f"<html><body><table>{row * (size // len(row))}</table></body></html>",
        "nested divs": "<html><body>" + "<div>x " * (size // 13) + "</div>" * (size // 13) + "</body></html>",
    }


def hostile_report() -> list[str]:
    import trafilatura

    lines = [
        f"generated {HOSTILE_MB} MB pages, seconds for one page:",
        f"  {'page':<20} {'trafilatura':>12} {'ours':>8}",
    ]
    for name, html in hostile_pages().items():
        t0 = time.perf_counter()
        trafilatura.extract(html)
        t1 = time.perf_counter()
        ours((html, "https://example.com/x"))
        t2 = time.perf_counter()
        lines.append(f"  {name:<20} {t1 - t0:12.2f} {t2 - t1:8.2f}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--hostile", action="store_true", help="also time generated multi-MB pages")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # trafilatura and newspaper log every discarded page
    warnings.simplefilter("ignore")
    pages = load(args.data, args.limit)
    print(f"{len(pages)} pages, {sum(len(h) for h, _ in pages) / 1e6:.1f} MB of HTML")
    print(f"  {'system':<36} {'pages/s':>9} {'p95 ms':>9} {'max ms':>9} {'CPU ms/pg':>9}")
    print(timed(pages, ours).row("newsdesk extract, 1 process"))
    print(pooled(pages).row(f"newsdesk extract, {POOL_WORKERS} processes"))
    print(timed(pages, ours_fast).row("newsdesk extract fast, 1 process"))
    print(timed(pages, plain_trafilatura).row("trafilatura.extract defaults"))
    print(timed(pages, newspaper4k).row("newspaper4k"))
    if args.hostile:
        print("\n".join(hostile_report()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
