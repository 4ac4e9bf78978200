"""Article quality: an integer 0-100 from a handful of explainable features, each kept as a Reason.

The score is the clamped sum of its reasons (points):

========================  ======  =========================================================
reason                    points  from
========================  ======  =========================================================
``source``                0-30    the source's reputation (0-1 rating; unknown → neutral 0.5)
``depth``                 0-25    words (saturating) plus a bonus for several paragraphs
``metadata``              0-20    author, date, image and description: 5 points each
``originality``           0-10    10 unless the article is a near-duplicate of an earlier one
``readability``           0-10    mean sentence length near the 12-25 words of edited news prose
``headline``              ≤ 0     clickbait phrases, ALL CAPS, "!!!", listicle and question bait
========================  ======  =========================================================

The weights are editorial judgement, not fitted: no labelled quality set lies in ../shared/data. They
put the source prior at under a third of the score so an unknown blog with a deep, complete, original
article (800 words: 77) outranks a top outlet's 50-word near-duplicate wire copy (62). docs/scoring.md has the formula.

:func:`load_ratings` reads a ``domain,score`` (or ``domain,pc1``) table of source ratings in 0-1, skipping
and reporting bad rows by line number. Without any imported table the source prior still separates
outlets: a table of 11,519 news domains ships with the package (:func:`shipped_ratings`, Lin et al. 2023,
see ``data/README.md``). :func:`rating_for` says which rating a domain gets and where it came from::

    imported table ─► shipped table ─► neutral 0.5
    (each: the domain itself, then its parents: news.example.co.uk → example.co.uk → co.uk)
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from newsdesk.errors import EnrichmentError
from newsdesk.model import Reason

log = logging.getLogger(__name__)

SOURCE_POINTS = 30.0
NEUTRAL_REPUTATION = 0.5  # an unrated source is neither trusted nor distrusted
DEPTH_POINTS = 20.0
DEPTH_WORDS_SCALE = 400.0
"""Depth points ``20 x (1 - exp(-words / 400))``: 150 words → 6, 400 → 13, 800 → 17, 1,500 → 20. News
articles run 300-1,000 words (BBC set: median 326, shortest 84); a wire brief of 100 words earns a quarter."""

PARAGRAPH_POINTS = 5.0
MIN_PARAGRAPHS = 3  # a structured article, not a teaser: the bonus needs this many paragraphs
METADATA_POINTS = 5.0  # per field present: author, date, image, description
ORIGINALITY_POINTS = 10.0
READABILITY_POINTS = 10.0
READABLE_SENTENCE_WORDS = (12.0, 25.0)
"""Mean words per sentence that earn full readability points: the range of edited news prose (BBC set:
median of per-article mean sentence length 21.6 words). Points fall linearly to 0 at 10 words beyond either edge."""

READABILITY_FALLOFF_WORDS = 10.0
CLICKBAIT_PENALTY = -10.0  # per phrase (at most two count)
SHOUTING_PENALTY = -10.0  # an ALL-CAPS headline
EXCLAMATION_PENALTY = -5.0  # "!!" or more
LISTICLE_PENALTY = -5.0  # "7 things…", "10 reasons…"
QUESTION_PENALTY = -5.0  # a yes/no question headline (Betteridge's law)
MAX_CLICKBAIT_HITS = 2
MAX_TEXT_CHARS = 200_000  # bounds the work on a 2 MB page; depth saturates long before

_CLICKBAIT = re.compile(
    r"you won'?t believe|what happen(?:s|ed) next|will blow your mind|this is why|here'?s why|the reason why"
    r"|one (?:weird|simple) trick|doctors hate|jaw[- ]dropping|can'?t stop|you need to know|shocking|mind[- ]blowing"
    r"|must[- ]see|gone wrong|will make you|you'?ll never guess|this one|everyone is talking",
    re.IGNORECASE,
)
_LISTICLE = re.compile(
    r"^\s*\d+\s+(?:\w+\s+)?(?:things|ways|reasons|tips|tricks|secrets|facts|signs|photos|mistakes|habits)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"^\s*(?:is|are|can|could|will|would|did|does|do|should|has|have)\b.*\?\s*$", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")


@dataclass(frozen=True, slots=True)
class QualityFeatures:
    """What the quality score reads about one article. ``reputation`` is the source's 0-1 rating or
    ``None`` when unrated; ``is_near_duplicate`` is true when dedupe matched an earlier article."""

    title: str
    text: str = ""
    reputation: float | None = None
    has_author: bool = False
    has_date: bool = False
    has_image: bool = False
    has_description: bool = False
    is_near_duplicate: bool = False


def score_quality(features: QualityFeatures) -> tuple[int, tuple[Reason, ...]]:
    """The 0-100 quality of an article and the reasons that make it up (see the module docstring)."""
    text = features.text[:MAX_TEXT_CHARS]
    reasons = (
        _source(features.reputation),
        _depth(text),
        _metadata(features),
        _originality(features.is_near_duplicate),
        _readability(text),
        _headline(features.title),
    )
    total = sum(r.value for r in reasons)
    return max(0, min(100, round(total))), reasons


def _source(reputation: float | None) -> Reason:
    if reputation is None or math.isnan(reputation):
        return Reason("source", SOURCE_POINTS * NEUTRAL_REPUTATION, "unrated source (neutral)")
    value = min(max(reputation, 0.0), 1.0)
    return Reason("source", SOURCE_POINTS * value, f"source rating {value:.2f}")


def _depth(text: str) -> Reason:
    words = len(text.split())
    paragraphs = sum(1 for p in re.split(r"\n\s*\n|\n", text) if len(p.split()) >= 5)
    points = DEPTH_POINTS * (1.0 - math.exp(-words / DEPTH_WORDS_SCALE))
    if paragraphs >= MIN_PARAGRAPHS:
        points += PARAGRAPH_POINTS
    return Reason("depth", points, f"{words:,} words, {paragraphs} paragraphs")


def _metadata(features: QualityFeatures) -> Reason:
    present = {
        "author": features.has_author,
        "date": features.has_date,
        "image": features.has_image,
        "description": features.has_description,
    }
    have = [name for name, ok in present.items() if ok]
    missing = [name for name, ok in present.items() if not ok]
    detail = f"has {', '.join(have) or 'nothing'}" + (f"; lacks {', '.join(missing)}" if missing else "")
    return Reason("metadata", METADATA_POINTS * len(have), detail)


def _originality(is_near_duplicate: bool) -> Reason:
    if is_near_duplicate:
        return Reason("originality", 0.0, "near-duplicate of an earlier article")
    return Reason("originality", ORIGINALITY_POINTS, "original")


def mean_sentence_words(text: str) -> float | None:
    """Mean words per sentence, or ``None`` for a text with no words."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    words = len(text.split())
    return words / len(sentences) if words and sentences else None


