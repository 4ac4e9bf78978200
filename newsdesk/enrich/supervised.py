"""The supervised topic signal: a linear model fused with a nearest-neighbour vote.

* **linear** — one logistic regression per topic (one-vs-rest) on the article vector beside TF-IDF
  features of its words.
* **neighbours** — the labelled examples closest to the article (cosine of the vectors) vote for their
  topics, weighted by similarity. A memory of examples catches what one hyperplane per topic misses
  (a sports story about a stadium's financing sits among sports examples), and it needs no refit
  when examples are added.

The two are mixed per topic, ``(1 - w) × linear + w × vote``. The weight ``w`` is chosen at training
time by an inner cross-validation on the training examples themselves: each candidate weight is scored
on held-out thirds, and a weight above zero is kept only when it beats the linear model alone by
:data:`KNN_MIN_GAIN`. The score matches the data: with one topic per example, how often the top topic
is right; when some examples carry several topics, the micro-F1 of the topics passing the threshold
(what the classifier will assign), since ranking one right topic first says nothing about the others. So a corpus where neighbours add nothing (long BBC articles, whose vectors see only
their first 256 tokens) keeps the linear model, and one where they help (short AG News items) uses them.

Models are saved as ``.npz`` arrays (never pickle): a model file can be shared without running code.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from newsdesk.enrich.base import Vectors, unit_rows
from newsdesk.errors import EnrichmentError

# scikit-learn (and the scipy it loads) is imported where a model is trained or applied, not with this
# module: a run whose store has no trained model never uses it, and it cost every run and desk process
# its import time and memory (docs/benchmarks.md, "Lean pipeline").
if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float64]

SUPERVISED_THRESHOLD = 0.5
"""Default per-topic probability threshold of the supervised model (overridable per topic)."""

MAX_TEXT_CHARS = 20_000
"""Characters of the text read for keywords and TF-IDF: bounds the work on a 2 MB page."""

LOGREG_C = 10.0
"""Inverse regularisation of the logistic regressions. BBC 5-fold (eval/topics.py, embedding + TF-IDF):
C = 10 gives 0.980 against 0.976 at C = 1; embedding alone 0.971 vs 0.969."""

TFIDF_WEIGHT = 3.0
"""Scale of the (unit-length) TF-IDF block next to the unit embedding. BBC 5-fold at C = 10: weight 0
(embedding only) 0.971, 1 → 0.980, 2 → 0.982; AG News with unigrams: 1 → 0.892, 2 → 0.892; with word
1-2 grams: 2 → 0.898, 3 → 0.900 (1-3 grams 0.9005; adding character n-grams 0.899)."""

TFIDF_NGRAMS = (1, 2)  # word bigrams carry names and phrases ("interest rates", "Wall Street")
TFIDF_MIN_DF = 2
TFIDF_MAX_FEATURES = 100_000

KNN_NEIGHBOURS = 10
"""Examples that vote. AG News 5-fold with the vote at weight 0.5: k = 10 → 0.905, 20 → 0.904,
40 → 0.903, 80 → 0.903 (eval/topics.py)."""

KNN_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
"""Candidate weights of the vote. The inner cross-validation picks 0.5 on every AG News fold (0.894 →
0.900-0.904 on held-out thirds) and 0 or 0.25 on BBC. On multi-label AG News (eval/topics.py
--multi-label) the top-hit criterion picks 0.25-0.5 (micro-F1 0.8637, 2.4% of articles without a topic)
and micro-F1 picks 0 on every fold (micro-F1 0.8685). Not analysed further; a guess: a vote split
between an article's two topics leaves each under the threshold."""

KNN_MIN_GAIN = 0.003
"""A vote weight above zero must beat the linear model alone by this much on the inner folds (about the
noise of a paired accuracy difference on a few thousand examples). Without it BBC picked 0.25 on two
folds for gains of 0.001 and lost 0.002 of outer accuracy (0.9825 → 0.9802)."""

INNER_FOLDS = 3
KNN_MIN_EXAMPLES = 60
"""Below this many examples the inner folds are too small to choose a weight: the linear model alone."""

KNN_MAX_EXAMPLES = 50_000
"""Examples kept for the vote (a seeded random sample beyond this): 50k × 384 float32 is 77 MB."""

_SCORE_ROWS = 256  # articles scored against the examples at once: 256 x 50k float32 similarities = 51 MB


