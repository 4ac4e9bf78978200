"""Same-story similarity across languages: a cosine read on one scale whatever the two languages are.

Every article keeps one unit vector, and the vector index ranks by plain dot products. But a cosine does
not mean the same for every pair of languages: with the default embedder (the USE + MiniLM blend, see
``multilingual.py``) an English and a non-English report of one event meet at ``√0.5 × USE's cosine``,
so a threshold tuned on English pairs almost never lets them into one story. Where a decision is made
between two articles whose languages are known (a story join, a related-articles ranking) the cosine is
first *calibrated*: mapped onto the English–English scale, i.e. to the English–English cosine that goes
with the same human judgement of "same story"::

    relation of the two languages ──► Affine(slope, intercept) ──► calibrated = slope × cosine + intercept

Relations: English–English, English–other, one other language, two other languages, and unknown (an
article with no language: never calibrated). The maps were fitted by least squares of the SemEval-2022
Task 8 training judgements on the cosine per relation (``eval/similarity.py`` fits, cross-validates and
prints them; ``docs/embeddings.md`` records the figures and why only English–other pairs get a map).

A calibration belongs to one embedder: :func:`calibration_for` finds it by the embedder's name, and any
embedder without one gets :data:`IDENTITY` (the plain cosine), so a custom model behaves as before.

The product's score of a pair (:meth:`Calibration.score_pair`, what story joins and related lists rank
by) adds to the calibrated cosine what the two articles' *names* share: a sketch of each article's
name stems (capitalised words of every cased script, their first four letters) and numbers
(:func:`article_names`), kept by the store because the text is sealed after enrichment; when it is,
the hashes are keyed with a subkey of the sealing key (:class:`SketchKey`), so the database alone does
not tell which names and numbers an article holds, and sketches of two keys never compare. Names and
numbers survive translation into most languages and tell two reports of one event from two of the same
topic; an article without a sketch scores as the calibrated cosine alone. The weight is larger for two
articles in two languages, where the cosine says less (:meth:`Calibration.names_weight_for`)::

    score_pair = calibrated cosine + names weight(relation) × names_overlap(sketch₁, sketch₂)   (at most 1)

The cosine itself is of *article vectors* (:func:`article_vectors`): the title + lead text's vector plus
:data:`TITLE_WEIGHT` times the title's own vector, made unit length again. Every article still keeps one
vector, so the index, the story centroids and related articles all read the same score; the headline is
the densest statement of which event a report is about, and weighing it apart is what lifted the pooled
same-story correlation most of the signals tried (``docs/embeddings.md``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from newsdesk.enrich.base import Vectors, unit_rows

ENGLISH = "en"

TITLE_WEIGHT = 0.5
"""Weight of the title's own vector added to the title + lead vector (both unit length). The title is
already the start of the embedded text, but in a 500- or 700-character window it is one sentence among several;
adding its vector apart tilts the article towards its headline. ``eval/similarity.py`` sweeps the weight
(``docs/embeddings.md``): 0.5 is the round value at the top of a flat optimum, chosen on the pooled
cross-validated figure, and it also raises the English pairs. With the 700-character window the
nested choice is 0.5 again in every fold (CV 0.746 for the calibrated cosine)."""


def article_vectors(
    embed: Callable[[Sequence[str]], Vectors],
    titles: Sequence[str],
    leads: Sequence[str],
    *,
    weight: float = TITLE_WEIGHT,
) -> Vectors:
    """One unit vector per article: ``embed(lead) + weight × embed(title)``, normalised.

    ``leads`` are the texts enrichment embeds (title + lead, ``embed.embedding_text``)."""
    return with_titles(np.asarray(embed(leads), dtype=np.float32), embed, titles, weight=weight)


def with_titles(
    lead_vectors: Vectors,
    embed: Callable[[Sequence[str]], Vectors],
    titles: Sequence[str],
    *,
    weight: float = TITLE_WEIGHT,
) -> Vectors:
    """Article vectors from the leads' vectors already made (enrichment keeps those for topics, whose
    classifier was tuned on them). Titles are embedded in a call of their own (short texts batched with
    long ones would be padded to the long ones' length); an article without a title keeps its lead vector."""
    if len(titles) != len(lead_vectors):
        raise ValueError("one title per lead")
    vectors = np.array(lead_vectors, dtype=np.float32)
    named = [i for i, title in enumerate(titles) if title.strip()]
    if named and weight:
        heads = np.asarray(embed([" ".join(titles[i].split()) for i in named]), dtype=np.float32)
        vectors[named] += weight * heads
    return unit_rows(vectors)


class Relation(StrEnum):
    """How the languages of two articles relate (the value is what editors read in a reason)."""

    ENGLISH = "English–English"
    ENGLISH_OTHER = "English–other language"
    SAME_OTHER = "same language, not English"
    CROSS_OTHER = "two languages, neither English"
    UNKNOWN = "a language unknown"


def language_code(tag: str | None) -> str:
    """The primary subtag of a language tag, lower-cased (``"en-US"`` → ``"en"``); ``""`` for none."""
    if not tag:
        return ""
    return re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()


@lru_cache(maxsize=4096)
def relation(first: str | None, second: str | None) -> Relation:
    """The relation of two articles' languages (tags as stored: ``"en"``, ``"zh-CN"``, or none).
    Cached: the related stage asks it of every candidate, and a store holds a few dozen tags."""
    one, two = language_code(first), language_code(second)
    if not one or not two:
        return Relation.UNKNOWN
    if one == two:
        return Relation.ENGLISH if one == ENGLISH else Relation.SAME_OTHER
    return Relation.ENGLISH_OTHER if ENGLISH in (one, two) else Relation.CROSS_OTHER


CROSSING = frozenset({Relation.ENGLISH_OTHER, Relation.CROSS_OTHER})
"""The relations of two articles in two different (known) languages."""


@dataclass(frozen=True, slots=True)
class Affine:
    """``slope × cosine + intercept``; the slope is positive, so the map keeps a ranking."""

    slope: float
    intercept: float

    def __call__(self, cosine: float) -> float:
        return self.slope * cosine + self.intercept

    def inverse(self, score: float) -> float:
        return (score - self.intercept) / self.slope


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-relation maps onto the English–English cosine scale; a relation without a map keeps its
    cosine. ``name`` says where the maps come from (shown nowhere but logs and the evaluation).
    ``names_weight`` is what a pair's shared names add on that scale (:meth:`score_pair`; 0: nothing)
    when both articles are in one language (or a language is unknown); ``names_cross_weight`` when they
    are in two (``None``: the same as ``names_weight``). Names and numbers say more across languages,
    where the cosine is weaker."""

    name: str
    maps: Mapping[Relation, Affine] = field(default_factory=dict)
    names_weight: float = 0.0
    names_cross_weight: float | None = None

    def __post_init__(self) -> None:
        if any(m.slope <= 0 for m in self.maps.values()):
            raise ValueError("a calibration map must keep the ranking (slope > 0)")

    def names_weight_for(self, rel: Relation) -> float:
        """The names weight of a pair in relation ``rel``: the cross-language one for two languages."""
        if rel in CROSSING and self.names_cross_weight is not None:
            return self.names_cross_weight
        return self.names_weight

    @property
    def weighs_names(self) -> bool:
        """Whether shared names add anything in some relation."""
        return self.most_names_weight > 0

    @property
    def most_names_weight(self) -> float:
        """The largest names weight of any relation (what pre-filters must allow for)."""
        return max(self.names_weight, self.names_cross_weight or 0.0)

    def score(self, cosine: float, rel: Relation) -> float:
        """``cosine`` of two articles in relation ``rel``, on the English–English scale (at most 1, as a
        cosine: editors read it as "87% similar")."""
        found = self.maps.get(rel)
        return min(found(cosine), 1.0) if found else cosine

    def score_pair(self, cosine: float, rel: Relation, names: float = 0.0) -> float:
        """The product's same-story score of two articles: the calibrated cosine plus the names weight
        × the overlap of their names (:func:`names_overlap`; 0 for an article stored without names, so
        such a pair scores as the calibrated cosine alone), at most 1. Story joins and related lists
        both rank by it; ``eval/similarity.py`` prints its correlation with the SemEval gold. The
        weight is the relation's (:meth:`names_weight_for`)."""
        return min(self.score(cosine, rel) + self.names_weight_for(rel) * names, 1.0)

    def applies(self, rel: Relation) -> bool:
        """Whether a pair in relation ``rel`` gets a map (reasons say so to editors)."""
        return rel in self.maps

    def lowest_cosine(self, score: float) -> float:
        """The smallest cosine that can reach ``score`` in any relation: pre-filters may drop
        candidates below it without changing a decision."""
        return min([score, *(m.inverse(score) for m in self.maps.values())])


IDENTITY = Calibration("none")
"""The plain cosine for every relation: embedders we have no fitted calibration for."""

BLEND = Calibration(
    "use-multilingual-v3+all-MiniLM-L6-v2@0.5 on SemEval-2022 Task 8 training",
    {Relation.ENGLISH_OTHER: Affine(1.567, -0.022)},
    names_weight=0.14,
    names_cross_weight=0.27,
)
"""The default embedder's calibration, for its article vectors (:func:`article_vectors`, the
700-character window). ``eval/similarity.py``: gold (−Overall) fitted on the cosine by least squares
for the English–other pairs (295) and for all other pairs together (988), and the English–other line
mapped onto the other's. A line per relation (four) scored no better in-sample and worse held out, so
the simpler model ships: the other relations keep their cosine. The slope undoes more than the blend's
√2 (1.414): cross-language cosines also spread less. Figures (in-sample, 10-fold cross-validated, each
language pair held out): ``docs/embeddings.md``.

The names weights: gold fitted on the shipped calibrated score and the names overlap of the product's
sketches (:func:`article_names` of the whole SemEval texts) split by whether the two texts are in two
languages (``eval/similarity.py``): 0.145 within one language, 0.273 across two, on the English–English
scale; ``tests/test_eval_gates.py`` keeps both within 0.01 of the refit. Pooled Pearson 0.741
(calibrated alone, 500 characters) → 0.754, Spearman 0.752 (``docs/embeddings.md``, "The richer names
sketch and the 700-character window, shipped")."""

_BY_FAMILY = {"use-multilingual-v3+all-MiniLM-L6-v2@0.5": BLEND}


def embedder_family(name: str) -> str:
    """An embedder name without its backends (``"a/onnx-fp32+b/numpy@0.5"`` → ``"a+b@0.5"``): the
    MiniLM backends give the same vectors, so they share a calibration."""
    return re.sub(r"/[^+@]*", "", name)


def calibration_for(embedder_name: str) -> Calibration:
    """The calibration fitted for this embedder, or :data:`IDENTITY`."""
    return _BY_FAMILY.get(embedder_family(embedder_name), IDENTITY)


# ----------------------------------------------------------------------------------------- names

Names = npt.NDArray[np.uint32]
"""An article's names as a sketch: the distinct 32-bit hashes of its name tokens (:func:`name_tokens`),
sorted, the smallest :data:`NAMES_CAP` kept (a bottom-k sample of the set, so two sketches compare on
one hash range). Keyed (:class:`SketchKey`) when the store seals its texts, else CRC-32."""

NAMES_CAP = 64
"""Hashes kept per article (256 bytes). A SemEval text (about 1,000 characters) has 18 distinct names
(median; 90th percentile 43, 1.6% above 64); a longer article's sketch is a sample of its names, and the
fit does not move with the cap (names weight 0.107 at 64 and with no cap; 0.090 at 32)."""

STEM_LETTERS = 4
"""Letters kept of a capitalised word: inflection (Russian "Прадешем" / "Прадеш", Polish "Warszawie" /
"Warszawa", German "Merkels") changes a word's ending, rarely its first letters. 3 / 4 / 5 / 6 letters
score 0.7441 / 0.7435 / 0.7430 / 0.7430 by CV over ten fold seeds (``eval/pair_signals.py``): inside the
seeds' spread, and 3 letters conflate more names."""

SKETCH_KEY_BYTES = 32
"""A sketch key's length: BLAKE2b takes up to 64 bytes of key; 32 is the sealing key's strength."""

SKETCH_FORMAT = b"\x01"
"""First byte of a keyed sketch as stored, then its key's 4-byte tag, then the hashes. An unkeyed
sketch (CRC-32; before keying, or with encryption off) is the hashes alone, a multiple of 4 bytes, so
the two never read as each other: a keyed blob is 1 byte longer than a multiple of 4."""

_TAG_BYTES = 4
_TAG_LABEL = b"newsdesk/names-sketch/tag"


@dataclass(frozen=True, slots=True)
class SketchKey:
    """The secret the names sketch's hashes are keyed with (derived from the store's sealing key by
    ``KeyRing.derive``, never the sealing key itself), and its public ``tag``: which key made a stored
    sketch. Sketches compare only under one tag; the tag is a keyed hash of a fixed label, so it names
    the key without telling anything about it (as the sealing key's id does)."""

    secret: bytes = field(repr=False)
    tag: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) != SKETCH_KEY_BYTES:
            raise ValueError(f"a sketch key is {SKETCH_KEY_BYTES} bytes, got {len(self.secret)}")
        tag = hashlib.blake2b(_TAG_LABEL, key=self.secret, digest_size=_TAG_BYTES).digest()
        object.__setattr__(self, "tag", tag)

    @property
    def label(self) -> str:
        """The tag as text: what a story's state keeps beside its names."""
        return self.tag.hex()

    def hasher(self) -> Callable[[bytes], int]:
        """A token's keyed 32-bit hash: BLAKE2b keyed (a PRF: without the key, a dictionary of
        candidate names or numbers tells nothing), 4 bytes, the width of the CRC-32 it replaces, so
        collisions do not rise. The keyed state is made once and copied per token (0.5 µs a token)."""
        base = hashlib.blake2b(key=self.secret, digest_size=4)

        def hashed(token: bytes) -> int:
            h = base.copy()
            h.update(token)
            return int.from_bytes(h.digest(), "little")

        return hashed


