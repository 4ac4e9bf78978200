"""Signals beside the calibrated cosine: what each adds to same-story similarity, and whether it ranks.

``eval/similarity.py`` prints these tables after the calibration; this module holds the signals and the
fits. Every row is scored as the calibration is: in-sample, by 10-fold cross-validation (fit on nine
tenths, score the tenth) and with each language pair left out (fit on the other 15), pooled Pearson over
the 1,283 SemEval-2022 Task 8 training pairs, plus en–en in-sample and the pooled **Spearman** rank
correlation of the 10-fold predictions. Spearman is the check on a gain: a signal that puts same-story
pairs above others raises both; a map that only bends the scale towards the gold's (its floor: below a
cosine of about 0.2 every pair is "very dissimilar" alike) raises Pearson and leaves Spearman where it
was, and changes no decision the product makes (story joins and related lists compare scores far above
that floor).

Signals, each a column of a least-squares fit next to the shipped lines (English–other, the rest):

* shared capitalised Latin-script words (names, acronyms) of the two whole texts (overlap coefficient),
  on cross-language pairs or on every pair; the product keeps no such set per article (the text is
  sealed): it would need a stored sketch and a migration;
* character 3-5-gram TF-IDF on one-language pairs (needs both texts and an IDF: not at pair time);
* the estimated Jaccard of the two near-duplicate signatures (``dedupe.signature``: MinHash of 3-word
  shingles of title + text, the value the store already keeps per article), on one-language pairs — the
  one lexical signal the product could read at pair time without a migration;
* the article vectors centred (a share of the training texts' mean vector subtracted, made unit again):
  the shared direction every text has in common carries no story; a change of the vectors themselves,
  so of the embedding recipe (and a constant to ship with the model).

Then what the stored names sketch could carry beyond Latin-script names, each recipe sketched and
compared as the product's (:data:`RECIPES`, :func:`print_recipes`): numbers, capitalised words of every
cased script, their 4-letter stems, and one overlap weight or two (cross-language, one language), with
the 10-fold CV repeated over :data:`FOLD_SEEDS` fold assignments, since the best of them sits near 0.75.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from newsdesk.enrich import dedupe, similarity

if TYPE_CHECKING:
    from eval.similarity import LangPair

Array = np.ndarray[Any, Any]
Predict = Callable[[Array], Array]
"""Predicted gold of every pair from a fit on the training pairs (a boolean mask)."""

_NUMBER = re.compile(r"\d[\d.,]*\d|\d")
_LATIN_NAME = re.compile(r"\b[A-Z][A-Za-z]+\b")
CENTRE_SHARE = 0.5
"""Share of the mean vector taken off before the cosine in the centring rows. A round value, not tuned:
0.25 / 0.5 / 0.75 / 1.0 score 0.742 / 0.744 / 0.745 / 0.745 by 10-fold CV (500-character article
vectors, the mean of all 2,566 texts; the rows printed take it from the training pairs only)."""
FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3)
"""Floors on the calibrated score tried by the floored map; each split picks its own (nested)."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the tables read: per pair the article vectors' cosine, the two vectors, gold (−Overall),
    the shipped class of its relation, its language pair and whether it is English–English."""

    cos: Array
    first: Array
    second: Array
    gold: Array
    classes: Array
    pair_names: Array
    english: Array
    folds: Array


def shared(first: set[str], second: set[str]) -> float:
    """Jaccard overlap of two sets (0 when either is empty)."""
    return len(first & second) / len(first | second) if first and second else 0.0


def contained(first: set[str], second: set[str]) -> float:
    """Overlap coefficient: the share of the smaller set found in the other (0 when either is empty)."""
    return len(first & second) / min(len(first), len(second)) if first and second else 0.0


def numbers(text: str) -> set[str]:
    """Numbers of two or more digits, separators dropped (they differ between languages)."""
    found = (m.group().replace(",", "").replace(".", "") for m in _NUMBER.finditer(text))
    return {n for n in found if len(n) > 1}


def names(text: str) -> set[str]:
    """Capitalised Latin-script words (names, acronyms: they survive translation into most languages)."""
    return {m.group().lower() for m in _LATIN_NAME.finditer(text)}


def char_tfidf(pairs: Sequence[LangPair]) -> Array:
    """Cosine of character 3-5-gram TF-IDF vectors (sublinear tf, IDF over the 2,566 texts): the lexical
    similarity of two texts in one language."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [p.text1 for p in pairs] + [p.text2 for p in pairs]
    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
    n = len(pairs)
    return np.asarray(matrix[:n].multiply(matrix[n:]).sum(axis=1)).ravel()


