"""Near-duplicate detection: MinHash signatures over word shingles, indexed with LSH.

Exact duplicates (same canonical URL, same content hash) are caught before this stage; this one catches
the copies that differ a little — a syndicated story with a new headline, a changed intro sentence, a
dropped paragraph, a few typos. The contract:

* :func:`signature` turns a text into a MinHash signature (``uint64`` hash values; ``.tobytes()`` stores
  it and :func:`signature_from_bytes` reads it back). Texts are normalised first (NFKC, lower case,
  punctuation removed, whitespace collapsed) so formatting never matters. Texts shorter than
  :data:`MIN_TOKENS` words get an EMPTY signature, which never matches anything: a title alone is not
  enough evidence that two articles are copies.
* :class:`NearDuplicateIndex` keeps signatures in an LSH index (the bands datasketch's ``MinHashLSH``
  would choose, ``minhash.bands``; kept compactly, the large part in a file: see
  :mod:`~newsdesk.enrich.bandtable`); :meth:`~NearDuplicateIndex.query` returns the ids whose estimated
  Jaccard similarity reaches the threshold, best first.
* :func:`find_near_duplicate` names the earliest such article: the copy points at the original.
  Given the texts (``text``, ``text_of``), each hit is confirmed by :func:`is_copy`, which looks at
  *where* the shared words sit: a copy shares its words throughout, a quote is a run of them beside
  long passages of the quoting text's own (``docs/evaluation.md``, "Quoting is not copying").

Work is bounded: at most :data:`MAX_CHARS` characters and :data:`MAX_TOKENS` words of a text are read,
so a 2 MB page costs the same as a long article.
"""

from __future__ import annotations

import logging
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from newsdesk.enrich import minhash
from newsdesk.enrich.bandtable import BandTable
from newsdesk.errors import EnrichmentError

log = logging.getLogger(__name__)

Signature = npt.NDArray[np.uint64]

NUM_PERM = 128
"""Hash functions per signature: the standard error of a Jaccard estimate is about 1/sqrt(128) ≈ 0.09 at
J = 0.5 and shrinks towards J = 1; 128 keeps signatures at 1 KiB (datasketch's default)."""

SHINGLE = 3
"""Words per shingle, the usual choice for near-duplicate news text. eval/neardup.py --shingles 2 3:
true pairs ≥ 0.352 and unrelated pairs ≤ 0.211 with 3; with 2 the gap is a little wider (0.242-0.422)
but 2-word shingles of common phrases make unrelated long texts look alike; not switched (untested)."""

THRESHOLD = 0.30
"""Estimated Jaccard at or above which two texts are near-duplicates. eval/neardup.py on BBC (2,225
articles, 2,087 distinct bodies) plus 5 edited copies of each (13,350 texts, 12,643 true pairs): the lowest
true pair scores 0.352, the highest unrelated pair 0.211; precision and recall are both 1.0 from 0.25 to
0.35, and 0.30 sits mid-gap. Pairs of BBC's own rewrites of one story (they share a verbatim sentence of
12+ words, unlabelled in the data) are not scored; 1,557 such pairs also pass 0.30."""

CONTAINMENT_THRESHOLD = 0.60
"""Share of a new text's shingles that must be in the earlier one for it to be a copy, not a quote,
when the earlier text cannot be read (sealed without its key) or no texts are given: the signature-only
rule. With the texts, :func:`is_copy` decides instead (it keeps the pair this rule loses).
eval/neardup.py --quotes (the BBC edited copies plus 2,225 replies and commentaries that quote a run
of an article's paragraphs beside 0.5-2x as many words of their own): Jaccard ≥ 0.30 alone gives
precision 0.768 at recall 1.0; with containment ≥ 0.60, precision 0.989 at recall 0.9999 (0.55: 0.972;
0.65: 0.998 at 0.9997; 0.70: 1.0 at 0.9994). The one true pair lost at 0.60 is the harshest edit
(new intro, dropped paragraph and typos at once) of a short article: containment 0.524."""

CONTAINMENT_FLOOR = 0.40
"""The index's cheap first cut when the texts can be read (:func:`find_near_duplicate` with
``text_of``): hits whose estimated containment is below it are not even confirmed. The lowest true pair of
eval/neardup.py --quotes estimates at 0.524; the floor sits more than the estimate's standard error
(about 0.09 at 128 hashes) under it, so it drops no copy, only texts that are mostly their own."""

