"""Evaluate topic classification (newsdesk.enrich.topics) on AG News and BBC.

* AG News test split (7,600 titles + descriptions, 4 classes): zero-shot accuracy from the four class
  names and one-line descriptions only (goal ≥ 0.80), and 5-fold cross-validated accuracy of the
  supervised model trained on the other folds (goal ≥ 0.90).
* BBC (2,225 articles, 5 classes): 5-fold cross-validated accuracy (goal ≥ 0.98), and zero-shot too.

Multi-label (``--multi-label``): AG News rebuilt as a multi-label set — MULTI_SINGLES items kept whole
(one topic) and MULTI_PAIRS items made of two items of different classes run together (both topics).
5-fold cross-validation of the supervised model with the neighbour-vote weight chosen by each criterion
(top-hit rate, micro-F1); printed: the share of articles left with no topic and micro-F1, with the
best-guess floor swept (``topics.BEST_GUESS_FLOOR``), and the precision of the guesses themselves.

Single-label accuracy: the predicted class is the topic with the highest score of the signal under test
(``TopicClassifier.signal_scores``), so the figure measures the signal, not the multi-label thresholds.
Vectors come from the project embedder and are cached in the temp folder (eval/common.py).

    .venv/bin/python eval/topics.py [--data ../shared/data] [--sets ag_news bbc] [--c 1 10] [--no-tfidf]
        [--zero-shot-only] [--multi-label]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from eval.common import (
    AG_NEWS_CLASSES,
    BBC_CLASSES,
    Doc,
    data_arg,
    embed_cached,
    load_ag_news,
    load_bbc,
    load_default_embedder,
)
from newsdesk.enrich import supervised, topics
from newsdesk.enrich.base import Embedder, Vectors
from newsdesk.model import Taxonomy, Topic

FOLDS = 5
SEED = 0

# One line per class, written from the class names alone (no look at the data's wording).
AG_NEWS_DESCRIPTIONS = {
    "World": "World news: international politics, governments, elections, wars, conflicts and diplomacy between countries.",
    "Sports": "Sports news: games, matches, teams, players, coaches, leagues, tournaments and championships.",
    "Business": "Business news: companies, markets, stocks, earnings, the economy, oil prices, deals and industries.",
    "Sci/Tech": "Science and technology news: computers, software, the internet, gadgets, space and scientific research.",
}
BBC_DESCRIPTIONS = {
    "business": "Business news: companies, markets, the economy, profits, shares and trade.",
    "entertainment": "Entertainment news: films, music, television, celebrities, awards and the arts.",
    "politics": "Politics news: government, parliament, political parties, elections and ministers.",
    "sport": "Sport news: football, rugby, tennis, athletics, matches, players and championships.",
    "tech": "Technology news: computers, the internet, mobile phones, games, software and gadgets.",
}


def flat_taxonomy(classes: Sequence[str], descriptions: dict[str, str]) -> Taxonomy:
    return Taxonomy(tuple(Topic(name=c, description=descriptions[c]) for c in classes))


def classifier_for(taxonomy: Taxonomy, embedder: Embedder) -> topics.TopicClassifier:
    vectors = topics.embed_topics(taxonomy, lambda texts: embed_cached(embedder, texts))
    return topics.TopicClassifier(taxonomy, vectors)


def inputs(docs: Sequence[Doc]) -> list[supervised.TopicInput]:
    return [supervised.TopicInput(d.title, d.text) for d in docs]


def zero_shot_accuracy(clf: topics.TopicClassifier, docs: Sequence[Doc], vectors: Vectors) -> float:
    scores = clf.signal_scores(inputs(docs), vectors).zero_shot
    labels = np.array([d.label for d in docs])
    return float((scores.argmax(axis=1) == labels).mean())


def refined_zero_shot_accuracy(
    clf: topics.TopicClassifier, docs: Sequence[Doc], vectors: Vectors, *, refine_on: Vectors | None = None
) -> float:
    """Zero-shot accuracy after ``refine_topic_vectors`` on ``refine_on`` (default: the same articles;
    no labels are used either way)."""
    pool = vectors if refine_on is None else refine_on
    refined = topics.TopicClassifier(clf.taxonomy, topics.refine_topic_vectors(clf.topic_vectors, pool))
    return zero_shot_accuracy(refined, docs, vectors)


def cv_accuracy(
    clf: topics.TopicClassifier,
    docs: Sequence[Doc],
    vectors: Vectors,
    *,
    c: float,
    use_tfidf: bool,
    knn: bool = True,
) -> float:
    """Mean accuracy over stratified folds; each fold trains on the others (the model's neighbour-vote
    weight is chosen inside the training folds, never on the test fold)."""
    labels = np.array([d.label for d in docs])
    names = [t.name for t in clf.taxonomy.topics]
    correct = 0
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(vectors, labels):
        examples = [
            supervised.LabelledExample(docs[i].title, docs[i].text, vectors[i], (names[labels[i]],))
            for i in train
        ]
        model = supervised.train_supervised(examples, use_tfidf=use_tfidf, c=c, knn=knn)
        trained = topics.TopicClassifier(clf.taxonomy, clf.topic_vectors, model=model)
        scores = trained.signal_scores(inputs([docs[i] for i in test]), vectors[test]).supervised
        correct += int((scores.argmax(axis=1) == labels[test]).sum())
    return correct / len(docs)


def evaluate(
    name: str, docs: list[Doc], clf: topics.TopicClassifier, embedder: Embedder, args: argparse.Namespace
) -> None:
    start = time.perf_counter()
    vectors = embed_cached(embedder, [d.full for d in docs])
    print(
        f"\n{name}: {len(docs)} documents, {len(clf.taxonomy.topics)} classes (vectors {time.perf_counter() - start:.0f} s)"
    )
    plain = zero_shot_accuracy(clf, docs, vectors)
    print(f"  zero-shot accuracy (class names + one-line descriptions): {plain:.4f}")
    refined = refined_zero_shot_accuracy(clf, docs, vectors)
    print(f"  zero-shot, topic vectors refined on these articles (no labels): {refined:.4f}")
    order = np.random.default_rng(SEED).permutation(len(docs))
    first, second = order[: len(docs) // 2], order[len(docs) // 2 :]
    half = [docs[i] for i in second]
    held_out = refined_zero_shot_accuracy(clf, half, vectors[second], refine_on=vectors[first])
    unrefined = zero_shot_accuracy(clf, half, vectors[second])
    print(
        f"  zero-shot on a random half, refined on the other half: {held_out:.4f} (unrefined {unrefined:.4f})"
    )
    if args.zero_shot_only:
        return
    variants = [(False, False), (True, False), (True, True)] if not args.no_tfidf else [(False, False)]
    for c in args.c:
        for use_tfidf, knn in variants:
            start = time.perf_counter()
            acc = cv_accuracy(clf, docs, vectors, c=c, use_tfidf=use_tfidf, knn=knn)
            features = "embedding" + (" + TF-IDF" if use_tfidf else "") + (" + vote" if knn else "")
            print(
                f"  {FOLDS}-fold CV accuracy, {features:25s} C={c:<4g}: {acc:.4f}  ({time.perf_counter() - start:.0f} s)"
            )


MULTI_SINGLES = 3_000  # AG News items kept as they are: one topic each
MULTI_PAIRS = 1_500  # items made of two AG News items of different classes: two topics each
FLOOR_SWEEP = (1.01, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)  # 1.01: no best guess


@dataclass(frozen=True, slots=True)
class MultiDoc:
    title: str
    text: str
    labels: tuple[int, ...]

    @property
    def full(self) -> str:
        return f"{self.title}. {self.text}"


def multi_label_set(docs: Sequence[Doc], *, seed: int = SEED) -> list[MultiDoc]:
    """MULTI_SINGLES items of ``docs`` as they are, then MULTI_PAIRS made of two items of different
    classes: the first one's title, both texts (the second's title opening its part)."""
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(docs))]
    out = [MultiDoc(docs[i].title, docs[i].text, (docs[i].label,)) for i in order[:MULTI_SINGLES]]
    rest = iter(order[MULTI_SINGLES:])
    pending: list[Doc] = []
    for i in rest:
        doc = docs[i]
        partner = next((p for p in pending if p.label != doc.label), None)
        if partner is None:
            pending.append(doc)
            continue
        pending.remove(partner)
        out.append(
            MultiDoc(partner.title, f"{partner.text} {doc.title}. {doc.text}", (partner.label, doc.label))
        )
        if len(out) == MULTI_SINGLES + MULTI_PAIRS:
            break
    return out


def out_of_fold(
    taxonomy: Taxonomy, items: Sequence[MultiDoc], vectors: Vectors, criterion: str
) -> tuple[np.ndarray, list[float]]:
    """Supervised probabilities of every item from a model trained on the other folds, and the vote
    weight each fold chose."""
    names = [t.name for t in taxonomy.topics]
    probabilities = np.zeros((len(items), len(names)))
    weights = []
    for train, test in KFold(FOLDS, shuffle=True, random_state=SEED).split(vectors):
        examples = [
            supervised.LabelledExample(
                items[i].title, items[i].text, vectors[i], tuple(names[j] for j in items[i].labels)
            )
            for i in train
        ]
        model = supervised.train_supervised(examples, criterion=criterion)
        weights.append(model.knn_weight)
        docs = [supervised.TopicInput(items[i].title, items[i].text) for i in test]
        fold = model.probabilities(docs, vectors[test])  # columns in model.topics order
        for j, name in enumerate(model.topics):
            probabilities[test, names.index(name)] = fold[:, j]
    return probabilities, weights


def assign(probabilities: np.ndarray, floor: float) -> np.ndarray:
    """The topics the classifier's rule assigns: every topic ≥ the threshold (at most MAX_TOPICS, best
    first), else the best one when it reaches ``floor``."""
    chosen = np.zeros(probabilities.shape, dtype=bool)
    for i, row in enumerate(probabilities):
        passing = [j for j in np.argsort(-row) if row[j] >= supervised.SUPERVISED_THRESHOLD]
        best = int(np.argmax(row))
        chosen[i, passing[: topics.MAX_TOPICS] or ([best] if row[best] >= floor else [])] = True
    return chosen


def multi_label_scores(chosen: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(share with no topic, micro-F1, exact-match share)."""
    hits = float((chosen & truth).sum())
    f1 = 2 * hits / (chosen.sum() + truth.sum())
    return float((chosen.sum(axis=1) == 0).mean()), float(f1), float((chosen == truth).all(axis=1).mean())