def signature_jaccard(pairs: Sequence[LangPair]) -> Array:
    """The estimated Jaccard of the two texts' near-duplicate signatures, as enrichment stores them
    (``dedupe.signature`` of the text: the SemEval text is headline and body run together)."""
    return np.array([dedupe.jaccard(dedupe.signature(p.text1), dedupe.signature(p.text2)) for p in pairs])


def names_overlaps(pairs: Sequence[LangPair]) -> Array:
    """The overlap of the two texts' names as the product reads it at pair time: the stored sketches
    (``similarity.article_names``: hashed, at most 64 per article) of the whole texts."""
    return np.array(
        [
            similarity.names_overlap(similarity.article_names(p.text1), similarity.article_names(p.text2))
            for p in pairs
        ]
    )


def signals(pairs: Sequence[LangPair]) -> dict[str, Array]:
    """Each signal per pair, zero on the pairs it does not apply to."""
    crossing = np.array([p.lang1 != p.lang2 for p in pairs])
    overlap = names_overlaps(pairs)
    return {
        "names (Jaccard), cross-language": crossing
        * np.array([shared(names(p.text1), names(p.text2)) for p in pairs]),
        "numbers (Jaccard), cross-language": crossing
        * np.array([shared(numbers(p.text1), numbers(p.text2)) for p in pairs]),
        "names (overlap), cross-language": crossing * overlap,
        "names (overlap), every pair": overlap,
        "char TF-IDF, one language": ~crossing * char_tfidf(pairs),
        "signatures (Jaccard), one language": ~crossing * signature_jaccard(pairs),
    }


SIGNAL_SETS = {
    "names (Jaccard), cross-language": ["names (Jaccard), cross-language"],
    "names + numbers (Jaccard), cross-language": [
        "names (Jaccard), cross-language",
        "numbers (Jaccard), cross-language",
    ],
    "names (overlap), cross-language": ["names (overlap), cross-language"],
    "char TF-IDF, one language": ["char TF-IDF, one language"],
    "names (overlap) + char TF-IDF": ["names (overlap), cross-language", "char TF-IDF, one language"],
    "**signatures (Jaccard), one language** (stored today)": ["signatures (Jaccard), one language"],
    "signatures + names (overlap), cross-language": [
        "signatures (Jaccard), one language",
        "names (overlap), cross-language",
    ],
    "signatures + names (overlap), every pair": [
        "signatures (Jaccard), one language",
        "names (overlap), every pair",
    ],
    "**names (overlap), every pair** (the stored sketch, read at pair time)": ["names (overlap), every pair"],
}


def class_lines(cos: Array, classes: Array, degree: int = 1) -> list[Array]:
    """Design columns of one polynomial of ``degree`` in the cosine per class of relations."""
    return [(classes == c) * cos**d for c in sorted(set(classes)) for d in range(degree + 1)]


def least_squares(design: Array, gold: Array) -> Predict:
    """The least-squares fit of gold on ``design``, as a :data:`Predict`."""

    def predict(train: Array) -> Array:
        weights, *_ = np.linalg.lstsq(design[train], gold[train], rcond=None)
        return np.asarray(design @ weights)

    return predict