OWN_RUN_WORDS = 10
"""A run of at least this many consecutive words of the new text that no shingle of the earlier text
covers is the new text's own writing. A typo leaves a gap of one word, a few typos close together a
few words; a new sentence, headline or paragraph is longer. eval/neardup.py --quotes: runs of 8-15
words separate alike; 20 and 25 narrow the gap (copies up to 0.320, quotes from 0.322 at 25)."""

OWN_SHARE = 0.33
"""A text whose own runs (:data:`OWN_RUN_WORDS`) make up more than this share of its words is not a
copy of the earlier one: it quotes it. eval/neardup.py --quotes, candidate pairs (Jaccard ≥ 0.30):
true copies reach 0.320 (a new headline and a new one-sentence first paragraph on a 150-word article),
replies start at 0.345; 0.33 is the middle of that gap. Fitted on half of the articles, the threshold
(0.323 or 0.333) keeps precision and recall 1.0 on the other half."""

LSH_SLACK = 0.15
"""The LSH banding is tuned this far below :data:`THRESHOLD` so that pairs just above the threshold are
still candidates (banding alone misses some); candidates are then checked against the threshold."""

MIN_TOKENS = 25
"""Fewer words than this give an empty signature. A headline plus a one-line teaser (≈ 20-25 words) is
too little to call two articles copies; the shortest BBC article body has 84 words."""

MAX_CHARS = 200_000
MAX_TOKENS = 20_000
"""Bounds on the work per text: long articles run to ~10k words; past these the text is cut."""

SEED = 1
SCHEME = "affine64"
"""datasketch's hash scheme and seed, pinned: stored signatures stay comparable across versions
(``enrich/minhash.py`` computes that scheme without the library)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Kana and Han characters are written without spaces: each one is a token of its own.
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_QUOTED_LINE = re.compile(r"^[ \t]*>.*(?:\n|$)", re.MULTILINE)
# "On <date>, <name> wrote:" (mail clients put it on one line, or wrap it once before "wrote:").
_ATTRIBUTION = re.compile(r"^[ \t]*On\b[^\n]{0,200}(?:\n[^\n]{0,100})?\bwrote:[ \t]*$", re.MULTILINE)


def fold_text(title: str, text: str) -> str:
    """An article as the fold reads it: the title, a blank line, the text. Its near-duplicate
    signature and its names sketch are both made of this, wherever they are made again."""
    return f"{title}\n\n{text}"


def normalise(text: str) -> str:
    """NFKC, lower case, punctuation and symbols as spaces, whitespace collapsed (bounded to MAX_CHARS)."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    return " ".join(_TOKEN.findall(text))


def tokens(text: str) -> list[str]:
    """Words of the normalised text (kana/Han characters one by one), at most MAX_TOKENS."""
    return _TOKEN.findall(normalise(text))[:MAX_TOKENS]


def shingles(words: list[str], size: int = SHINGLE) -> set[bytes]:
    """Distinct runs of ``size`` consecutive words, UTF-8 encoded for hashing."""
    count = max(len(words) - size + 1, 0)
    return {" ".join(words[i : i + size]).encode() for i in range(count)}


def strip_quoted(text: str) -> str:
    """``text`` without the lines a mail-like reply quotes: those starting with ``>`` and the
    attribution line ("On Tue, 4 May 2004, Ann <ann@example.org> wrote:") that introduces them. The
    quote belongs to the earlier message; left in, a short reply would look like a copy of it."""
    if ">" not in text and "wrote:" not in text:
        return text
    return _ATTRIBUTION.sub("", _QUOTED_LINE.sub("", text))


def signature(
    text: str, *, num_perm: int = NUM_PERM, shingle: int = SHINGLE, min_tokens: int = MIN_TOKENS
) -> Signature:
    """The MinHash signature of ``text``'s own lines (:func:`strip_quoted`): ``num_perm`` uint64 hash
    values then the number of distinct shingles; an empty array when fewer than ``min_tokens`` words
    are left (an empty signature never matches)."""
    if num_perm % 2:
        raise EnrichmentError(
            f"num_perm must be even (the signature's length tells the count), got {num_perm}"
        )
    words = tokens(strip_quoted(text[:MAX_CHARS]))
    if len(words) < max(min_tokens, shingle):
        return np.zeros(0, dtype=np.uint64)
    distinct = sorted(shingles(words, shingle))
    return np.append(minhash.minhash(distinct, num_perm, SEED), np.uint64(len(distinct)))