def _readability(text: str) -> Reason:
    mean = mean_sentence_words(text)
    if mean is None:
        return Reason("readability", 0.0, "no text")
    low, high = READABLE_SENTENCE_WORDS
    distance = max(low - mean, mean - high, 0.0)
    points = READABILITY_POINTS * max(0.0, 1.0 - distance / READABILITY_FALLOFF_WORDS)
    return Reason("readability", points, f"{mean:.0f} words per sentence")


def _headline(title: str) -> Reason:
    found: list[str] = []
    points = 0.0
    bait = _CLICKBAIT.findall(title)[:MAX_CLICKBAIT_HITS]
    if bait:
        points += CLICKBAIT_PENALTY * len(bait)
        found.append("clickbait: " + ", ".join(f"'{b.lower()}'" for b in bait))
    letters = [c for c in title if c.isalpha()]
    if len(letters) >= 8 and all(c.isupper() for c in letters if c.lower() != c.upper()):
        points += SHOUTING_PENALTY
        found.append("all caps")
    if "!!" in title:
        points += EXCLAMATION_PENALTY
        found.append("'!!'")
    if _LISTICLE.search(title):
        points += LISTICLE_PENALTY
        found.append("listicle")
    if _QUESTION.search(title):
        points += QUESTION_PENALTY
        found.append("question headline")
    return Reason("headline", points, "; ".join(found) if found else "plain headline")


# --- source ratings -----------------------------------------------------------------------------

SCORE_COLUMNS = ("score", "pc1")


