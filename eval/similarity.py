"""Same-story similarity: does our cosine track human judgements of "same news story", in every language?

Data: the SemEval-2022 Task 8 training set, all 1,283 pairs in 16 language pairs (10 monolingual: ar, de,
en, es, fr, it, pl, ru, tr, zh; 6 crosslingual: de–en, de–fr, es–en, es–it, pl–en, zh–en). Each row holds
the two article texts themselves (about 1,000 characters each: headline and the start of the body run
together with no separator), so "title + lead" here means the first N characters. Gold ``Overall`` runs
1 (very similar) … 4 (very dissimilar), so we correlate cosine with ``-Overall``.

Vectors are article vectors as enrichment makes them (``similarity.article_vectors``: the window's vector
plus 0.5 × the headline's, the headline cut from the text by :func:`headline`); the raw windows are
printed beside them, and a sweep of the title weight follows the first table.

Prints one table per embedder: for each language pair its size and Pearson r per text window, then "all"
(every pair pooled: this also asks that cosines mean the same across languages) and "en–en". Reference:
the best SemEval-2022 system (a fine-tuned cross-encoder) reached Pearson 0.818 over all languages on
the official evaluation set (0.872 on its English pairs).

Then the calibration (``newsdesk/enrich/similarity.py``): the shipped map and the fits it was chosen
from, each scored in-sample, by 10-fold cross-validation (fit on nine tenths, score the tenth) and by
leaving each language pair out (fit on the other 15, score it); the per-pair table of the raw and the
calibrated cosine; signals fitted beside the shipped lines (``eval/pair_signals.py``: shared names and
numbers, character TF-IDF, the stored near-duplicate signatures, centred vectors, and maps that only bend
the scale, each with the Spearman that tells a ranking gain from a bent scale); what the names sketch
could carry beyond Latin-script names (numbers, every cased script, stems: ``pair_signals.RECIPES``, with
the CV over ten fold seeds and per pair); the product's pair score
(``Calibration.score_pair``: calibrated cosine + the names weight × the overlap of the stored names
sketches, the same call stories and related make) per pair, with its names weight refitted; the story
join decision (``cluster.assign_story`` with the languages and names, so the product's score: calibrated
cosine + shared terms + names) per language relation; and the verdict against issue 15's goals.
Languages are the file's labels (the product reads an article's stored language).

    .venv/bin/python eval/similarity.py [--data ../shared/data] [--model bundled] [--chars 500 1000]
        [--minilm-tokens 128]

``--model`` takes any ``embed_model`` setting value (see newsdesk/enrich/embed.py); repeat it to compare.
``--chars 0`` embeds the whole text; ``--minilm-tokens`` caps what the blend's MiniLM reads (issue 14's
sweep, ``docs/embeddings.md``). ``--bootstrap`` adds a 95% interval for "all" and "en–en".
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eval.common import DEFAULT_DATA, data_arg, embed_cached, minilm_tokens_arg  # noqa: E402
from eval.pair_signals import (  # noqa: E402
    Inputs,
    class_lines,
    names_overlaps,
    print_recipes,
    print_signals,
    seeded_cv,
)
from newsdesk.enrich import cluster  # noqa: E402
from newsdesk.enrich.base import Embedder  # noqa: E402
from newsdesk.enrich.embed import EMBED_TEXT_CHARS, cut_on_word, load_embedder  # noqa: E402
from newsdesk.enrich.similarity import (  # noqa: E402
    TITLE_WEIGHT,
    Affine,
    Calibration,
    Relation,
    article_names,
    article_vectors,
    calibration_for,
    relation,
)

ALL = "all"
ENGLISH = "en–en"
BOOTSTRAP_ROUNDS = 2000
SEED = 2022
FOLDS = 10
SAME_STORY = 2.0  # gold Overall at or below this: the same story (as eval/stories.py)
GOAL_ALL, GOAL_ENGLISH = 0.75, 0.85  # issue 15, on the training set


@dataclass(frozen=True, slots=True)
class LangPair:
    """Two news texts, their languages and the gold ``Overall`` (1 = very similar … 4 = dissimilar)."""

    lang1: str
    lang2: str
    text1: str
    text2: str
    overall: float

    @property
    def pair(self) -> str:
        return f"{self.lang1}–{self.lang2}"


def read_pairs(data: Path = DEFAULT_DATA) -> list[LangPair]:
    """Every row of the training set, in file order."""
    csv.field_size_limit(sys.maxsize)
    path = data / "semeval2022-task8" / "training_set.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        LangPair(r["lang1"], r["lang2"], r["text1"].strip(), r["text2"].strip(), float(r["Overall"]))
        for r in rows
    ]


def window(text: str, chars: int) -> str:
    """The first ``chars`` characters cut on a word (0 = the whole text)."""
    return cut_on_word(text, chars) if chars else text


_HEAD_BREAK = re.compile(r"  |\n")
_FIRST_SENTENCE = re.compile(r"(.{20,200}?[.!?|:])\s")
HEADLINE_CHARS = 120


def headline(text: str) -> str:
    """The headline of a SemEval text, which runs headline and body together: up to the first double space
    or line break when the file kept one (a fifth of the texts), else the first sentence (20-200
    characters), else the first 120 characters. The product reads the article's real title instead."""
    head = _HEAD_BREAK.split(text, maxsplit=1)[0]
    if len(head) > 200 or head == text:
        found = _FIRST_SENTENCE.match(text)
        head = found.group(1) if found else cut_on_word(text, HEADLINE_CHARS)
    return head.strip()