def signature_from_bytes(data: bytes) -> Signature:
    """Read back a signature stored with ``sig.tobytes()`` (a stored one without the shingle count,
    written before it was kept, still reads: :func:`shingle_count` estimates it)."""
    if len(data) % 8:
        raise EnrichmentError(f"a MinHash signature is a multiple of 8 bytes, got {len(data)}")
    return np.frombuffer(data, dtype=np.uint64).copy()


def hashes(sig: Signature) -> Signature:
    """The MinHash values of a signature, without the trailing shingle count."""
    return sig[:-1] if sig.size % 2 else sig


def shingle_count(sig: Signature) -> float:
    """Distinct shingles of the text behind ``sig``: stored in the signature, or estimated from the
    hash values for a signature stored before the count was (datasketch's cardinality estimate, about
    9% error at 128 hashes)."""
    if sig.size == 0:
        return 0.0
    if sig.size % 2:
        return float(sig[-1])
    return minhash.cardinality(sig)


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of two signatures; 0.0 when either is empty or they differ in size."""
    ha, hb = hashes(a), hashes(b)
    if ha.size == 0 or ha.size != hb.size:
        return 0.0
    return float(np.count_nonzero(ha == hb)) / ha.size


def containment(a: Signature, b: Signature) -> tuple[float, float]:
    """Estimated share of ``a``'s shingles found in ``b``, and of ``b``'s found in ``a``.

    From the Jaccard estimate J and the set sizes: ``|a ∩ b| = J (|a| + |b|) / (1 + J)``. A copy is
    contained both ways (both near 1, less its edits); a text quoting another contains it (the second
    is high) but is not contained by it (the first is low: its own words)."""
    similarity = jaccard(a, b)
    size_a, size_b = shingle_count(a), shingle_count(b)
    if similarity == 0.0 or size_a <= 0 or size_b <= 0:
        return 0.0, 0.0
    shared = similarity * (size_a + size_b) / (1.0 + similarity)
    return min(shared / size_a, 1.0), min(shared / size_b, 1.0)


def own_share(new: str, old: str, *, shingle: int = SHINGLE, run: int = OWN_RUN_WORDS) -> float:
    """Share of ``new``'s words that are its own: in runs of ``run`` or more consecutive words that no
    ``shingle``-word shingle of ``old`` covers. Both texts are read as :func:`signature` reads them
    (quoted mail lines stripped, normalised, bounded). A copy's own words are a new headline, an intro
    sentence and typos (short runs, few); a commentary's are whole paragraphs around one quoted run."""
    words = tokens(strip_quoted(new[:MAX_CHARS]))
    if not words:
        return 0.0
    theirs = shingles(tokens(strip_quoted(old[:MAX_CHARS])), shingle)
    covered = [False] * len(words)
    for i in range(len(words) - shingle + 1):
        if " ".join(words[i : i + shingle]).encode() in theirs:
            covered[i : i + shingle] = [True] * shingle
    return sum(length for length in _gaps(covered) if length >= run) / len(words)


def _gaps(covered: list[bool]) -> list[int]:
    """Lengths of the runs of ``False`` in ``covered``."""
    out, current = [], 0
    for flag in [*covered, True]:
        if flag:
            if current:
                out.append(current)
            current = 0
        else:
            current += 1
    return out


def is_copy(new: str, old: str, *, threshold: float = OWN_SHARE) -> bool:
    """Whether ``new`` copies ``old`` (edited or not) rather than quoting it: its own runs
    (:func:`own_share`) are at most ``threshold`` of it."""
    return own_share(new, old) <= threshold


@dataclass(frozen=True, slots=True)
class NearDuplicate:
    """The article a new one copies, and the estimated Jaccard similarity of their texts."""

    article_id: int
    similarity: float


# Mixing constants for a band's key (odd 64-bit multipliers, as in splitmix64 / FNV-style mixing).
_BAND_SEED = np.uint64(0x9E3779B97F4A7C15)
_BAND_MIX = np.uint64(0xBF58476D1CE4E5B9)


_GROW_CHUNK = 4_096  # slots placed again at a time when the table of slots grows
_ID_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: an id's bucket is the top bits of id * 2**64/phi
_U64 = 2**64 - 1