def evaluate_multi_label(data: Path, embedder: Embedder, criteria: Sequence[str]) -> None:
    taxonomy = flat_taxonomy(AG_NEWS_CLASSES, AG_NEWS_DESCRIPTIONS)
    items = multi_label_set(load_ag_news(data))
    vectors = embed_cached(embedder, [d.full for d in items])
    truth = np.zeros((len(items), len(AG_NEWS_CLASSES)), dtype=bool)
    for i, item in enumerate(items):
        truth[i, list(item.labels)] = True
    print(f"\nAG News multi-label: {len(items)} items, {int((truth.sum(axis=1) > 1).sum())} with two topics")
    for criterion in criteria:
        start = time.perf_counter()
        probabilities, weights = out_of_fold(taxonomy, items, vectors, criterion)
        print(f"\n  vote weight by {criterion}: {weights} ({time.perf_counter() - start:.0f} s)")
        print("  best-guess floor  no topic  micro-F1  exact  guesses  guess precision")
        plain = assign(probabilities, 1.01)
        for floor in FLOOR_SWEEP:
            chosen = assign(probabilities, floor)
            empty, f1, exact = multi_label_scores(chosen, truth)
            guessed = chosen.any(axis=1) & ~plain.any(axis=1)
            right = float((chosen[guessed] & truth[guessed]).any(axis=1).mean()) if guessed.any() else 0.0
            mark = "  <- topics.BEST_GUESS_FLOOR" if abs(floor - topics.BEST_GUESS_FLOOR) < 1e-9 else ""
            label = "off" if floor > 1 else f"{floor:.2f}"
            print(
                f"  {label:>16}  {empty:8.2%}  {f1:8.4f}  {exact:.3f}  {int(guessed.sum()):7d}  {right:15.3f}{mark}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data_arg(parser)
    parser.add_argument("--sets", nargs="+", default=["ag_news", "bbc"], choices=["ag_news", "bbc"])
    parser.add_argument(
        "--c", type=float, nargs="+", default=[supervised.LOGREG_C], help="logistic regression C values"
    )
    parser.add_argument("--no-tfidf", action="store_true", help="embedding features only")
    parser.add_argument("--zero-shot-only", action="store_true", help="skip the cross-validation")
    parser.add_argument("--multi-label", action="store_true", help="only the multi-label AG News evaluation")
    parser.add_argument(
        "--criteria", nargs="+", default=["top-hit", "micro-f1"], choices=["top-hit", "micro-f1"],
        help="vote-weight criteria compared by --multi-label",
    )  # fmt: skip
    args = parser.parse_args(argv)
    embedder = load_default_embedder()
    print(f"embedder: {embedder.name}")
    if args.multi_label:
        evaluate_multi_label(args.data, embedder, args.criteria)
        return
    if "ag_news" in args.sets:
        clf = classifier_for(flat_taxonomy(AG_NEWS_CLASSES, AG_NEWS_DESCRIPTIONS), embedder)
        evaluate("AG News test", load_ag_news(args.data), clf, embedder, args)
    if "bbc" in args.sets:
        clf = classifier_for(flat_taxonomy(BBC_CLASSES, BBC_DESCRIPTIONS), embedder)
        evaluate("BBC", load_bbc(args.data), clf, embedder, args)


if __name__ == "__main__":
    main()