def floored(cos: Array, classes: Array, gold: Array) -> Predict:
    """The shipped lines, then a floor on the score (on the English–English cosine scale), the floor
    picked among :data:`FLOORS` on the training pairs: a map that bends the scale and ranks nothing."""
    lines = least_squares(np.column_stack(class_lines(cos, classes)), gold)
    english = classes == "rest"

    def predict(train: Array) -> Array:
        predicted = lines(train)
        slope, intercept = np.polyfit(cos[train & english], gold[train & english], 1)
        on_scale = (predicted - intercept) / slope  # onto the English cosine scale

        def score(floor: float) -> float:
            return _pearson(np.maximum(on_scale[train], floor), gold[train])

        return np.maximum(on_scale, max(FLOORS, key=score))

    return predict


def centred(inputs: Inputs, extra: Sequence[Array], share: float = CENTRE_SHARE) -> Predict:
    """The shipped lines (plus ``extra`` columns) on the cosines of centred vectors: ``share`` of the
    mean vector of the *training* pairs' texts taken off both vectors, made unit again. The mean is a
    896-number constant the product would ship with the model; taking it from the training pairs only
    keeps the held-out texts out of it (with a language pair left out, its languages may be absent)."""
    i = inputs

    def predict(train: Array) -> Array:
        mean = np.vstack([i.first[train], i.second[train]]).mean(axis=0)
        moved = [v - share * mean for v in (i.first, i.second)]
        cos = np.sum(moved[0] * moved[1], axis=1) / np.prod(
            [np.linalg.norm(m, axis=1) for m in moved], axis=0
        )
        return least_squares(np.column_stack([*class_lines(cos, i.classes), *extra]), i.gold)(train)

    return predict


@dataclass(frozen=True, slots=True)
class Scored:
    """One row's pooled Pearson in-sample, by 10-fold CV and pair left out; en–en; Spearman of the CV."""

    in_sample: float
    cross_validated: float
    pair_left_out: float
    english: float
    spearman: float

    def cells(self) -> str:
        values = (self.in_sample, self.cross_validated, self.pair_left_out, self.english, self.spearman)
        return " | ".join(f"{v:.3f}" for v in values)


def score(predict: Predict, gold: Array, splits: Sequence[Array], english: Array) -> Scored:
    """``predict`` scored in-sample and held out on each of ``splits`` (10-fold, then pair left out)."""
    from scipy.stats import spearmanr

    in_sample = predict(np.ones(len(gold), dtype=bool))
    held = [_out_of_fold(predict, folds, len(gold)) for folds in splits]
    return Scored(
        _pearson(in_sample, gold),
        _pearson(held[0], gold),
        _pearson(held[1], gold),
        _pearson(in_sample[english], gold[english]),
        float(spearmanr(held[0], gold)[0]),
    )


def _out_of_fold(predict: Predict, folds: Array, count: int) -> Array:
    out = np.zeros(count)
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = predict(~held)[held]
    return out


def _pearson(x: Array, y: Array) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def rows(inputs: Inputs, found: dict[str, Array]) -> dict[str, Predict]:
    """Every row of the signals table, as a :data:`Predict`."""
    i = inputs
    lines = class_lines(i.cos, i.classes)
    out = {"none (shipped lines)": least_squares(np.column_stack(lines), i.gold)}
    for label, keys in SIGNAL_SETS.items():
        out[label] = least_squares(np.column_stack([*lines, *(found[k] for k in keys)]), i.gold)
    signatures = found["signatures (Jaccard), one language"]
    out[f"centred vectors ({CENTRE_SHARE:g} × the training texts' mean off)"] = centred(i, [])
    out["centred + signatures"] = centred(i, [signatures])
    out["centred + signatures + names (overlap), every pair"] = centred(
        i, [signatures, found["names (overlap), every pair"]]
    )
    out["cubic lines per class (8 parameters; bends the scale)"] = least_squares(
        np.column_stack(class_lines(i.cos, i.classes, 3)), i.gold
    )
    out["shipped lines + a floor (nested; bends the scale)"] = floored(i.cos, i.classes, i.gold)
    return out