class _Slots:
    """Article ids by slot and each id's current slot, in numpy: the ids as one growable ``int64``
    array (a replaced id's old slot holds -1) and, to find an id's slot, an open-addressing table of
    ``int32`` slots (linear probing, at most half full) whose keys are read from that array: 16-32
    bytes an article, where a dict and a list of Python ints took over 100. Slots stay below
    2**31 (the table's ``int32``; a packed band entry has room for 2**32 - 1)."""

    def __init__(self) -> None:
        self.ids = np.empty(64, dtype=np.int64)  # slot -> article id (-1: replaced)
        self.used = 0  # slots given
        self._buckets = np.full(128, -1, dtype=np.int32)  # the slot of an id, -1: empty
        self._shift = 64 - 7  # 2**7 buckets
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def slot_of(self, article_id: int) -> int:
        """The current slot of ``article_id``; -1 when it is not held."""
        return int(self._buckets[self._bucket(article_id)])

    def give(self, article_id: int) -> int:
        """A new slot for ``article_id``; its earlier slot, if any, is marked dead."""
        if self.used == self.ids.size:
            self.ids = np.concatenate([self.ids, np.empty_like(self.ids)])
        slot = self.used
        self.ids[slot] = article_id  # first: an id beyond int64 raises before anything has changed
        at = self._bucket(article_id)
        old = int(self._buckets[at])
        if old >= 0:
            self.ids[old] = -1
        else:
            self._live += 1
        self._buckets[at], self.used = slot, slot + 1
        if 2 * self._live > self._buckets.size:
            self._grow()
        return slot

    def _bucket(self, article_id: int) -> int:
        """The bucket holding ``article_id``'s slot, or the empty one where it goes."""
        at = ((article_id * _ID_MIX) & _U64) >> self._shift
        mask = self._buckets.size - 1
        while (slot := int(self._buckets[at])) >= 0 and self.ids[slot] != article_id:
            at = (at + 1) & mask
        return at

    def _grow(self) -> None:
        """Twice the buckets, every live slot placed again (amortised: a few per add), a chunk of
        slots at a time: as Python ints, all of them at once were 70 bytes an article on top of the
        table (bench/neardup_memory.py's peak)."""
        live = self._buckets[self._buckets >= 0]
        self._buckets = np.full(2 * self._buckets.size, -1, dtype=np.int32)
        self._shift -= 1
        for start in range(0, live.size, _GROW_CHUNK):
            slots = live[start : start + _GROW_CHUNK]
            for slot, article_id in zip(slots.tolist(), self.ids[slots].tolist(), strict=True):
                self._buckets[self._bucket(article_id)] = slot


SignatureSource = Callable[[Sequence[int]], Mapping[int, Signature]]


class NearDuplicateIndex:
    """LSH index of signatures by article id. Not thread-safe; one per worker, rebuilt from stored
    signatures (recent articles) at start. The text queried is the newer one: a hit needs the estimated
    Jaccard ≥ ``threshold`` (so much of the indexed text is in the new one) and the new text made of the
    indexed one ≥ ``containment`` (so it adds little of its own: it copies, it does not quote).

    Bands are datasketch's optimum for ``threshold - LSH_SLACK`` (the same candidates its ``MinHashLSH``
    finds, and maybe a few more that the check turns away). With ``signatures`` (a store lookup by id)
    the index keeps only band keys and reads a candidate's signature when a query needs it: the
    signatures are in the store already, and at 1 KiB each they were most of what the index held.
    With ``folder``, the large runs of band keys are kept in a file there (enrich/bandtable.py)."""

    def __init__(
        self,
        threshold: float = THRESHOLD,
        num_perm: int = NUM_PERM,
        containment: float = CONTAINMENT_THRESHOLD,
        *,
        signatures: SignatureSource | None = None,
        folder: Path | None = None,
    ) -> None:
        for name, value in (("threshold", threshold), ("containment threshold", containment)):
            if not 0.0 < value <= 1.0:
                raise EnrichmentError(f"near-duplicate {name} must lie in (0, 1], got {value}")
        self.threshold = threshold
        self.containment = containment
        self.num_perm = num_perm
        self.bands, self.rows = minhash.bands(max(threshold - LSH_SLACK, 0.05), num_perm)
        self._table = BandTable(folder)
        self._slots = _Slots()  # article id <-> slot (a re-added id: the newest slot, the old one dead)
        self._kept: dict[int, Signature] = {}  # the signatures, when there is no source to read them from
        self._source = signatures

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, article_id: object) -> bool:
        try:
            return self._slots.slot_of(operator.index(article_id)) >= 0  # type: ignore[arg-type]
        except TypeError:
            return False

    def add(self, article_id: int, sig: Signature) -> None:
        """Index ``sig`` under ``article_id`` (replacing an earlier one); empty signatures are skipped.
        With a signature source, ``sig`` must be the one it gives for ``article_id``."""
        if sig.size == 0:
            return
        self._check(sig)
        self._table.add(self._band_keys(sig), self._slots.give(article_id))
        if self._source is None:
            self._kept[article_id] = sig

    def query(self, sig: Signature) -> list[tuple[int, float]]:
        """Ids of the texts ``sig`` (the newer text) nearly duplicates, with their estimated Jaccard, best
        first (ties: lower id)."""
        if sig.size == 0:
            return []
        self._check(sig)
        found = self.candidates(sig)
        others = self._kept if self._source is None else self._source(sorted(found))
        hits = []
        for key in found:
            other = others.get(key)
            if other is None:
                continue
            score = jaccard(sig, other)
            if score >= self.threshold and containment(sig, other)[0] >= self.containment:
                hits.append((key, score))
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))

    def candidates(self, sig: Signature) -> set[int]:
        """The ids sharing a band with ``sig``: LSH's candidates, before any similarity is checked."""
        ids = self._slots.ids[self._table.find(self._band_keys(sig))]
        return set(ids[ids != -1].tolist())

    def _band_keys(self, sig: Signature) -> npt.NDArray[np.uint32]:
        values = hashes(sig)[: self.bands * self.rows].reshape(self.bands, self.rows)
        mixed = np.arange(1, self.bands + 1, dtype=np.uint64) * _BAND_SEED
        for column in range(self.rows):
            mixed = (mixed ^ values[:, column]) * _BAND_MIX
        return (mixed >> np.uint64(32)).astype(np.uint32)

    def signature_of(self, article_id: int) -> Signature | None:
        """The indexed signature of ``article_id`` (read from the source when there is one), or ``None``."""
        if article_id not in self:
            return None
        if self._source is None:
            return self._kept.get(article_id)
        return self._source([article_id]).get(article_id)

    def _check(self, sig: Signature) -> None:
        if hashes(sig).size != self.num_perm:
            raise EnrichmentError(f"signature has {sig.size} values, the index expects {self.num_perm} (+1)")