@dataclass(frozen=True, slots=True)
class TopicInput:
    """The words of an article the classifier reads (its vector is passed beside it)."""

    title: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """A training example: the article's words, its vector and its topics (any number)."""

    title: str
    text: str
    vector: npt.NDArray[np.float32]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class SupervisedModel:
    """One-vs-rest logistic regressions: ``coef`` (topics × features), ``intercept``, per-topic
    ``thresholds``; with TF-IDF, ``vocabulary`` and ``idf`` rebuild the word features. With
    ``knn_weight`` > 0, ``neighbours`` (unit example vectors) and ``neighbour_topics`` (examples × topics,
    1 where the example has the topic) give the vote."""

    topics: tuple[str, ...]
    coef: Matrix
    intercept: Matrix
    thresholds: Matrix
    dim: int
    vocabulary: tuple[str, ...] = ()
    idf: Matrix = field(default_factory=lambda: np.zeros(0))
    knn_weight: float = 0.0
    neighbours: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    neighbour_topics: Matrix = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def uses_tfidf(self) -> bool:
        return bool(self.vocabulary)

    def probabilities(self, docs: Sequence[TopicInput], vectors: Vectors) -> Matrix:
        """(n, topics) probabilities for the articles."""
        linear = self.linear_probabilities(docs, vectors)
        if self.knn_weight <= 0 or not len(self.neighbours):
            return linear
        votes = neighbour_votes(vectors, self.neighbours, self.neighbour_topics)
        return (1.0 - self.knn_weight) * linear + self.knn_weight * votes

    def linear_probabilities(self, docs: Sequence[TopicInput], vectors: Vectors) -> Matrix:
        features = _features(vectors, docs, self._vectorizer())
        logits = features @ self.coef.T + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)

    def _vectorizer(self) -> TfidfVectorizer | None:
        if not self.uses_tfidf:
            return None
        vectorizer = _new_vectorizer(vocabulary={w: i for i, w in enumerate(self.vocabulary)})
        vectorizer.idf_ = self.idf
        return vectorizer


def neighbour_votes(vectors: Vectors, neighbours: Vectors, labels: Matrix, k: int = KNN_NEIGHBOURS) -> Matrix:
    """(n, topics): for each article, the similarity-weighted share of its ``k`` nearest examples that
    carry each topic (0 when no example is similar at all)."""
    queries = unit_rows(vectors)
    k = min(k, len(neighbours))
    out = np.zeros((len(queries), labels.shape[1]))
    for start in range(0, len(queries), _SCORE_ROWS):
        sims = queries[start : start + _SCORE_ROWS] @ neighbours.T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.clip(np.take_along_axis(sims, nearest, axis=1), 0.0, None).astype(np.float64)
        totals = weights.sum(axis=1, keepdims=True)
        votes = np.einsum("nk,nkt->nt", weights, labels[nearest])
        out[start : start + len(sims)] = votes / np.where(totals == 0, 1.0, totals)
    return out


def _new_vectorizer(vocabulary: Mapping[str, int] | None = None) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if vocabulary is not None:
        return TfidfVectorizer(
            sublinear_tf=True, ngram_range=TFIDF_NGRAMS, vocabulary=vocabulary, dtype=np.float64
        )
    return TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=TFIDF_NGRAMS,
        min_df=TFIDF_MIN_DF,
        max_features=TFIDF_MAX_FEATURES,
        dtype=np.float64,
    )


def _words(doc: TopicInput) -> str:
    return f"{doc.title}\n{doc.text[:MAX_TEXT_CHARS]}"


def _features(vectors: Vectors, docs: Sequence[TopicInput], vectorizer: TfidfVectorizer | None) -> Any:
    dense = np.asarray(vectors, dtype=np.float64)
    if vectorizer is None:
        return dense
    from scipy import sparse

    words = vectorizer.transform([_words(d) for d in docs]) * TFIDF_WEIGHT
    return sparse.hstack([sparse.csr_matrix(dense), words], format="csr")


# --- training -----------------------------------------------------------------------------------


CRITERIA = ("auto", "top-hit", "micro-f1")