def subset(inputs: Inputs, keep: Array) -> Inputs:
    """``inputs`` restricted to the pairs ``keep`` marks."""
    return Inputs(*(getattr(inputs, name)[keep] for name in Inputs.__slots__))


def kept_by_folding(pairs: Sequence[LangPair]) -> Array:
    """The pairs the product would compare at all: near-duplicate folding (estimated Jaccard at or above
    ``dedupe.THRESHOLD``) makes the others one article before stories and related see them. In this
    set they are 7 pages whose extracted text is a site's boilerplate (a cookie notice, a paywall, an
    IP block) under two different headlines: their cosine is high and the gold is not."""
    return np.asarray(signature_jaccard(pairs) < dedupe.THRESHOLD)


def print_signals(pairs: Sequence[LangPair], inputs: Inputs) -> None:
    """The table: each row's pooled Pearson three ways, en–en, and the CV predictions' Spearman; then
    the signatures and names rows again on the pairs near-duplicate folding keeps."""
    found = signals(pairs)
    print("\n### Beside the calibration: signals and maps (pooled Pearson; en–en in-sample; Spearman)\n")
    _print_rows(inputs, rows(inputs, found))
    keep = kept_by_folding(pairs)
    kept = subset(inputs, keep)
    lines = class_lines(kept.cos, kept.classes)
    print(
        f"\n#### The {int(keep.sum())} pairs near-duplicate folding keeps (Jaccard < {dedupe.THRESHOLD:g})\n"
    )
    chosen = {
        "none (shipped lines)": [],
        "signatures (Jaccard), one language": ["signatures (Jaccard), one language"],
        "names (overlap), every pair": ["names (overlap), every pair"],
        "signatures + names (overlap), every pair": [
            "signatures (Jaccard), one language",
            "names (overlap), every pair",
        ],
    }
    _print_rows(
        kept,
        {
            label: least_squares(np.column_stack([*lines, *(found[k][keep] for k in keys)]), kept.gold)
            for label, keys in chosen.items()
        },
    )


