"""Benchmark: fastfeedparser vs feedparser, speed and agreement, as newsdesk uses them.

Both parsers run through ``newsdesk.sources.feeds.parse_feed_with`` (same normalisation, no fallback),
so the figures compare the parsers, not our post-processing. Prints a table:

* speed on a generated 100-item RSS 2.0 feed (median of repeats) and on the whole feedparser corpus;
* our own per-item work on that feed, in CPU time beside fastfeedparser's library call: with only the
  entry URLs read (what a repeat poll does with entries the store holds), with the labels read (a new
  entry whose page was fetched and gave its own text and excerpt) and with every field read (a new
  entry without a page of its own: the text fields are sanitised on first read);
* outcome counts on the corpus (entries / no entries / error) for each parser and for ``parse_feed``;
* agreement: for files where both return entries, the share of entry pairs (by position) equal on
  url, title, published_at, updated_at and summary, field by field and all together.

Usage: ``.venv/bin/python bench/feeds.py [--data ../shared/data] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import fastfeedparser
import feedparser

from newsdesk.errors import ParseError
from newsdesk.sources.feeds import FeedEntry, ParsedFeed, parse_feed, parse_feed_with

FIELDS = ("url", "title", "published_at", "updated_at", "summary")
# Every field of an entry, as a new entry's article reads them (entries make their fields on first read,
# so a figure that reads fewer would leave work out)
EVERY_FIELD = tuple(FeedEntry.__dataclass_fields__)
URL = "http://example.org/dir/feed.xml"
CORPUS = "feedparser-tests/tests"
HEADER = re.compile(rb"^Header:\s*Content-type:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def generated_feed(items: int = 100) -> bytes:
    """A realistic RSS 2.0 feed: HTML descriptions, content:encoded, dates, categories, media."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/">'
        "<channel><title>Bench</title><link>https://bench.example/</link><ttl>30</ttl>"
    ]
    for i in range(items):
        parts.append(
            f"<item><title>Story number {i} &amp; more</title><link>https://bench.example/s/{i}</link>"
            f'<guid isPermaLink="false">id-{i}</guid>'
            f"<description>&lt;p&gt;Lead paragraph {i} with &lt;b&gt;bold&lt;/b&gt; text.&lt;/p&gt;</description>"
            f"<content:encoded><![CDATA[<p>{'Body text sentence. ' * 40}</p><img src='/i/{i}.jpg'>]]>"
            f"</content:encoded><pubDate>Mon, 0{1 + i % 9} Jan 2024 1{i % 10}:00:00 +0000</pubDate>"
            f"<category>cat{i % 5}</category><media:content url='https://bench.example/m/{i}.jpg' medium='image'/>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def header_content_type(body: bytes) -> str | None:
    """The ``Header: Content-type: ...`` line a corpus test declares in its leading comment: the test
    was written for a body served with that header, so both parsers get it."""
    found = HEADER.search(body[:1000])
    return found.group(1).decode("latin-1").strip() if found else None


def run(fn: Callable[[], ParsedFeed]) -> ParsedFeed | None:
    """``fn``'s feed with every entry field read (entries make their fields and sanitise their text on
    first read, and the timings here include that work), or None on a ParseError."""
    try:
        feed = fn()
    except ParseError:
        return None
    for entry in feed.entries:
        _ = [getattr(entry, name) for name in EVERY_FIELD]
    return feed


def timed(fn: Callable[[], ParsedFeed]) -> tuple[ParsedFeed | None, float]:
    start = time.perf_counter()
    result = run(fn)
    return result, time.perf_counter() - start


def outcome(feed: ParsedFeed | None) -> str:
    if feed is None:
        return "parse error"
    return "entries" if feed.entries else "no entries"


def bench_generated(repeat: int) -> None:
    body = generated_feed()
    print(f"generated 100-item RSS feed ({len(body):,} bytes), median of {repeat} runs")
    for name in ("fastfeedparser", "feedparser"):
        times = [timed(partial(parse_feed_with, name, body, URL))[1] for _ in range(repeat)]  # fields read
        print(f"  {name:<22} {statistics.median(times) * 1000:8.2f} ms  (library + normalisation)")
    times = [timed(partial(parse_feed, body, URL))[1] for _ in range(repeat)]
    print(
        f"  {'parse_feed':<22} {statistics.median(times) * 1000:8.2f} ms  (chosen path, with normalisation)"
    )
    for name, library in (("fastfeedparser", fastfeedparser.parse), ("feedparser", feedparser.parse)):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            library(body)
            times.append(time.perf_counter() - start)
        print(f"  {name + ' alone':<22} {statistics.median(times) * 1000:8.2f} ms  (library call only)")
    bench_own_work(body, repeat)
    fast, slow = parse_feed_with("fastfeedparser", body, URL), parse_feed_with("feedparser", body, URL)
    equal = sum(a == b for a, b in zip(fast.entries, slow.entries, strict=False))
    print(f"  entries fully equal (all fields): {equal}/{len(slow.entries)}")


def cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds of ``fn`` (process time: the machine is shared, wall time is not ours)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def read_urls(body: bytes) -> None:
    for entry in parse_feed(body, URL).entries:
        _ = entry.url


def read_labels(body: bytes) -> None:
    """What ``decider.decide_article`` reads of a new entry whose page gave its own text and excerpt:
    the labels (title, author, categories, dates, image), not the summary and content."""
    for entry in parse_feed(body, URL).entries:
        _ = (entry.title, entry.author, entry.categories, entry.published_at, entry.image_url)


def read_all(body: bytes) -> None:
    for entry in parse_feed(body, URL).entries:
        _ = [getattr(entry, name) for name in EVERY_FIELD]


def bench_own_work(body: bytes, repeat: int) -> None:
    """Our work per feed beyond the library call, and its ratio to that call (issue 14's goal: ≤ 2×)."""
    library = cpu_ms(partial(fastfeedparser.parse, body), repeat)
    print(f"  our own work beside fastfeedparser's {library:.2f} CPU-ms (median of {repeat}):")
    cases = (("entry URLs read", read_urls), ("labels read", read_labels), ("every field read", read_all))
    for label, fn in cases:
        own = cpu_ms(partial(fn, body), repeat) - library
        print(f"    {label:<20} {own:6.2f} CPU-ms  ({own / library:.1f}x the library call)")


def compare(fast: ParsedFeed, slow: ParsedFeed, fields: Counter[str]) -> int:
    """Add per-field agreements of entry pairs to ``fields``; return the number of pairs."""
    pairs = list(zip(fast.entries, slow.entries, strict=False))
    for a, b in pairs:
        same = [f for f in FIELDS if getattr(a, f) == getattr(b, f)]
        fields.update(same)
        if len(same) == len(FIELDS):
            fields["ALL"] += 1
    fields["count-mismatch"] += len(fast.entries) != len(slow.entries)
    return len(pairs)


def bench_corpus(data: Path) -> None:
    files = sorted(p for p in (data / CORPUS).rglob("*") if p.is_file())
    totals: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = {n: Counter() for n in ("fastfeedparser", "feedparser", "parse_feed")}
    fields: Counter[str] = Counter()
    pairs = both = 0
    for path in files:
        body, ctype = path.read_bytes(), header_content_type(path.read_bytes())
        fast, t_fast = timed(partial(parse_feed_with, "fastfeedparser", body, URL, content_type=ctype))
        slow, t_slow = timed(partial(parse_feed_with, "feedparser", body, URL, content_type=ctype))
        chosen, t_chosen = timed(partial(parse_feed, body, URL, content_type=ctype))
        totals.update({"fastfeedparser": t_fast, "feedparser": t_slow, "parse_feed": t_chosen})
        for name, feed in (("fastfeedparser", fast), ("feedparser", slow), ("parse_feed", chosen)):
            outcomes[name][outcome(feed)] += 1
        if chosen is not None:
            outcomes["parse_feed"][f"by {chosen.parser}"] += 1
        if fast is not None and slow is not None and fast.entries and slow.entries:
            both += 1
            pairs += compare(fast, slow, fields)
    print(f"\nfeedparser corpus: {len(files)} files")
    print(f"  {'parser':<15} {'total s':>8} {'entries':>8} {'none':>6} {'error':>6}")
    for name, counts in outcomes.items():
        print(
            f"  {name:<15} {totals[name]:8.2f} {counts['entries']:8d} {counts['no entries']:6d}"
            f" {counts['parse error']:6d}"
        )
    print(
        f"  parse_feed answered by: fastfeedparser {outcomes['parse_feed']['by fastfeedparser']},"
        f" feedparser {outcomes['parse_feed']['by feedparser']}, jsonfeed {outcomes['parse_feed']['by jsonfeed']}"
    )
    print(f"\nAGREEMENT on {both} files where both return entries ({pairs} entry pairs by position):")
    for name in (*FIELDS, "ALL"):
        print(f"  {name:<13} {fields[name] / max(pairs, 1):7.1%}")
    print(f"  files whose entry counts differ: {fields['count-mismatch']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bench_generated(args.repeat)
    if (args.data / CORPUS).is_dir():
        bench_corpus(args.data)
    else:
        print(f"\n(corpus not found under {args.data}; skipped)")


if __name__ == "__main__":
    main()