def train_supervised(
    examples: Sequence[LabelledExample],
    *,
    use_tfidf: bool = True,
    c: float = LOGREG_C,
    knn: bool = True,
    criterion: str = "auto",
) -> SupervisedModel:
    """Fit one logistic regression per topic that has both positive and negative examples, then (with
    ``knn`` and enough examples) choose the neighbour vote's weight by inner cross-validation, scored by
    ``criterion`` (:data:`CRITERIA`; ``auto``: micro-F1 when any example has several topics, else the
    top-hit rate)."""
    if not examples:
        raise EnrichmentError("no labelled examples to train on")
    if criterion not in CRITERIA:
        raise EnrichmentError(f"unknown vote-weight criterion {criterion!r}: one of {', '.join(CRITERIA)}")
    model = _fit_linear(examples, use_tfidf=use_tfidf, c=c)
    if not knn or len(examples) < KNN_MIN_EXAMPLES:
        return model
    weight = _vote_weight(examples, model.topics, use_tfidf=use_tfidf, c=c, criterion=criterion)
    log.info("neighbour vote weight chosen", extra={"weight": weight, "examples": len(examples)})
    if weight <= 0:
        return model
    kept = _sample(examples, KNN_MAX_EXAMPLES)
    return replace(
        model,
        knn_weight=weight,
        neighbours=unit_rows(_vectors(kept)),
        neighbour_topics=_topic_matrix(kept, model.topics),
    )


def _fit_linear(examples: Sequence[LabelledExample], *, use_tfidf: bool, c: float) -> SupervisedModel:
    vectors = _vectors(examples)
    docs = [TopicInput(e.title, e.text) for e in examples]
    vectorizer = _fit_vectorizer(docs) if use_tfidf else None
    features = _features(vectors, docs, vectorizer)
    names = sorted({t for e in examples for t in e.topics})
    fitted = [(n, _fit_one(features, [n in e.topics for e in examples], c)) for n in names]
    kept = [(n, m) for n, m in fitted if m is not None]
    if not kept:
        raise EnrichmentError("every topic in the examples is on all or none of them: nothing to learn")
    return _model(kept, vectors.shape[1], vectorizer)


def _vote_weight(
    examples: Sequence[LabelledExample], names: Sequence[str], *, use_tfidf: bool, c: float, criterion: str
) -> float:
    """The :data:`KNN_WEIGHTS` entry whose mix scores best on held-out folds (see :func:`_criterion`)."""
    from sklearn.model_selection import KFold

    linear = np.zeros((len(examples), len(names)))
    votes = np.zeros_like(linear)
    folds = KFold(INNER_FOLDS, shuffle=True, random_state=0).split(np.zeros(len(examples)))
    for train, test in folds:
        fold_train, fold_test = [examples[i] for i in train], [examples[i] for i in test]
        try:
            inner = _fit_linear(fold_train, use_tfidf=use_tfidf, c=c)
        except EnrichmentError:  # a fold where no topic has both kinds of example: no evidence
            return 0.0
        linear[test] = _aligned(inner, names, fold_test)
        neighbours = unit_rows(_vectors(fold_train))
        votes[test] = neighbour_votes(_vectors(fold_test), neighbours, _topic_matrix(fold_train, names))
    truth = _topic_matrix(examples, names)
    score = _criterion(criterion, truth)
    hits = [score((1 - w) * linear + w * votes, truth) for w in KNN_WEIGHTS]
    best = int(np.argmax(hits))
    log.info(
        "vote weights scored", extra={"criterion": score.__name__, "scores": [round(h, 4) for h in hits]}
    )
    return KNN_WEIGHTS[best] if hits[best] - hits[0] >= KNN_MIN_GAIN else 0.0


def _criterion(name: str, truth: Matrix) -> Callable[[Matrix, Matrix], float]:
    """The vote-weight score: ``top-hit`` for single-label data, ``micro-f1`` for multi-label."""
    if name == "micro-f1" or (name == "auto" and bool((truth.sum(axis=1) > 1).any())):
        return _micro_f1
    return _top_hit_rate


def _micro_f1(scores: Matrix, truth: Matrix) -> float:
    """Micro-averaged F1 of the topics at or above :data:`SUPERVISED_THRESHOLD`."""
    predicted = scores >= SUPERVISED_THRESHOLD
    hits = float((predicted & (truth > 0)).sum())
    guessed, actual = float(predicted.sum()), float((truth > 0).sum())
    return 2 * hits / (guessed + actual) if guessed + actual else 0.0


def _aligned(model: SupervisedModel, names: Sequence[str], examples: Sequence[LabelledExample]) -> Matrix:
    """The model's linear probabilities in ``names`` order (0 for topics the fold could not fit)."""
    docs = [TopicInput(e.title, e.text) for e in examples]
    probabilities = model.linear_probabilities(docs, _vectors(examples))
    out = np.zeros((len(examples), len(names)))
    for j, name in enumerate(model.topics):
        out[:, names.index(name)] = probabilities[:, j]
    return out


def _top_hit_rate(scores: Matrix, truth: Matrix) -> float:
    """Share of examples whose highest-scoring topic is one of theirs."""
    best = scores.argmax(axis=1)
    return float(truth[np.arange(len(truth)), best].mean())