_LETTERS = re.compile(r"[^\W\d_]+")
_DIGIT_RUN = re.compile(r"\d(?:[\d.,\u00a0\u202f\u2009]*\d)?")


def capitalised_words(text: str) -> set[str]:
    """Words of two or more letters, in any script, whose first letter is upper case, lower-cased:
    Latin, Cyrillic, Greek… names and acronyms. Uncased scripts (Arabic, Han) have none: there a
    capital cannot tell a name from any word, and every word of the text would be a lexical bag, not
    names (tried: it lowers ar–ar, ``docs/embeddings.md``)."""
    return {w.lower() for w in _LETTERS.findall(text) if len(w) > 1 and w[0].isupper()}


def ascii_digits(run: str) -> str:
    """A number's digits as ASCII, separators dropped: ``"٢٠٢٢"``, ``"2,022"``, ``"2.022"`` and French
    ``"2 022"`` (a narrow or no-break space: a plain space parts two numbers) all give ``"2022"``.
    Arabic-Indic and other decimal digits count as their value; separators differ between languages,
    so ``"3.5"`` and ``"3,5"`` meet as ``"35"``."""
    return "".join(str(unicodedata.decimal(c)) for c in run if c.isdecimal())


def sketch_numbers(text: str) -> set[str]:
    """Numbers of two or more digits (years, counts, scores, dates' parts), ASCII, in their own
    namespace (``#``) so a number never meets a word's hash."""
    found = (ascii_digits(m.group()) for m in _DIGIT_RUN.finditer(text))
    return {f"#{n}" for n in found if len(n) > 1}


