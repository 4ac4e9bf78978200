"""Evaluation gates: pinned accuracy floors on fixed subsets of ../shared/data.

Each floor sits a little under what the subset measured when it was pinned (the figure is in the
comment), so a change that makes a model or a threshold worse fails ``make test``. The full evaluations
are eval/topics.py, eval/neardup.py and eval/stories.py. Skipped, with the reason shown, when the shared
data is absent.
Vectors are cached in the temp folder (eval/common.py), so only the first run pays for embedding.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from eval import neardup, pair_signals, similarity, stories
from eval.common import (
    AG_NEWS_CLASSES,
    BBC_CLASSES,
    DEFAULT_DATA,
    Doc,
    embed_cached,
    load_ag_news,
    load_bbc,
    load_default_embedder,
)
from eval.topics import (
    AG_NEWS_DESCRIPTIONS,
    BBC_DESCRIPTIONS,
    cv_accuracy,
    flat_taxonomy,
    refined_zero_shot_accuracy,
    zero_shot_accuracy,
)
from newsdesk.enrich import dedupe, supervised, topics
from newsdesk.enrich.base import Embedder, Vectors
from newsdesk.enrich.similarity import Relation, calibration_for
from newsdesk.model import Taxonomy

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA / "ag_news").is_dir() or not (DEFAULT_DATA / "bbc").is_dir(),
    reason=f"shared evaluation data not found at {DEFAULT_DATA} (eval gates need ../shared/data)",
)

AG_ZERO_SHOT_ROWS = 400
AG_ZERO_SHOT_FLOOR = 0.78  # measured 0.808 on these 400 rows (full test set: 0.815)
AG_REFINED_FLOOR = 0.79  # measured 0.820 with refine_topic_vectors on the same rows (full set: 0.847)
AG_CV_ROWS = 1_000
AG_CV_FLOOR = 0.87  # measured 0.878 (5-fold, linear + neighbour vote); the linear model alone: 0.865
NEARDUP_DOCS = 200
NEARDUP_PRECISION_FLOOR = 0.99  # measured 1.000 (1,200 texts); recall must stay 1.0
QUOTES_PRECISION_FLOOR = 0.95  # issue 15 goal; measured 1.000 on these 1,400 texts (Jaccard alone: 0.797)
QUOTES_RECALL_FLOOR = 0.98  # issue 15 goal; measured 1.000 (full --quotes run: 0.989 at 0.9999)
QUOTES_CHECKED_PRECISION_FLOOR = 0.99  # the text check (dedupe.is_copy); measured 1.000, recall 1.000
BBC_CV_PER_CLASS = 40
BBC_CV_FLOOR = 0.96  # measured 0.985 (5-fold, 200 articles, embedding + TF-IDF; full set 0.982)
# Story clustering (eval/stories.py; B-cubed precision = purity, recall = completeness). The issue asks
# for both ≥ 0.95 on the demo world; purity is pinned higher because the clustering it replaced already
# reached 0.952 while merging a study report and a column into the regulator's AI story.
STORY_PURITY_FLOOR = 0.97  # measured 1.000 on the demo world (63 articles, 42 stories)
STORY_COMPLETENESS_FLOOR = 0.95  # measured 0.963 at 700 characters + the stems sketch (0.984 at 500)
SEMEVAL_STORY_F1_FLOOR = 0.85  # measured 0.860 at THRESHOLD 0.63, stems sketch (0.869 at 0.60 before)
BBC_STORY_PER_CLASS = 40
BBC_STORY_PURITY_FLOOR = 0.84  # measured 0.848 at 0.63 with the stems sketch (0.843 before; 200, one date)

# SemEval-2022 Task 8 training set, article vectors (first 700 characters + 0.5 × the headline's vector),
# the default blend (docs/evaluation.md):
SIMILARITY_ALL_FLOOR = 0.69  # measured 0.713 over all 1,283 pairs (0.709 at 500 characters)
SIMILARITY_ENGLISH_FLOOR = 0.85  # measured 0.873 on the 161 English pairs (0.869 at 500 characters)
# The cosine calibrated by language (newsdesk/enrich/similarity.py), all 1,283 pairs pooled:
SIMILARITY_CALIBRATED_FLOOR = 0.73  # measured 0.748 in-sample, 0.746 by 10-fold CV (0.741 at 500)
# eval/pair_signals.py: the stored near-duplicate signatures beside the calibration (10-fold CV, pooled):
SIGNATURES_GAIN_FLOOR = 0.002  # measured +0.004 Pearson (0.739 -> 0.743) and +0.007 on en–en in-sample
# … all of it from 7 boilerplate pairs near-duplicate folding removes: on the 1,276 others, +0.000
SIGNATURES_KEPT_GAIN_CEILING = 0.002
# The product's pair score (calibrated cosine + the relation's names weight × names overlap,
# Calibration.score_pair; 700-character window, the names sketch of stems + numbers; issue 15's goal):
PAIR_SCORE_FLOOR = 0.75  # measured 0.754 in-sample (0.744 with the Latin-script names at 500); en–en 0.869
PAIR_SCORE_CV_FLOOR = 0.745  # the same model, 10-fold CV over 10 fold seeds: 0.7502 [0.7494, 0.7511]
PAIR_SCORE_SPEARMAN_BEFORE = 0.741  # the pair score shipped before (500, Latin-script names); now 0.752
NAMES_GAIN_FLOOR = 0.002  # names beside the lines, 10-fold CV: +0.003 (0.739 -> 0.741); kept pairs +0.004
# eval/pair_signals.py, the shipped sketch (4-letter stems of capitalised words in every cased script +
# numbers, two weights) against the Latin-script names shipped before, 10-fold CV over 10 fold seeds:
RICHER_SKETCH_GAIN_FLOOR = 0.003  # measured +0.0037 at 700 (0.7465 -> 0.7502); +0.0044 at 500


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    yield load_default_embedder()


def bbc_subset(per_class: int) -> list[Doc]:
    docs = load_bbc(DEFAULT_DATA)
    return [d for label in range(len(BBC_CLASSES)) for d in [x for x in docs if x.label == label][:per_class]]


def topic_vectors(taxonomy: Taxonomy, embedder: Embedder) -> Vectors:
    return topics.embed_topics(taxonomy, lambda texts: embed_cached(embedder, texts))


def test_ag_news_zero_shot_floor(embedder: Embedder) -> None:
    docs = load_ag_news(DEFAULT_DATA)[:AG_ZERO_SHOT_ROWS]
    taxonomy = flat_taxonomy(AG_NEWS_CLASSES, AG_NEWS_DESCRIPTIONS)
    clf = topics.TopicClassifier(taxonomy, topic_vectors(taxonomy, embedder))
    vectors = embed_cached(embedder, [d.full for d in docs])
    assert zero_shot_accuracy(clf, docs, vectors) >= AG_ZERO_SHOT_FLOOR
    assert refined_zero_shot_accuracy(clf, docs, vectors) >= AG_REFINED_FLOOR


def test_bbc_topic_cross_validation_floor(embedder: Embedder) -> None:
    docs = bbc_subset(BBC_CV_PER_CLASS)
    taxonomy = flat_taxonomy(BBC_CLASSES, BBC_DESCRIPTIONS)
    clf = topics.TopicClassifier(taxonomy, topic_vectors(taxonomy, embedder))
    vectors = embed_cached(embedder, [d.full for d in docs])
    assert cv_accuracy(clf, docs, vectors, c=supervised.LOGREG_C, use_tfidf=True) >= BBC_CV_FLOOR


def test_ag_news_supervised_floor_needs_the_neighbour_vote(embedder: Embedder) -> None:
    """The floor sits above what the linear model reaches alone, so a vote that stops being chosen or
    stops helping fails the build."""
    docs = load_ag_news(DEFAULT_DATA)[:AG_CV_ROWS]
    taxonomy = flat_taxonomy(AG_NEWS_CLASSES, AG_NEWS_DESCRIPTIONS)
    clf = topics.TopicClassifier(taxonomy, topic_vectors(taxonomy, embedder))
    vectors = embed_cached(embedder, [d.full for d in docs])
    assert cv_accuracy(clf, docs, vectors, c=supervised.LOGREG_C, use_tfidf=True) >= AG_CV_FLOOR


def test_near_duplicate_recall_is_total_on_edited_bbc_copies() -> None:
    every = load_bbc(DEFAULT_DATA)
    docs = every[:: len(every) // NEARDUP_DOCS][:NEARDUP_DOCS]  # spread over all five classes
    items = neardup.build_items(docs)
    sigs = [dedupe.signature(item.text) for item in items]
    precision, recall = neardup.evaluate_index(items, sigs, dedupe.THRESHOLD)
    assert recall == 1.0
    assert precision >= NEARDUP_PRECISION_FLOOR
    assert np.mean([s.size > 0 for s in sigs]) == 1.0


def test_story_clustering_purity_and_completeness_on_the_demo_world(embedder: Embedder) -> None:
    result = stories.evaluate_demo(embedder)
    assert result.purity >= STORY_PURITY_FLOOR
    assert result.completeness >= STORY_COMPLETENESS_FLOOR


def test_the_study_report_and_the_column_stay_out_of_the_regulators_story(embedder: Embedder) -> None:
    """The demo world's reported merge: "AI still trips over balance sheets" (the benchmark study) and an
    opinion column joined the FSOA's AI-guidance story; that story is led by its news report."""
    result = stories.evaluate_demo(embedder)
    story_of = {a.id: s for a, s in zip(stories.demo_articles(), result.predicted, strict=True)}
    guidance = story_of["fd-fsoa-ai-credit-guidance"]
    members = {a for a, s in story_of.items() if s == guidance}
    assert members == {a.id for a in stories.demo_articles() if a.story == "fsoa-ai-guidance"}
    assert stories.demo_leads(result)[guidance].id == "fd-fsoa-ai-credit-guidance"


