"""The supervised topic signal: the neighbour vote, how its weight is chosen, and model files.

Vectors are synthetic so the two parts can be told apart: topics placed on opposite sides of the origin
(``+e0`` and ``-e0`` for one topic) cannot be split by a hyperplane through the data, but their
neighbours say at once which topic a point belongs to.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from newsdesk.enrich import supervised
from newsdesk.enrich.supervised import LabelledExample, TopicInput
from newsdesk.errors import EnrichmentError

DIM = 8


def point(axis: int, sign: float, seed: int, noise: float = 0.25) -> npt.NDArray[np.float32]:
    v = np.zeros(DIM)
    v[axis] = sign
    v += noise * np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def mirrored(count: int, seed: int = 0) -> list[LabelledExample]:
    """Topic A at +e0 and -e0, topic B at +e1 and -e1: no linear split, clean neighbourhoods."""
    out = []
    for i in range(count):
        topic, axis = ("A", 0) if i % 2 == 0 else ("B", 1)
        sign = 1.0 if (i // 2) % 2 == 0 else -1.0
        out.append(LabelledExample(f"t{i}", "", point(axis, sign, seed + i), (topic,)))
    return out


def separable(count: int, seed: int = 0) -> list[LabelledExample]:
    """Topic A at +e0, topic B at +e1: one hyperplane splits them."""
    return [
        LabelledExample(f"t{i}", "", point(i % 2, 1.0, seed + i), ("A" if i % 2 == 0 else "B",))
        for i in range(count)
    ]


def accuracy(scores: npt.NDArray[np.float64], items: list[LabelledExample], topics: tuple[str, ...]) -> float:
    picked = [topics[j] for j in scores.argmax(axis=1)]
    return float(np.mean([p in e.topics for p, e in zip(picked, items, strict=True)]))


def score(model: supervised.SupervisedModel, items: list[LabelledExample]) -> tuple[float, float]:
    docs = [TopicInput(e.title, e.text) for e in items]
    vectors = np.stack([e.vector for e in items])
    fused = accuracy(model.probabilities(docs, vectors), items, model.topics)
    linear = accuracy(model.linear_probabilities(docs, vectors), items, model.topics)
    return fused, linear


def test_neighbour_votes_are_similarity_weighted_shares_of_the_nearest() -> None:
    neighbours = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    labels = np.array([[1, 0], [1, 1], [0, 1], [0, 1]], dtype=np.float64)
    votes = supervised.neighbour_votes(np.array([[1, 0]], dtype=np.float32), neighbours, labels, k=3)
    # nearest three: [1,0] (1.0), [0.8,0.6] (0.8), [0,1] (0.0); topic 0 holds 1.8 of 1.8
    assert votes == pytest.approx(np.array([[1.0, 0.8 / 1.8]]))
    nothing_similar = supervised.neighbour_votes(
        np.array([[0, -1]], dtype=np.float32), neighbours[:1], labels[:1]
    )
    assert nothing_similar == pytest.approx(np.zeros((1, 2)))


def test_the_vote_is_chosen_where_no_hyperplane_splits_the_topics() -> None:
    model = supervised.train_supervised(mirrored(120), use_tfidf=False)
    assert model.knn_weight > 0
    assert model.neighbours.shape == (120, DIM) and model.neighbour_topics.shape == (120, 2)
    fused, linear = score(model, mirrored(60, seed=1000))
    assert fused >= 0.95 and linear <= 0.75


def test_the_vote_stays_off_when_the_linear_model_suffices() -> None:
    model = supervised.train_supervised(separable(120), use_tfidf=False)
    assert model.knn_weight == 0 and len(model.neighbours) == 0
    assert score(model, separable(60, seed=1000))[0] >= 0.95


def test_few_examples_or_knn_off_train_the_linear_model_alone() -> None:
    assert (
        supervised.train_supervised(mirrored(supervised.KNN_MIN_EXAMPLES - 2), use_tfidf=False).knn_weight
        == 0
    )
    assert supervised.train_supervised(mirrored(120), use_tfidf=False, knn=False).knn_weight == 0


def test_a_model_with_its_vote_round_trips(tmp_path: Path) -> None:
    model = supervised.train_supervised(mirrored(120))
    path = tmp_path / "model.npz"
    supervised.save_model(model, path)
    loaded = supervised.load_model(path)
    assert loaded.knn_weight == model.knn_weight > 0
    items = mirrored(20, seed=500)
    docs, vectors = [TopicInput(e.title, e.text) for e in items], np.stack([e.vector for e in items])
    assert np.allclose(loaded.probabilities(docs, vectors), model.probabilities(docs, vectors))


def write_npz(path: Path, meta: dict[str, object], **arrays: npt.NDArray[np.float64]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    path.write_bytes(buffer.getvalue())


def test_format_1_files_still_load_and_bad_vote_arrays_are_errors(tmp_path: Path) -> None:
    linear = {
        "coef": np.ones((2, DIM)),
        "intercept": np.zeros(2),
        "thresholds": np.full(2, 0.5),
        "idf": np.zeros(0),
    }
    old = tmp_path / "old.npz"
    write_npz(old, {"format": 1, "topics": ["A", "B"], "dim": DIM, "vocabulary": []}, **linear)
    model = supervised.load_model(old)
    assert model.topics == ("A", "B") and model.knn_weight == 0
    bad = tmp_path / "bad.npz"
    meta = {"format": 2, "topics": ["A", "B"], "dim": DIM, "vocabulary": [], "knn_weight": 0.5}
    write_npz(bad, meta, neighbours=np.ones((3, DIM)), neighbour_topics=np.ones((4, 2)), **linear)
    with pytest.raises(EnrichmentError, match="inconsistent neighbour arrays"):
        supervised.load_model(bad)


def tagged(count: int, seed: int = 0) -> list[LabelledExample]:
    """Multi-label: every mirrored A/B example also carries topic C (a shared +e2 component, one
    hyperplane finds it), and a few D examples sit at -e2. The linear model always ranks C first, so
    the top topic is right without the vote; only the vote gets A and B right as well."""
    out = []
    for e in mirrored(count, seed):
        v = e.vector + np.eye(DIM, dtype=np.float32)[2]
        out.append(LabelledExample(e.title, "", (v / np.linalg.norm(v)).astype(np.float32), (*e.topics, "C")))
    out += [
        LabelledExample(f"d{i}", "", point(2, -1.0, seed + 10_000 + i), ("D",)) for i in range(count // 4)
    ]
    return out


def test_multi_label_examples_choose_the_vote_weight_by_micro_f1() -> None:
    items = tagged(160)
    by_rank = supervised.train_supervised(items, use_tfidf=False, criterion="top-hit")
    by_f1 = supervised.train_supervised(items, use_tfidf=False, criterion="micro-f1")
    auto = supervised.train_supervised(items, use_tfidf=False)
    assert by_rank.knn_weight == 0  # ranking C first needs no vote
    assert by_f1.knn_weight > 0  # assigning A and B does
    assert auto.knn_weight == by_f1.knn_weight
    single = supervised.train_supervised(mirrored(120), use_tfidf=False)
    assert (
        single.knn_weight
        == supervised.train_supervised(mirrored(120), use_tfidf=False, criterion="top-hit").knn_weight
    )
    with pytest.raises(EnrichmentError, match="criterion"):
        supervised.train_supervised(items, criterion="accuracy")