def _vectors(examples: Sequence[LabelledExample]) -> npt.NDArray[np.float32]:
    return np.stack([np.asarray(e.vector, dtype=np.float32) for e in examples])


def _topic_matrix(examples: Sequence[LabelledExample], names: Sequence[str]) -> Matrix:
    return np.array([[name in e.topics for name in names] for e in examples], dtype=np.float64)


def _sample(examples: Sequence[LabelledExample], limit: int) -> Sequence[LabelledExample]:
    if len(examples) <= limit:
        return examples
    keep = np.sort(np.random.default_rng(0).choice(len(examples), limit, replace=False))
    return [examples[i] for i in keep]


def _fit_vectorizer(docs: Sequence[TopicInput]) -> TfidfVectorizer | None:
    """A TF-IDF vocabulary from the examples, or ``None`` when they share too few words to make one
    (the model then uses the embedding alone)."""
    vectorizer = _new_vectorizer()
    try:
        vectorizer.fit([_words(d) for d in docs])
    except ValueError:
        log.info("no TF-IDF vocabulary: training on embeddings only", extra={"examples": len(docs)})
        return None
    return vectorizer


def _fit_one(features: Any, labels: Sequence[bool], c: float) -> LogisticRegression | None:
    if all(labels) or not any(labels):
        return None
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000).fit(features, np.asarray(labels, dtype=int))


def _model(
    fitted: Sequence[tuple[str, LogisticRegression]], dim: int, vectorizer: TfidfVectorizer | None
) -> SupervisedModel:
    vocabulary: tuple[str, ...] = ()
    idf = np.zeros(0)
    if vectorizer is not None:
        vocabulary = tuple(sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__))
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    return SupervisedModel(
        topics=tuple(n for n, _ in fitted),
        coef=np.vstack([m.coef_[0] for _, m in fitted]).astype(np.float64),
        intercept=np.array([m.intercept_[0] for _, m in fitted], dtype=np.float64),
        thresholds=np.full(len(fitted), SUPERVISED_THRESHOLD),
        dim=dim,
        vocabulary=vocabulary,
        idf=idf,
    )


# --- files --------------------------------------------------------------------------------------

MODEL_FORMAT = 2  # 2 added the neighbour vote; format 1 files (linear only) still load
_ARRAYS = ("coef", "intercept", "thresholds", "idf")
_VOTE_ARRAYS = ("neighbours", "neighbour_topics")


def save_model(model: SupervisedModel, path: Path) -> None:
    """Write ``model`` as a ``.npz`` of plain arrays (no pickle)."""
    meta = {
        "format": MODEL_FORMAT,
        "topics": list(model.topics),
        "dim": model.dim,
        "vocabulary": list(model.vocabulary),
        "knn_weight": model.knn_weight,
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        **{name: getattr(model, name) for name in _ARRAYS + _VOTE_ARRAYS},
    )
    try:
        path.write_bytes(buffer.getvalue())
    except OSError as e:
        raise EnrichmentError(f"{path}: cannot write the topic model: {e}") from e


def load_model(path: Path) -> SupervisedModel:
    """Read a model written by :func:`save_model`; a damaged or foreign file is an EnrichmentError."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            arrays = {k: np.asarray(npz[k], dtype=np.float64) for k in _ARRAYS}
            vote = {k: npz[k] for k in _VOTE_ARRAYS if k in npz.files}
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise EnrichmentError(f"{path}: not a newsdesk topic model: {e}") from e
    if meta.get("format") not in (1, MODEL_FORMAT) or arrays["coef"].shape[0] != len(meta["topics"]):
        raise EnrichmentError(f"{path}: unsupported or inconsistent topic model")
    model = SupervisedModel(
        topics=tuple(meta["topics"]),
        coef=arrays["coef"],
        intercept=arrays["intercept"],
        thresholds=arrays["thresholds"],
        dim=int(meta["dim"]),
        vocabulary=tuple(meta["vocabulary"]),
        idf=arrays["idf"],
    )
    weight = float(meta.get("knn_weight", 0.0))
    if weight <= 0:
        return model
    neighbours = np.asarray(vote.get("neighbours", np.zeros((0, 0))), dtype=np.float32)
    labels = np.asarray(vote.get("neighbour_topics", np.zeros((0, 0))), dtype=np.float64)
    if neighbours.shape != (labels.shape[0], model.dim) or labels.shape[1:] != (len(model.topics),):
        raise EnrichmentError(f"{path}: inconsistent neighbour arrays in the topic model")
    return replace(model, knn_weight=weight, neighbours=neighbours, neighbour_topics=labels)