def test_same_story_pairs_and_bbc_stay_apart(embedder: Embedder) -> None:
    _, _, f1 = stories.evaluate_semeval(embedder, DEFAULT_DATA)
    assert f1 >= SEMEVAL_STORY_F1_FLOOR
    assert stories.evaluate_bbc(embedder, DEFAULT_DATA, BBC_STORY_PER_CLASS).purity >= BBC_STORY_PURITY_FLOOR


def test_near_duplicates_tell_quoting_from_copying() -> None:
    every = load_bbc(DEFAULT_DATA)
    docs = every[:: len(every) // NEARDUP_DOCS][:NEARDUP_DOCS]
    items = neardup.add_replies(neardup.build_items(docs), docs, load_ag_news(DEFAULT_DATA))
    sigs = [dedupe.signature(item.text) for item in items]
    precision, recall = neardup.evaluate_index(items, sigs, dedupe.THRESHOLD)
    assert precision >= QUOTES_PRECISION_FLOOR
    assert recall >= QUOTES_RECALL_FLOOR
    precision, recall = neardup.evaluate_confirmed(items, sigs)  # the shipped path: index + text check
    assert precision >= QUOTES_CHECKED_PRECISION_FLOOR
    assert recall == 1.0


needs_semeval = pytest.mark.skipif(
    not (DEFAULT_DATA / "semeval2022-task8").is_dir(), reason="SemEval-2022 Task 8 data not found"
)


def _cosines_relations_gold(
    embedder: Embedder, pairs: list[similarity.LangPair]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each SemEval pair's cosine, language relation and gold (−Overall), in the pairs' order."""
    return similarity.cosines(embedder, pairs), similarity.pair_relations(pairs), similarity.gold_of(pairs)


@needs_semeval
def test_same_story_similarity_floor_in_every_language(embedder: Embedder) -> None:
    pairs = similarity.read_pairs(DEFAULT_DATA)
    table = similarity.by_pair(pairs, similarity.cosines(embedder, pairs))
    assert table[similarity.ALL][1] >= SIMILARITY_ALL_FLOOR
    assert table[similarity.ENGLISH][1] >= SIMILARITY_ENGLISH_FLOOR


@needs_semeval
def test_calibrated_similarity_floor_and_the_shipped_map_is_what_the_data_fit(embedder: Embedder) -> None:
    pairs = similarity.read_pairs(DEFAULT_DATA)
    cos, rels, gold = _cosines_relations_gold(embedder, pairs)
    shipped = calibration_for(embedder.name)
    assert similarity.pearson(similarity.calibrated(shipped, cos, rels), gold) >= SIMILARITY_CALIBRATED_FLOOR
    folds = similarity.random_folds(len(pairs))
    cross_validated = similarity.out_of_fold(cos, rels, gold, similarity.shipped_classes, folds)
    assert similarity.pearson(cross_validated, gold) >= SIMILARITY_CALIBRATED_FLOOR
    refit = similarity.fit(cos, rels, gold, similarity.shipped_classes).calibration("refit")
    assert refit.maps.keys() == shipped.maps.keys()
    for rel, line in refit.maps.items():
        assert line.slope == pytest.approx(shipped.maps[rel].slope, abs=0.01)
        assert line.intercept == pytest.approx(shipped.maps[rel].intercept, abs=0.01)


@needs_semeval
def test_stored_signatures_add_to_the_calibrated_cosine_and_a_floor_only_bends_it(embedder: Embedder) -> None:
    """The documented findings behind issue 15 item 1's verdict (docs/embeddings.md): the signatures the
    store keeps rank same-story pairs better (Pearson and Spearman both rise), while a floor on the score
    raises Pearson by more without ranking better (its Spearman stays within 0.006 of the shipped lines':
    0.0049 with ORT's fused layer norms, 0.0052 unfused, where int8 MiniLM's rounding moved it)."""
    pairs = similarity.read_pairs(DEFAULT_DATA)
    inputs = similarity.signal_inputs(pairs, *similarity.vectors(embedder, pairs))
    splits = (inputs.folds, inputs.pair_names)
    table = pair_signals.rows(inputs, pair_signals.signals(pairs))
    shipped, signed, floor = (
        pair_signals.score(table[row], inputs.gold, splits, inputs.english)
        for row in (
            "none (shipped lines)",
            "**signatures (Jaccard), one language** (stored today)",
            "shipped lines + a floor (nested; bends the scale)",
        )
    )
    assert signed.cross_validated >= shipped.cross_validated + SIGNATURES_GAIN_FLOOR
    assert signed.pair_left_out > shipped.pair_left_out
    assert signed.spearman > shipped.spearman
    assert floor.cross_validated > signed.cross_validated
    assert abs(floor.spearman - shipped.spearman) < 0.006


@needs_semeval
def test_signatures_gain_is_the_pairs_folding_removes_and_names_rank_better(embedder: Embedder) -> None:
    """Why the product reads names at pair time and not the signatures (docs/embeddings.md, "Names at
    pair time"): on the pairs near-duplicate folding keeps (the only ones stories and related compare),
    the signatures add nothing, while the names overlap raises Pearson by CV, held out and in rank."""
    pairs = similarity.read_pairs(DEFAULT_DATA)
    keep = pair_signals.kept_by_folding(pairs)
    inputs = pair_signals.subset(similarity.signal_inputs(pairs, *similarity.vectors(embedder, pairs)), keep)
    found = pair_signals.signals(pairs)
    lines = pair_signals.class_lines(inputs.cos, inputs.classes)
    splits = (inputs.folds, inputs.pair_names)

    def scored(*keys: str) -> pair_signals.Scored:
        design = np.column_stack([*lines, *(found[k][keep] for k in keys)])
        return pair_signals.score(
            pair_signals.least_squares(design, inputs.gold), inputs.gold, splits, inputs.english
        )

    shipped, signed = scored(), scored("signatures (Jaccard), one language")
    named = scored("names (overlap), every pair")
    assert int((~keep).sum()) == 7
    assert abs(signed.cross_validated - shipped.cross_validated) < SIGNATURES_KEPT_GAIN_CEILING
    assert named.cross_validated >= shipped.cross_validated + NAMES_GAIN_FLOOR
    assert named.pair_left_out > shipped.pair_left_out
    assert named.spearman > shipped.spearman


@needs_semeval
def test_the_product_pair_score_floor_and_its_names_weight_is_what_the_data_fit(embedder: Embedder) -> None:
    """The score stories and related rank by (``Calibration.score_pair``, the same call as the
    product's) meets issue 15's goal on the training set (all pairs ≥ 0.75 in-sample, English ≥ 0.85),
    ranks better than the score shipped before, and its two names weights are within 0.01 of a refit on
    the shipped calibrated score."""
    pairs = similarity.read_pairs(DEFAULT_DATA)
    cos, rels, gold = _cosines_relations_gold(embedder, pairs)
    shipped = calibration_for(embedder.name)
    names = pair_signals.names_overlaps(pairs)
    scores = similarity.pair_scores(shipped, cos, rels, names)
    calibrated = similarity.calibrated(shipped, cos, rels)
    assert similarity.pearson(scores, gold) >= PAIR_SCORE_FLOOR
    assert similarity.pearson(scores, gold) > similarity.pearson(calibrated, gold)
    assert similarity.spearman(scores, gold) > similarity.spearman(calibrated, gold)
    assert similarity.spearman(scores, gold) > PAIR_SCORE_SPEARMAN_BEFORE
    english = rels == Relation.ENGLISH
    assert similarity.pearson(scores[english], gold[english]) >= SIMILARITY_ENGLISH_FLOOR
    same, cross = similarity.names_weight_fit(calibrated, names, gold, similarity.crossing_of(pairs))
    assert shipped.names_weight == pytest.approx(same, abs=0.01)
    assert shipped.names_weight_for(Relation.ENGLISH_OTHER) == pytest.approx(cross, abs=0.01)


@needs_semeval
def test_the_product_pair_score_holds_out_of_sample(embedder: Embedder) -> None:
    """The same model (the shipped lines + the two names weights) refitted on nine tenths and scored on
    the rest, over ten fold assignments: the in-sample 0.75 is not a fit to the noise."""
    pairs = similarity.read_pairs(DEFAULT_DATA)
    inputs = similarity.signal_inputs(pairs, *similarity.vectors(embedder, pairs))
    lines = pair_signals.class_lines(inputs.cos, inputs.classes)
    shipped = pair_signals.recipe_rows(pairs)[f"{pair_signals.BEST_RECIPE}, two weights"]
    mean, low, _high = pair_signals.seeded_cv(np.column_stack([*lines, shipped]), inputs.gold)
    assert mean >= PAIR_SCORE_CV_FLOOR and low >= PAIR_SCORE_CV_FLOOR - 0.002


@needs_semeval
def test_the_richer_names_sketch_ranks_better_than_the_latin_script_names(embedder: Embedder) -> None:
    """The finding behind "What else the names sketch could carry" (docs/embeddings.md): numbers, every
    cased script and stems rank same-story pairs better than the Latin-script names shipped before (CV
    over ten fold seeds, held out, Spearman), with English ≥ 0.85; the sketch ships."""
    pairs = similarity.read_pairs(DEFAULT_DATA)
    inputs = similarity.signal_inputs(pairs, *similarity.vectors(embedder, pairs))
    lines = pair_signals.class_lines(inputs.cos, inputs.classes)
    table = pair_signals.recipe_rows(pairs)
    splits = (inputs.folds, inputs.pair_names)
    shipped, richer = (
        np.column_stack([*lines, table[row]])
        for row in (pair_signals.OLD_RECIPE, f"{pair_signals.BEST_RECIPE}, two weights")
    )
    shipped_cv, richer_cv = (pair_signals.seeded_cv(d, inputs.gold)[0] for d in (shipped, richer))
    before, after = (
        pair_signals.score(pair_signals.least_squares(d, inputs.gold), inputs.gold, splits, inputs.english)
        for d in (shipped, richer)
    )
    assert richer_cv >= shipped_cv + RICHER_SKETCH_GAIN_FLOOR
    assert after.pair_left_out > before.pair_left_out
    assert after.spearman > before.spearman
    assert after.english >= SIMILARITY_ENGLISH_FLOOR