def load_ratings(path: Path) -> tuple[dict[str, float], list[str]]:
    """Domain ratings from a CSV with a ``domain`` column and a ``score`` (or ``pc1``) column in 0-1.

    Returns the ratings (domains lower-cased, ``www.`` dropped) and one message per skipped row
    (``"line 7: score 'abc' is not a number"``). A file that cannot be read or lacks the columns is an
    :class:`EnrichmentError`; bad rows never are.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return _read_ratings(f, str(path))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise EnrichmentError(f"{path}: cannot read the ratings: {e}") from e


def _read_ratings(f: TextIO, origin: str) -> tuple[dict[str, float], list[str]]:
    rows = csv.reader(f)
    header = [h.strip().lower() for h in next(rows, [])]
    score_column = next((c for c in SCORE_COLUMNS if c in header), None)
    if "domain" not in header or score_column is None:
        raise EnrichmentError(f"{origin}: the header needs 'domain' and 'score' (or 'pc1') columns")
    domain_at, score_at = header.index("domain"), header.index(score_column)
    ratings: dict[str, float] = {}
    errors: list[str] = []
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        parsed = _parse_row(row, domain_at, score_at)
        if isinstance(parsed, str):
            errors.append(f"line {line}: {parsed}")
        else:
            ratings[parsed[0]] = parsed[1]
    if errors:
        log.warning("ratings rows skipped", extra={"path": origin, "skipped": len(errors)})
    return ratings, errors


def _parse_row(row: list[str], domain_at: int, score_at: int) -> tuple[str, float] | str:
    """``(domain, score)`` or the reason the row is bad."""
    if len(row) <= max(domain_at, score_at):
        return f"expected at least {max(domain_at, score_at) + 1} columns, got {len(row)}"
    domain = normalise_domain(row[domain_at])
    if not domain or " " in domain or "." not in domain:
        return f"domain {row[domain_at]!r} is not a domain name"
    try:
        score = float(row[score_at])
    except ValueError:
        return f"score {row[score_at]!r} is not a number"
    if not 0.0 <= score <= 1.0:
        return f"score {score} is outside 0-1"
    return domain, score


def normalise_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    return domain.removeprefix("www.")


def reputation_for(domain: str, ratings: Mapping[str, float]) -> float | None:
    """The rating of ``domain`` or of its nearest rated parent (``news.example.com`` → ``example.com``)."""
    found = _rated_domain(domain, ratings)
    return ratings[found] if found is not None else None


def _rated_domain(domain: str, ratings: Mapping[str, float]) -> str | None:
    """``domain`` itself or its nearest parent that ``ratings`` holds (never a bare top-level label)."""
    parts = normalise_domain(domain).split(".")
    for start in range(len(parts) - 1):
        candidate = ".".join(parts[start:])
        if candidate in ratings:
            return candidate
    return None


# --- the shipped prior --------------------------------------------------------------------------

SHIPPED_RATINGS = "domain-ratings.csv.gz"
"""Package data (``newsdesk/enrich/data/``): domain,score for 11,519 news domains, the ``pc1`` of Lin et
al. 2023 (PNAS Nexus 2(9), pgad286) rounded to 3 decimals; rebuilt by ``eval/quality.py --write-prior``."""

ORIGINS = ("imported", "shipped", "parent-domain", "neutral")


@dataclass(frozen=True, slots=True)
class SourceRating:
    """The 0-1 rating a domain gets and why: ``origin`` is one of :data:`ORIGINS`; ``matched`` is the
    rated domain used (a parent for ``parent-domain``) and ``table`` the table it is in (``imported`` or
    ``shipped``; empty when neutral)."""

    domain: str
    value: float
    origin: str
    matched: str = ""
    table: str = ""


@functools.cache
def shipped_ratings() -> Mapping[str, float]:
    """The domain ratings shipped with the package (read once). A damaged file is an EnrichmentError."""
    try:
        data = resources.files("newsdesk.enrich").joinpath("data", SHIPPED_RATINGS).read_bytes()
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise EnrichmentError(f"the shipped domain ratings ({SHIPPED_RATINGS}) cannot be read: {e}") from e
    ratings, errors = _read_ratings(io.StringIO(text), SHIPPED_RATINGS)
    if errors:
        raise EnrichmentError(f"the shipped domain ratings have bad rows: {errors[0]}")
    return ratings


def rating_for(
    domain: str, imported: Mapping[str, float] | None = None, shipped: Mapping[str, float] | None = None
) -> SourceRating:
    """The rating of ``domain``: from the ``imported`` table, else the ``shipped`` one (default: the
    package's), each by the domain or its nearest rated parent; else :data:`NEUTRAL_REPUTATION`. An
    imported rating overrides a shipped one, even when the shipped table knows the exact subdomain."""
    name = normalise_domain(domain)
    tables = (
        ("imported", imported or {}),
        ("shipped", shipped if shipped is not None else shipped_ratings()),
    )
    for table, ratings in tables:
        found = _rated_domain(name, ratings)
        if found is not None:
            origin = table if found == name else "parent-domain"
            return SourceRating(name, ratings[found], origin, found, table)
    return SourceRating(name, NEUTRAL_REPUTATION, "neutral")


def source_reputation(domain: str, imported: Mapping[str, float] | None = None) -> float | None:
    """The prior for a source without a reputation of its own (:func:`rating_for`); ``None`` when
    nothing rates its domain, so the score says "unrated source (neutral)"."""
    rating = rating_for(domain, imported)
    return None if rating.origin == "neutral" else rating.value