def stems(words: set[str], letters: int = STEM_LETTERS) -> set[str]:
    """The first ``letters`` letters of each word."""
    return {w[:letters] for w in words}


def name_tokens(text: str) -> set[str]:
    """What an article's names sketch holds: the :data:`STEM_LETTERS`-letter stems of its capitalised
    words in every cased script, and its numbers of two or more digits. Names and numbers survive
    translation into most languages; stems let inflected forms of one name meet."""
    return stems(capitalised_words(text)) | sketch_numbers(text)


def hash_tokens(tokens: set[str], *, cap: int = NAMES_CAP, key: SketchKey | None = None) -> Names:
    """A token set as a sketch: each token hashed (keyed with ``key``, else CRC-32), distinct, sorted,
    the smallest ``cap`` kept."""
    hashed = key.hasher() if key is not None else zlib.crc32
    values = np.fromiter((hashed(t.encode()) for t in tokens), dtype=np.uint32, count=len(tokens))
    return np.unique(values)[:cap]


def article_names(text: str, *, cap: int = NAMES_CAP, key: SketchKey | None = None) -> Names:
    """The names sketch of a text: its :func:`name_tokens`, hashed (:func:`hash_tokens`)."""
    return hash_tokens(name_tokens(text), cap=cap, key=key)


