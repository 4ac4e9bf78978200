"""Robustness: every file of the feedparser test corpus (2,106 small feeds, many ill-formed, oddly
encoded or hostile) through ``parse_feed``. Each must come back as a ParsedFeed or a ParseError, within
a hang guard, and no script, ``javascript:`` URL or ``on*=`` handler may survive in what we emit."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import feedparser
import pytest

from newsdesk.errors import ParseError
from newsdesk.sources.feeds import ParsedFeed, parse_feed
from newsdesk.sources.sanitize import clean_html, plain_text

log = logging.getLogger(__name__)

CORPUS = Path(__file__).resolve().parents[2] / "shared/data/feedparser-tests/tests"
FEED_URL = "http://example.org/feeds/corpus.xml"
HANG_GUARD_S = 20.0
"""Not a speed check: the slowest corpus file parses in well under a second (bench/feeds.py); a parse
still running after 20 s is a hang."""
MIN_FILES = 2000
MIN_FEEDS_WITH_ENTRIES = 90  # bench/feeds.py: parse_feed returns entries for 100 corpus files
MIN_FRAGMENTS = 700  # the corpus holds 756 summary/content fragments, 162 with script, javascript: or on*=

DANGER = re.compile(r"<\s*script|javascript\s*:|<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
HEADER = re.compile(rb"^Header:\s*Content-type:\s*(.+)$", re.IGNORECASE | re.MULTILINE)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


def content_type_of(body: bytes) -> str | None:
    """The Content-Type a corpus test says it is served with (``Header:`` line in its comment)."""
    found = HEADER.search(body[:1000])
    return found.group(1).decode("latin-1").strip() if found else None


def outcomes() -> Iterator[tuple[Path, ParsedFeed | ParseError | BaseException, float]]:
    """Each file's result (or the exception it raised) and seconds taken, each under the hang guard."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        for path in corpus_files():
            body = path.read_bytes()
            start = time.perf_counter()
            future = pool.submit(parse_feed, body, FEED_URL, content_type=content_type_of(body))
            try:
                result: ParsedFeed | BaseException = future.result(timeout=HANG_GUARD_S)
            except FutureTimeout:
                pytest.fail(f"{path.relative_to(CORPUS)}: parse still running after {HANG_GUARD_S} s")
            except BaseException as e:  # collected and judged below: ParseError is fine, others are not
                result = e
            yield path, result, time.perf_counter() - start


def emitted_text(feed: ParsedFeed) -> Iterator[str]:
    if feed.title:
        yield feed.title
    for entry in feed.entries:
        yield from (entry.title, entry.summary, entry.content_html or "")


def test_every_corpus_file_parses_or_raises_parse_error() -> None:
    files, with_entries = 0, 0
    crashes: list[str] = []
    unsafe: list[str] = []
    timings: list[tuple[float, Path]] = []
    for path, result, seconds in outcomes():
        files += 1
        timings.append((seconds, path.relative_to(CORPUS)))
        if isinstance(result, ParseError):
            continue
        if not isinstance(result, ParsedFeed):
            crashes.append(f"{path.relative_to(CORPUS)}: {type(result).__name__}: {result}")
            continue
        with_entries += bool(result.entries)
        unsafe.extend(
            f"{path.relative_to(CORPUS)}: {t[:120]!r}" for t in emitted_text(result) if DANGER.search(t)
        )
    for seconds, name in sorted(timings, reverse=True)[:5]:
        log.info("slowest corpus file", extra={"file": str(name), "duration_ms": round(seconds * 1000, 1)})
    assert files >= MIN_FILES
    assert crashes == []
    assert unsafe == []
    assert with_entries >= MIN_FEEDS_WITH_ENTRIES


def corpus_fragments() -> Iterator[tuple[Path, str]]:
    """Every raw (unsanitised) summary and content block in the corpus, read by feedparser with its own
    sanitiser off, including entries we would skip for lack of a link: the hostile input itself."""
    for path in corpus_files():
        result = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
        for entry in result.entries:
            for block in (entry.get("summary_detail"), *(entry.get("content") or ())):
                if block and block.get("value"):
                    yield path, block["value"]


def test_sanitiser_leaves_nothing_active_in_any_corpus_fragment() -> None:
    fragments, unsafe = 0, []
    for path, fragment in corpus_fragments():
        fragments += 1
        for cleaned in (clean_html(fragment, FEED_URL), plain_text(fragment)):
            if DANGER.search(cleaned):
                unsafe.append(f"{path.relative_to(CORPUS)}: {cleaned[:120]!r}")
    assert fragments >= MIN_FRAGMENTS
    assert unsafe == []


FUZZ_CASES = 600
"""Mutated corpus files per run: truncations, byte flips and spliced-in hostile tokens (~3 s)."""
FUZZ_TOKENS = (b"<script>", b"&#0;", b"\x00", b"]]>", b"<![CDATA[", b"&amp;", b"\xff\xfe", b"<!ENTITY x 'y'>")


def mutate(body: bytes, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.4:
        return body[: rng.randrange(len(body) or 1)]
    if choice < 0.8:
        mutated = bytearray(body)
        for _ in range(rng.randrange(1, 8)):
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        return bytes(mutated)
    cut = rng.randrange(len(body) or 1)
    return body[:cut] + rng.choice(FUZZ_TOKENS) + body[cut:]


def test_mutated_corpus_files_only_ever_raise_parse_error() -> None:
    rng, files, crashes = random.Random(20240601), corpus_files(), []
    for _ in range(FUZZ_CASES):
        body = mutate(rng.choice(files).read_bytes(), rng)
        try:
            feed = parse_feed(body, FEED_URL)
        except ParseError:
            continue
        except Exception as e:  # the assertion below reports it
            crashes.append(f"{type(e).__name__}: {e} for {body[:80]!r}")
            continue
        crashes.extend(f"unsafe output {t[:80]!r}" for t in emitted_text(feed) if DANGER.search(t))
    assert crashes == []