def vectors(
    embedder: Embedder,
    pairs: Sequence[LangPair],
    chars: int = EMBED_TEXT_CHARS,
    title_weight: float = TITLE_WEIGHT,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Both texts' article vectors of each pair, as enrichment makes them (``similarity.article_vectors``:
    the window's vector plus ``title_weight`` × the headline's; 0 = the window alone). Cached per embedder
    and texts (eval/common.py)."""

    def embed(texts: Sequence[str]) -> np.ndarray[Any, Any]:
        return embed_cached(embedder, list(texts))

    def side(texts: list[str]) -> np.ndarray[Any, Any]:
        leads = [window(t, chars) for t in texts]
        return article_vectors(embed, [headline(t) for t in texts], leads, weight=title_weight)

    return side([p.text1 for p in pairs]), side([p.text2 for p in pairs])


def cosines(
    embedder: Embedder,
    pairs: Sequence[LangPair],
    chars: int = EMBED_TEXT_CHARS,
    title_weight: float = TITLE_WEIGHT,
) -> np.ndarray[Any, Any]:
    """Cosine of each pair's two article vectors (``title_weight`` 0: of the two windows alone)."""
    first, second = vectors(embedder, pairs, chars, title_weight)
    return np.sum(first * second, axis=1)


def pearson(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def by_pair(pairs: Sequence[LangPair], sims: np.ndarray[Any, Any]) -> dict[str, tuple[int, float]]:
    """(n, Pearson r against -Overall) for "all", "en–en" and each language pair, largest first."""
    gold = -np.array([p.overall for p in pairs])
    names = np.array([p.pair for p in pairs])
    counts = {name: int(np.sum(names == name)) for name in set(names)}
    out = {ALL: (len(pairs), pearson(sims, gold))}
    for name in sorted(counts, key=lambda n: (-counts[n], n)):
        chosen = names == name
        out[name.replace("en–en", ENGLISH)] = (counts[name], pearson(sims[chosen], gold[chosen]))
    return out


def bootstrap_interval(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
    """95% percentile interval of Pearson r with the pairs resampled."""
    rng = np.random.default_rng(SEED)
    samples = rng.integers(0, len(x), size=(BOOTSTRAP_ROUNDS, len(x)))
    values = np.sort([pearson(x[s], y[s]) for s in samples])
    return float(values[int(0.025 * BOOTSTRAP_ROUNDS)]), float(values[int(0.975 * BOOTSTRAP_ROUNDS)])


def print_table(name: str, pairs: Sequence[LangPair], columns: dict[str, np.ndarray[Any, Any]]) -> None:
    tables = {column: by_pair(pairs, sims) for column, sims in columns.items()}
    first = next(iter(tables.values()))
    print(f"\n## Same-story similarity, SemEval-2022 Task 8 training set, {name}\n")
    print("| pair | n | " + " | ".join(f"Pearson, {c}" for c in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for row, (n, _) in first.items():
        cells = " | ".join(f"{tables[c][row][1]:.3f}" for c in columns)
        print(f"| {row} | {n} | {cells} |")


def print_intervals(pairs: Sequence[LangPair], columns: dict[str, np.ndarray[Any, Any]]) -> None:
    gold = -np.array([p.overall for p in pairs])
    english = np.array([p.pair == "en–en" for p in pairs])
    for column, sims in columns.items():
        low, high = bootstrap_interval(sims, gold)
        e_low, e_high = bootstrap_interval(sims[english], gold[english])
        print(f"- {column}: all 95% CI {low:.3f}–{high:.3f}; en–en 95% CI {e_low:.3f}–{e_high:.3f}")


# ----------------------------------------------------------------------------------- calibration

Classes = Callable[[Relation], str]
"""Which relations share one fitted line (a class name per relation)."""


def shipped_classes(rel: Relation) -> str:
    """The shipped model: English–other pairs get their own line, every other relation shares one."""
    return "English–other" if rel is Relation.ENGLISH_OTHER else "rest"


def relation_classes(rel: Relation) -> str:
    """A line per relation (the richer model the shipped one was compared with)."""
    return rel.value


def one_class(rel: Relation) -> str:
    """One line for every pair: Pearson as the raw cosine's."""
    return "all"


MODELS: dict[str, Classes] = {
    "one line (= raw cosine)": one_class,
    "English–other vs the rest (shipped)": shipped_classes,
    "one line per relation": relation_classes,
}


def pair_relations(pairs: Sequence[LangPair]) -> np.ndarray[Any, Any]:
    return np.array([relation(p.lang1, p.lang2) for p in pairs], dtype=object)


def gold_of(pairs: Sequence[LangPair]) -> np.ndarray[Any, Any]:
    return -np.array([p.overall for p in pairs])


@dataclass(frozen=True, slots=True)
class Fit:
    """Least-squares lines (slope, intercept) of gold (−Overall) on the cosine per class of relations,
    and over every training pair (``pooled``: for a class the training pairs lack)."""

    classes: Classes
    lines: dict[str, tuple[float, float]]
    pooled: tuple[float, float]

    def line(self, rel: Relation) -> tuple[float, float]:
        return self.lines.get(self.classes(rel), self.pooled)

    def predict(self, cos: np.ndarray[Any, Any], rels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Predicted gold of each pair (the common scale of every relation)."""
        lines = np.array([self.line(rel) for rel in rels]).reshape(-1, 2)
        return np.asarray(lines[:, 0] * cos + lines[:, 1])

    def calibration(self, name: str) -> Calibration:
        """The fit as the product's calibration: each class's line mapped onto English–English's."""
        ref_slope, ref_intercept = self.line(Relation.ENGLISH)
        maps = {}
        for rel in Relation:
            if rel is not Relation.UNKNOWN and self.classes(rel) != self.classes(Relation.ENGLISH):
                slope, intercept = self.line(rel)
                maps[rel] = Affine(slope / ref_slope, (intercept - ref_intercept) / ref_slope)
        return Calibration(name, maps)


def fit(
    cos: np.ndarray[Any, Any], rels: np.ndarray[Any, Any], gold: np.ndarray[Any, Any], classes: Classes
) -> Fit:
    labels = np.array([classes(rel) for rel in rels])
    lines = {c: _line(cos[labels == c], gold[labels == c]) for c in sorted(set(labels))}
    return Fit(classes, lines, _line(cos, gold))


def _line(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def out_of_fold(
    cos: np.ndarray[Any, Any],
    rels: np.ndarray[Any, Any],
    gold: np.ndarray[Any, Any],
    classes: Classes,
    folds: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """Each pair's prediction from a fit on the pairs of the other folds only."""
    out = np.zeros(len(cos))
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = fit(cos[~held], rels[~held], gold[~held], classes).predict(cos[held], rels[held])
    return out


def random_folds(count: int) -> np.ndarray[Any, Any]:
    return np.random.default_rng(SEED).permutation(count) % FOLDS


def calibrated(
    calibration: Calibration, cos: np.ndarray[Any, Any], rels: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    return np.array([calibration.score(float(c), rel) for c, rel in zip(cos, rels, strict=True)])


@dataclass(frozen=True, slots=True)
class Scores:
    """One model's scores three ways: fitted on every pair, 10-fold out-of-fold, language pair left out."""

    in_sample: np.ndarray[Any, Any]
    cross_validated: np.ndarray[Any, Any]
    pair_left_out: np.ndarray[Any, Any]


def score_model(pairs: Sequence[LangPair], cos: np.ndarray[Any, Any], classes: Classes) -> Scores:
    rels, gold = pair_relations(pairs), gold_of(pairs)
    names = np.array([p.pair for p in pairs])
    return Scores(
        fit(cos, rels, gold, classes).predict(cos, rels),
        out_of_fold(cos, rels, gold, classes, random_folds(len(pairs))),
        out_of_fold(cos, rels, gold, classes, names),
    )


def by_relation(pairs: Sequence[LangPair], sims: np.ndarray[Any, Any]) -> dict[str, tuple[int, float]]:
    """(n, Pearson r) pooled within each language relation."""
    rels, gold = pair_relations(pairs), gold_of(pairs)
    out = {}
    for rel in Relation:
        chosen = rels == rel
        if chosen.sum() > 2:
            out[rel.value] = (int(chosen.sum()), pearson(sims[chosen], gold[chosen]))
    return out


def print_levels(pairs: Sequence[LangPair], cos: np.ndarray[Any, Any]) -> None:
    """Mean ± std of the cosine at each gold level per language pair: where each pair's scale sits."""
    levels = np.round([p.overall for p in pairs])
    names = np.array([p.pair for p in pairs])
    print("\n### Cosine by gold level (mean ± std, n; 1 = very similar … 4 = very dissimilar)\n")
    print("| pair | 1 | 2 | 3 | 4 |")
    print("|---|---|---|---|---|")
    for name in sorted(set(names), key=lambda n: (-int(np.sum(names == n)), n)):
        cells = []
        for level in (1, 2, 3, 4):
            chosen = cos[(names == name) & (levels == level)]
            cells.append(f"{chosen.mean():.2f} ± {chosen.std():.2f} ({len(chosen)})" if len(chosen) else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_models(pairs: Sequence[LangPair], cos: np.ndarray[Any, Any]) -> None:
    gold = gold_of(pairs)
    english = np.array([p.pair == "en–en" for p in pairs])
    print("\n### Calibration models (Pearson, all pairs pooled; en–en)\n")
    print("| model | lines | in-sample | 10-fold CV | language pair left out | en–en in-sample / CV |")
    print("|---|---:|---:|---:|---:|---|")
    rels = pair_relations(pairs)
    for label, classes in MODELS.items():
        got = score_model(pairs, cos, classes)
        lines = len({classes(rel) for rel in rels})
        cells = [pearson(s, gold) for s in (got.in_sample, got.cross_validated, got.pair_left_out)]
        en = [pearson(s[english], gold[english]) for s in (got.in_sample, got.cross_validated)]
        print(
            f"| {label} | {lines} | "
            + " | ".join(f"{c:.3f}" for c in cells)
            + f" | {en[0]:.3f} / {en[1]:.3f} |"
        )
    fitted = fit(cos, rels, gold, shipped_classes).calibration("refitted")
    for rel, line in fitted.maps.items():
        print(f"\nrefitted map, {rel.value}: calibrated = {line.slope:.3f} × cosine {line.intercept:+.3f}")


TITLE_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


def print_title_weights(pairs: Sequence[LangPair], embedder: Embedder, chars: int) -> None:
    """The title weight sweep: raw and calibrated (shipped classes refitted per weight) pooled Pearson,
    in-sample, 10-fold CV and language pair left out, and en–en."""
    gold, english = gold_of(pairs), np.array([p.pair == "en–en" for p in pairs])
    print("\n### Title weight (article vector = window + w × title; calibration refitted per w)\n")
    print("| w | raw all | calibrated in-sample | 10-fold CV | pair left out | en–en |")
    print("|---:|---:|---:|---:|---:|---:|")
    by_weight = {weight: cosines(embedder, pairs, chars, weight) for weight in TITLE_WEIGHTS}
    for weight, cos in by_weight.items():
        got = score_model(pairs, cos, shipped_classes)
        cells = [pearson(v, gold) for v in (cos, got.in_sample, got.cross_validated, got.pair_left_out)]
        en = pearson(cos[english], gold[english])
        print(f"| {weight:g} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {en:.3f} |")
    print_nested(pairs, by_weight)


def print_nested(pairs: Sequence[LangPair], by_weight: dict[float, np.ndarray[Any, Any]]) -> None:
    """The weight chosen inside each training split too (nested): each held-out fold is scored with the
    weight and the lines that fitted the other folds best, so picking the weight cannot flatter the figure."""
    rels, gold = pair_relations(pairs), gold_of(pairs)
    splits = {"10-fold CV": random_folds(len(pairs)), "pair left out": np.array([p.pair for p in pairs])}
    for label, folds in splits.items():
        out, picked = np.zeros(len(pairs)), []
        for fold in np.unique(folds):
            held = folds == fold

            def train_score(weight: float, held: np.ndarray[Any, Any] = held) -> float:
                cos = by_weight[weight][~held]
                return pearson(
                    fit(cos, rels[~held], gold[~held], shipped_classes).predict(cos, rels[~held]), gold[~held]
                )

            best = max(by_weight, key=train_score)
            picked.append(best)
            line = fit(by_weight[best][~held], rels[~held], gold[~held], shipped_classes)
            out[held] = line.predict(by_weight[best][held], rels[held])
        chosen = ", ".join(f"{w:g} ×{picked.count(w)}" for w in sorted(set(picked)))
        print(f"\nNested ({label}): Pearson {pearson(out, gold):.3f}, weights picked: {chosen}")


def signal_inputs(
    pairs: Sequence[LangPair], first: np.ndarray[Any, Any], second: np.ndarray[Any, Any]
) -> Inputs:
    """What ``eval/pair_signals.py`` fits its rows on: the pairs' article vectors and their cosines,
    gold, the shipped classes, and the splits the calibration is scored with."""
    return Inputs(
        cos=np.sum(first * second, axis=1),
        first=first,
        second=second,
        gold=gold_of(pairs),
        classes=np.array([shipped_classes(rel) for rel in pair_relations(pairs)]),
        pair_names=np.array([p.pair for p in pairs]),
        english=np.array([p.pair == "en–en" for p in pairs]),
        folds=random_folds(len(pairs)),
    )


def pair_scores(
    calibration: Calibration,
    cos: np.ndarray[Any, Any],
    rels: np.ndarray[Any, Any],
    names: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """The product's same-story score of each pair (``Calibration.score_pair``: the calibrated cosine plus
    the names weight × the overlap of the two texts' stored names sketches), the function stories and
    related call."""
    return np.array(
        [calibration.score_pair(float(c), rel, float(n)) for c, rel, n in zip(cos, rels, names, strict=True)]
    )


def names_weight_fit(
    calibrated_scores: np.ndarray[Any, Any],
    names: np.ndarray[Any, Any],
    gold: np.ndarray[Any, Any],
    crossing: np.ndarray[Any, Any] | None = None,
) -> tuple[float, float]:
    """The names weights on the English–English scale, (one language, two languages): gold fitted by
    least squares on the shipped calibrated score and the names overlap split by ``crossing`` (the
    calibration held as shipped), each overlap's coefficient over the score's. Without ``crossing``
    one weight for every pair, returned twice."""
    if crossing is None:
        design = np.column_stack([calibrated_scores, np.ones_like(calibrated_scores), names])
        weights, *_ = np.linalg.lstsq(design, gold, rcond=None)
        return float(weights[2] / weights[0]), float(weights[2] / weights[0])
    design = np.column_stack(
        [calibrated_scores, np.ones_like(calibrated_scores), names * ~crossing, names * crossing]
    )
    weights, *_ = np.linalg.lstsq(design, gold, rcond=None)
    return float(weights[2] / weights[0]), float(weights[3] / weights[0])


def crossing_of(pairs: Sequence[LangPair]) -> np.ndarray[Any, Any]:
    """Whether each pair's two texts are in two languages (the cross-language names weight's pairs)."""
    return np.array([p.lang1 != p.lang2 for p in pairs])


def print_calibrated_table(
    pairs: Sequence[LangPair], cos: np.ndarray[Any, Any], shipped: Calibration
) -> None:
    got = score_model(pairs, cos, shipped_classes)
    rels = pair_relations(pairs)
    names = names_overlaps(pairs)
    columns = {
        "cosine": cos,
        "calibrated (shipped)": calibrated(shipped, cos, rels),
        "pair score (shipped: + names)": pair_scores(shipped, cos, rels, names),
        "10-fold CV": got.cross_validated,
        "pair left out": got.pair_left_out,
    }
    tables = {c: by_relation(pairs, v) | by_pair(pairs, v) for c, v in columns.items()}
    print(f"\n### Per pair: raw and calibrated cosine ({shipped.name})\n")
    print("| pair | n | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for row, (n, _) in tables["cosine"].items():
        print(f"| {row} | {n} | " + " | ".join(f"{tables[c][row][1]:.3f}" for c in columns) + " |")
    gold = gold_of(pairs)
    same, cross = names_weight_fit(columns["calibrated (shipped)"], names, gold, crossing_of(pairs))
    print(
        f"\nnames weights (one language, two languages): shipped {shipped.names_weight:g}, "
        f"{shipped.names_weight_for(Relation.ENGLISH_OTHER):g}; refitted {same:.3f}, {cross:.3f}"
    )
    product = columns["pair score (shipped: + names)"]
    print(
        f"Spearman: calibrated {spearman(columns['calibrated (shipped)'], gold):.3f}, pair score {spearman(product, gold):.3f}"
    )
    print_verdict(pairs, product, cos)


def spearman(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y)[0])


def print_verdict(
    pairs: Sequence[LangPair], shipped: np.ndarray[Any, Any], cos: np.ndarray[Any, Any]
) -> None:
    """The goals against the product's pair score: in-sample, and its model (the shipped lines plus the
    two names weights) refitted by 10-fold CV over ``pair_signals.FOLD_SEEDS`` fold assignments."""
    gold = gold_of(pairs)
    english = np.array([p.pair == "en–en" for p in pairs])
    classes = np.array([shipped_classes(rel) for rel in pair_relations(pairs)])
    names = names_overlaps(pairs)[:, None] * np.column_stack([~crossing_of(pairs), crossing_of(pairs)])
    design = np.column_stack([*class_lines(cos, classes), names])
    cv, low, high = seeded_cv(design, gold)
    pooled = pearson(shipped, gold)
    en = pearson(shipped[english], gold[english])
    print(
        f"\nGoal all ≥ {GOAL_ALL}: {'met' if min(pooled, cv) >= GOAL_ALL else 'MISSED'} "
        f"({pooled:.3f} pair score; its model by 10-fold CV over ten fold seeds {cv:.4f} [{low:.4f}, {high:.4f}])"
    )
    print(f"Goal English ≥ {GOAL_ENGLISH}: {'met' if en >= GOAL_ENGLISH else 'MISSED'} ({en:.3f})")


def story_decisions(
    pairs: Sequence[LangPair],
    first: np.ndarray[Any, Any],
    second: np.ndarray[Any, Any],
    calibration: Calibration,
) -> np.ndarray[Any, Any]:
    """Whether the second text joins the first's one-article story (``cluster.assign_story``)."""
    when = datetime(2022, 1, 1, tzinfo=UTC)
    joined = []
    for pair, v1, v2 in zip(pairs, first, second, strict=True):
        one = cluster.StoryInput(
            1, v1, when, "", lead=pair.text1, language=pair.lang1, names=article_names(pair.text1)
        )
        story = cluster.new_story(1, one, now=when)
        item = cluster.StoryInput(
            2, v2, when, "", lead=pair.text2, language=pair.lang2, names=article_names(pair.text2)
        )
        joined.append(
            cluster.assign_story(item, [story], now=when, calibration=calibration).story_id is not None
        )
    return np.array(joined)


def f1(chosen: np.ndarray[Any, Any], same: np.ndarray[Any, Any]) -> tuple[float, float, float]:
    tp = int((chosen & same).sum())
    precision, recall = tp / max(int(chosen.sum()), 1), tp / max(int(same.sum()), 1)
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def print_story_decisions(
    pairs: Sequence[LangPair], first: np.ndarray[Any, Any], second: np.ndarray[Any, Any], shipped: Calibration
) -> None:
    same = np.array([p.overall <= SAME_STORY for p in pairs])
    rels = pair_relations(pairs)
    runs = {
        "cosine": story_decisions(pairs, first, second, Calibration("none")),
        "calibrated": story_decisions(
            pairs, first, second, replace(shipped, names_weight=0.0, names_cross_weight=0.0)
        ),
        "calibrated + names (shipped)": story_decisions(pairs, first, second, shipped),
    }
    print(
        f"\n### Story join at threshold {cluster.THRESHOLD} (same story = Overall ≤ {SAME_STORY:g}): P / R / F1\n"
    )
    print("| pairs | n | " + " | ".join(runs) + " |")
    print("|---|---:|" + "---:|" * len(runs))
    groups = {ALL: np.ones(len(pairs), dtype=bool)} | {
        rel.value: rels == rel for rel in Relation if (rels == rel).any()
    }
    for label, chosen in groups.items():
        cells = [f1(joined[chosen], same[chosen]) for joined in runs.values()]
        print(
            f"| {label} | {int(chosen.sum())} | "
            + " | ".join(" / ".join(f"{v:.3f}" for v in c) for c in cells)
            + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    data_arg(parser)
    parser.add_argument("--model", action="append", help="embed_model value (default: bundled)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--chars", type=int, nargs="+", default=[EMBED_TEXT_CHARS], help="0 = whole text")
    parser.add_argument("--bootstrap", action="store_true")
    minilm_tokens_arg(parser)
    args = parser.parse_args()
    pairs = read_pairs(args.data)
    for model in args.model or ["bundled"]:
        embedder = load_embedder(model, args.backend, minilm_tokens=args.minilm_tokens)
        columns = {(f"first {c}" if c else "whole"): cosines(embedder, pairs, c, 0.0) for c in args.chars}
        columns[f"first {args.chars[0]} + {TITLE_WEIGHT:g} × title (article vectors)"] = cosines(
            embedder, pairs, args.chars[0]
        )
        print_table(embedder.name, pairs, columns)
        if args.bootstrap:
            print_intervals(pairs, columns)
        print_title_weights(pairs, embedder, args.chars[0])
        first, second = vectors(embedder, pairs, args.chars[0])
        cos = np.sum(first * second, axis=1)
        shipped = calibration_for(embedder.name)
        print_levels(pairs, cos)
        print_models(pairs, cos)
        print_signals(pairs, signal_inputs(pairs, first, second))
        print_recipes(pairs, signal_inputs(pairs, first, second))
        print_calibrated_table(pairs, cos, shipped)
        print_story_decisions(pairs, first, second, shipped)


if __name__ == "__main__":
    main()