def sketch_header(key: SketchKey) -> bytes:
    """What every sketch stored under ``key`` begins with: :data:`SKETCH_FORMAT` and the key's tag."""
    return SKETCH_FORMAT + key.tag


def names_to_bytes(names: Names, key: SketchKey | None = None) -> bytes:
    """The sketch as the store keeps it: little-endian uint32s, after :func:`sketch_header` when it
    was made under ``key``."""
    hashes = np.asarray(names, dtype="<u4").tobytes()
    return sketch_header(key) + hashes if key is not None else hashes


def no_names() -> Names:
    """The empty sketch: an article with no names, or none known."""
    return np.zeros(0, dtype=np.uint32)


@dataclass(frozen=True, slots=True)
class StoredSketch:
    """A sketch read back from the store: its hashes and the tag of the key that made them (``None``:
    unkeyed CRC-32)."""

    tag: bytes | None
    names: Names


def read_sketch(data: bytes | None) -> StoredSketch | None:
    """A stored sketch (:func:`names_to_bytes`) undone; ``None`` for none (an article stored before
    names) or for bytes of no known shape (treated as no sketch: a damaged row scores on its cosine,
    it does not stop a run)."""
    parts = _stored_parts(data)
    if parts is None:
        return None
    return StoredSketch(parts[0], np.frombuffer(parts[1], dtype="<u4").astype(np.uint32))