def find_near_duplicate(
    sig: Signature,
    index: NearDuplicateIndex,
    *,
    first_seen: Mapping[int, datetime] | None = None,
    exclude: int | None = None,
    text: str | None = None,
    text_of: Callable[[int], str | None] | None = None,
) -> NearDuplicate | None:
    """The earliest indexed article that ``sig`` nearly duplicates, or ``None``.

    "Earliest" is by ``first_seen[id]`` when given (ids missing from it count as latest), then by id —
    ids grow as articles are stored, so the id alone orders them when no times are passed. ``exclude``
    skips the article itself when it is already in the index.

    With ``text`` (the text ``sig`` was made from) and ``text_of`` (an indexed article's text, ``None``
    when it cannot be read), a hit must pass :func:`is_copy`; a hit whose text cannot be read must
    instead have the estimated containment :data:`CONTAINMENT_THRESHOLD`, as without texts. Build the
    index with ``containment=CONTAINMENT_FLOOR`` so that it lets the borderline hits through.
    """
    hits = confirmed_hits(sig, index, text=text, text_of=text_of, exclude=exclude)
    if not hits:
        return None
    seen = first_seen or {}
    key, score = min(hits, key=lambda hit: (_seen_key(seen.get(hit[0])), hit[0]))
    return NearDuplicate(article_id=key, similarity=score)


def confirmed_hits(
    sig: Signature,
    index: NearDuplicateIndex,
    *,
    text: str | None = None,
    text_of: Callable[[int], str | None] | None = None,
    exclude: int | None = None,
) -> list[tuple[int, float]]:
    """``index.query(sig)`` less ``exclude`` and the hits that are not copies (the rule of
    :func:`find_near_duplicate`)."""
    hits = [hit for hit in index.query(sig) if hit[0] != exclude]
    return [hit for hit in hits if _confirmed(sig, hit[0], index, text, text_of)]


def _confirmed(
    sig: Signature,
    key: int,
    index: NearDuplicateIndex,
    text: str | None,
    text_of: Callable[[int], str | None] | None,
) -> bool:
    """Texts at hand: :func:`is_copy`; else the estimated containment against CONTAINMENT_THRESHOLD."""
    earlier = text_of(key) if text is not None and text_of is not None else None
    if text is not None and earlier:
        return is_copy(text, earlier)
    other = index.signature_of(key)
    return other is not None and containment(sig, other)[0] >= CONTAINMENT_THRESHOLD


def _seen_key(when: datetime | None) -> float:
    return when.timestamp() if when is not None else float("inf")