def _print_rows(inputs: Inputs, table: dict[str, Predict]) -> None:
    splits = (inputs.folds, inputs.pair_names)
    print("| row | in-sample | 10-fold CV | pair left out | en–en | Spearman, 10-fold CV |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, predict in table.items():
        print(f"| {label} | {score(predict, inputs.gold, splits, inputs.english).cells()} |")


# ------------------------------------------------------------------------ what the sketch could carry

FOLD_SEEDS = 10
"""Random fold assignments the recipes' CV is averaged over: a figure on the 0.75 line needs its spread."""

# The tokenizer is the product's (``similarity.name_tokens`` and its parts): one implementation.
capitalised_words = similarity.capitalised_words
sketch_numbers = similarity.sketch_numbers
stems = similarity.stems
STEM_LETTERS = similarity.STEM_LETTERS


Recipe = Callable[[str], set[str]]
OLD_RECIPE = "Latin-script names (shipped before)"

RECIPES: dict[str, Recipe] = {
    OLD_RECIPE: names,
    "Latin-script names + numbers": lambda t: names(t) | sketch_numbers(t),
    "capitalised words, every cased script": capitalised_words,
    "capitalised words, every cased script + numbers": lambda t: capitalised_words(t) | sketch_numbers(t),
    f"{STEM_LETTERS}-letter stems of capitalised words + numbers (shipped)": similarity.name_tokens,
}
"""Candidate names-sketch recipes: each text's set, hashed and cut as the product's sketch is."""
BEST_RECIPE = f"{STEM_LETTERS}-letter stems of capitalised words + numbers (shipped)"


def sketch(words: set[str], cap: int = similarity.NAMES_CAP) -> similarity.Names:
    """A set as the product sketches it (``similarity.hash_tokens``): CRC-32, sorted, bottom ``cap``."""
    return similarity.hash_tokens(words, cap=cap)


def recipe_overlaps(pairs: Sequence[LangPair], recipe: Recipe) -> Array:
    """The overlap of each pair's two sketches under ``recipe`` (``similarity.names_overlap``)."""
    return np.array(
        [similarity.names_overlap(sketch(recipe(p.text1)), sketch(recipe(p.text2))) for p in pairs]
    )


def recipe_rows(pairs: Sequence[LangPair]) -> dict[str, Array]:
    """Each row's columns beside the shipped lines: one overlap weight per recipe, then two (one for
    cross-language pairs, one for one-language pairs: names and numbers say more across languages,
    where the cosine is weaker)."""
    crossing = np.array([p.lang1 != p.lang2 for p in pairs])
    out: dict[str, Array] = {"none (shipped lines)": np.zeros((len(pairs), 0))}
    for label, recipe in RECIPES.items():
        found = recipe_overlaps(pairs, recipe)
        out[label] = found[:, None]
        out[f"{label}, two weights"] = np.column_stack([found * crossing, found * ~crossing])
    return out


def seeded_cv(
    design: Array, gold: Array, seeds: int = FOLD_SEEDS, folds: int = 10
) -> tuple[float, float, float]:
    """Mean, lowest and highest pooled Pearson of ``folds``-fold CV over ``seeds`` fold assignments."""
    predict = least_squares(design, gold)
    found = []
    for seed in range(seeds):
        assigned = np.random.default_rng(seed).permutation(len(gold)) % folds
        found.append(_pearson(_out_of_fold(predict, assigned, len(gold)), gold))
    return float(np.mean(found)), min(found), max(found)


def print_recipes(pairs: Sequence[LangPair], inputs: Inputs) -> None:
    """What the names sketch could carry beyond Latin-script names: each recipe beside the shipped
    lines, scored as the signals are, plus the CV over :data:`FOLD_SEEDS` fold assignments; then per
    language pair, the shipped pair score's fit against the best recipe's (in-sample and 10-fold CV)."""
    lines = class_lines(inputs.cos, inputs.classes)
    splits = (inputs.folds, inputs.pair_names)
    table = recipe_rows(pairs)
    print("\n### What the names sketch could carry: numbers, every cased script, stems (beside the lines)\n")
    print(
        "| sketch | in-sample | 10-fold CV | pair left out | en–en | Spearman, 10-fold CV "
        f"| CV over {FOLD_SEEDS} fold seeds: mean [low, high] |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, extra in table.items():
        design = np.column_stack([*lines, extra])
        got = score(least_squares(design, inputs.gold), inputs.gold, splits, inputs.english)
        mean, low, high = seeded_cv(design, inputs.gold)
        print(f"| {label} | {got.cells()} | {mean:.4f} [{low:.4f}, {high:.4f}] |")
    _print_recipe_pairs(inputs, lines, table)


def _print_recipe_pairs(inputs: Inputs, lines: list[Array], table: dict[str, Array]) -> None:
    chosen = {
        "Latin-script names": table[OLD_RECIPE],
        "best sketch": table[f"{BEST_RECIPE}, two weights"],
    }
    columns: dict[str, Array] = {}
    for label, extra in chosen.items():
        predict = least_squares(np.column_stack([*lines, extra]), inputs.gold)
        columns[f"{label}, in-sample"] = predict(np.ones(len(inputs.gold), dtype=bool))
        columns[f"{label}, 10-fold CV"] = _out_of_fold(predict, inputs.folds, len(inputs.gold))
    names = inputs.pair_names
    order = sorted(set(names), key=lambda n: (-int(np.sum(names == n)), n))
    print(f"\n#### Per pair: Latin-script names vs {BEST_RECIPE}, two weights (Pearson)\n")
    print("| pair | n | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name in ["all", *order]:
        keep = np.ones(len(names), dtype=bool) if name == "all" else names == name
        cells = " | ".join(f"{_pearson(v[keep], inputs.gold[keep]):.3f}" for v in columns.values())
        print(f"| {name} | {int(keep.sum())} | {cells} |")