def _stored_parts(data: bytes | None) -> tuple[bytes | None, bytes] | None:
    """A stored sketch's key tag (``None``: unkeyed) and its hashes' bytes; ``None`` for none or bytes
    of no known shape (see :func:`read_sketch`)."""
    if data is None:
        return None
    header = len(SKETCH_FORMAT) + _TAG_BYTES
    if len(data) % 4 == 0:
        return None, data
    if len(data) % 4 == header % 4 and data.startswith(SKETCH_FORMAT):
        return data[len(SKETCH_FORMAT) : header], data[header:]
    return None


def names_from_bytes(data: bytes | None, key: SketchKey | None = None) -> Names:
    """The hashes of a stored sketch made under ``key`` (``None``: unkeyed); an empty sketch for none,
    and for one made under another key (or keyed where unkeyed is asked, or the reverse): its hashes
    are of another function and would meet ours only by chance — weaker, never a wrong match."""
    found = read_sketch(data)
    wanted = key.tag if key is not None else None
    return found.names if found is not None and found.tag == wanted else no_names()


def stored_overlap(first: StoredSketch | None, second: StoredSketch | None) -> float:
    """:func:`names_overlap` of two stored sketches made under one key; 0 when either is missing or
    their keys differ (after a key rotation, until the older one is made again)."""
    if first is None or second is None or first.tag != second.tag:
        return 0.0
    return names_overlap(first.names, second.names)


def stored_overlaps(first: StoredSketch | None, others: Sequence[bytes | None]) -> list[float]:
    """:func:`stored_overlap` of ``first`` with each of the stored sketches ``others`` (their bytes, as
    the store keeps them), in a few array operations for them all: the related stage scores up to
    2,000 candidates an article, and reading each one's sketch and intersecting it was most of that
    stage's Python work. Each pair is read up to its own limit (the lower top of its cut sketches, as
    :func:`names_overlap` reads it), and the share is the same division of the same counts."""
    out = [0.0] * len(others)
    if first is None or not first.names.size:
        return out
    picked, payloads = [], []
    for n, data in enumerate(others):
        parts = _stored_parts(data)
        if parts is not None and parts[0] == first.tag and parts[1]:
            picked.append(n)
            payloads.append(parts[1])
    if not picked:
        return out
    sizes = np.fromiter((len(p) // 4 for p in payloads), dtype=np.int64, count=len(payloads))
    hashes = np.frombuffer(b"".join(payloads), dtype="<u4").astype(np.int64)
    owner = np.repeat(np.arange(len(payloads)), sizes)
    limit = np.where(sizes >= NAMES_CAP, hashes[np.cumsum(sizes) - 1], np.iinfo(np.int64).max)
    if first.names.size >= NAMES_CAP:
        limit = np.minimum(limit, int(first.names[-1]))
    inside = hashes <= limit[owner]
    theirs = np.bincount(owner, weights=inside, minlength=len(payloads)).astype(np.int64)
    ours = (first.names.astype(np.int64)[None, :] <= limit[:, None]).sum(axis=1)
    found = inside & np.isin(hashes, first.names)
    shared = np.bincount(owner, weights=found, minlength=len(payloads)).astype(np.int64)
    for n, a, b, both in zip(picked, ours.tolist(), theirs.tolist(), shared.tolist(), strict=True):
        if a and b:
            out[n] = both / min(a, b)
    return out


def names_for_key(values: Sequence[int], label: str | None, key: SketchKey | None) -> Names:
    """A story state's names (a list of hashes and the label of the key that made them, ``None`` for
    unkeyed) for joining articles sketched under ``key``: empty when the keys differ, so a story carried
    over a key rotation gathers its names again from the members that join it."""
    wanted = key.label if key is not None else None
    return np.asarray(values, dtype=np.uint32) if label == wanted else no_names()


def names_overlap(first: Names, second: Names, *, cap: int = NAMES_CAP) -> float:
    """The overlap coefficient of two sketches: the share of the smaller set's names found in the
    other (0 when either is empty). A sketch cut at ``cap`` knows its set only up to its top hash,
    so both are read up to the lower top of the cut ones."""
    tops = [int(s[-1]) for s in (first, second) if s.size >= cap]
    if tops:
        first, second = first[first <= min(tops)], second[second <= min(tops)]
    if not first.size or not second.size:
        return 0.0
    shared = np.intersect1d(first, second, assume_unique=True).size
    return shared / min(first.size, second.size)
