"""Topic classification: the taxonomy file, the three signals, training, persistence and bad input.

Vectors here are synthetic (one direction per topic) so each signal can be driven on its own; the real
embedder is exercised by tests/test_eval_gates.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from newsdesk.config import load_taxonomy
from newsdesk.enrich import supervised, topics
from newsdesk.enrich.supervised import LabelledExample, TopicInput
from newsdesk.enrich.topics import TopicClassifier, _matcher, keyword_score
from newsdesk.errors import EnrichmentError, SettingsError
from newsdesk.model import Taxonomy, Topic, TopicScore

DIM = 48


def topic_vectors(taxonomy: Taxonomy) -> npt.NDArray[np.float32]:
    """One orthogonal unit direction per topic."""
    return np.eye(len(taxonomy.topics), DIM, dtype=np.float32)


def near(taxonomy: Taxonomy, name: str, *, seed: int = 0, noise: float = 0.3) -> npt.NDArray[np.float32]:
    index = [t.name for t in taxonomy.topics].index(name)
    v = np.eye(len(taxonomy.topics), DIM)[index] + noise * np.random.default_rng(seed).normal(
        size=DIM
    ) / np.sqrt(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def far(seed: int = 0) -> npt.NDArray[np.float32]:
    """A vector in the dimensions no topic uses: zero-shot has nothing to say."""
    v = np.zeros(DIM)
    v[30:] = np.random.default_rng(seed).normal(size=DIM - 30)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(None)


@pytest.fixture
def clf(taxonomy: Taxonomy) -> TopicClassifier:
    return TopicClassifier(taxonomy, topic_vectors(taxonomy))


# --- the taxonomy -------------------------------------------------------------------------------


def test_default_taxonomy_is_a_described_tree(taxonomy: Taxonomy) -> None:
    assert 18 <= len(taxonomy.topics) <= 26
    for topic in taxonomy.topics:
        assert len(topic.description) > 40, topic.name
        assert topic.keywords, topic.name
    assert taxonomy.get("AI in Finance").parent == "AI"
    assert {t.name for t in taxonomy.children("Fintech")} >= {"Payments", "Crypto", "Regtech", "Lending"}
    assert {t.name for t in taxonomy.children("Markets")} >= {"Equities", "Rates", "Commodities"}
    assert len(topics.topic_texts(taxonomy)) == len(taxonomy.topics)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_cycle_is_reported_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "topics:\n  - {name: A, parent: C}\n  - {name: B, parent: A}\n  - {name: C, parent: B}\n",
    )
    with pytest.raises(SettingsError, match=r"cycle: A → C → B → A"):
        load_taxonomy(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topics:\n  - {name: A, parent: Nowhere}\n", "unknown parent 'Nowhere'"),
        ("topics:\n  - {name: A}\n  - {name: A}\n", "appears twice"),
        ("topics:\n  - {description: no name}\n", "#1 has no name"),
        ("topics:\n  - {name: A, parent: A}\n", "its own parent"),
        ("topics:\n  - {name: A, keywords: notalist}\n", "keywords must be a list"),
        ("topics: []\n", "non-empty 'topics' list"),
        ("just a string\n", "non-empty 'topics' list"),
        ("topics: [\n", "cannot read"),
    ],
)
def test_bad_taxonomy_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_taxonomy(write(tmp_path, text))


def test_missing_taxonomy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.yaml")


# --- the signals --------------------------------------------------------------------------------


def test_keywords_in_title_and_text_assign_the_topic_and_its_ancestors(clf: TopicClassifier) -> None:
    doc = TopicInput(
        "Stablecoin issuer wins licence", "The bitcoin and ethereum markets rallied on the crypto news."
    )
    (result,) = clf.classify([doc], far()[None, :])
    assert result[0] == TopicScore("Crypto", result[0].score, "keywords")
    assert result[-1] == TopicScore("Fintech", result[0].score, "ancestor")
    assert [ts.name for ts in result] == ["Crypto", "Fintech"]


def test_capitalised_keywords_match_only_in_capitals(clf: TopicClassifier) -> None:
    scores = clf.signal_scores([TopicInput("Thai ai said", "ai ai ai")], far()[None, :])
    ai = [t.name for t in clf.taxonomy.topics].index("AI")
    assert scores.keywords[0, ai] == 0.0
    shouting = clf.signal_scores([TopicInput("New AI model", "AI labs")], far()[None, :])
    assert shouting.keywords[0, ai] > 0.0


def test_keyword_score_weighs_the_title_more() -> None:
    assert topics.keyword_score(1, 0) > topics.keyword_score(0, 1)
    assert topics.keyword_score(0, 0) == 0.0
    assert topics.keyword_score(1, 1) >= topics.KEYWORD_THRESHOLD


def test_zero_shot_assigns_the_closest_topic(clf: TopicClassifier, taxonomy: Taxonomy) -> None:
    (result,) = clf.classify(
        [TopicInput("Quarterly update", "Nothing to match here.")], near(taxonomy, "Rates")[None, :]
    )
    assert result[0].name == "Rates" and result[0].signal == "zero-shot"
    assert [ts.name for ts in result] == ["Rates", "Markets"]


def test_nothing_is_assigned_without_evidence(clf: TopicClassifier) -> None:
    assert clf.classify([TopicInput("Weather", "Sunny spells later.")], far()[None, :]) == [()]


def test_an_article_without_text_is_classified_from_its_title(clf: TopicClassifier) -> None:
    (result,) = clf.classify(
        [TopicInput("Ransomware attack hits hospital after data breach")], far()[None, :]
    )
    assert result[0].name == "Cybersecurity"


def test_batches_keep_order_and_empty_batches_are_fine(clf: TopicClassifier, taxonomy: Taxonomy) -> None:
    docs = [TopicInput("a"), TopicInput("b")]
    vectors = np.stack([near(taxonomy, "Payments"), near(taxonomy, "Equities")])
    results = clf.classify(docs, vectors)
    assert [r[0].name for r in results] == ["Payments", "Equities"]
    assert clf.classify([], np.zeros((0, DIM), dtype=np.float32)) == []
    with pytest.raises(EnrichmentError):
        clf.classify(docs, vectors[:1])


def test_empty_foreign_and_huge_texts_do_not_break_classification(clf: TopicClassifier) -> None:
    docs = [
        TopicInput("", ""),
        TopicInput("央行宣布降息", "中国人民银行周四宣布下调利率。" * 50),
        TopicInput("Crypto", "bitcoin " * 400_000),  # ~3 MB: only MAX_TEXT_CHARS are read
    ]
    results = clf.classify(docs, np.stack([far(1), far(2), far(3)]))
    assert results[0] == () and results[1] == ()
    assert results[2][0].name == "Crypto"


def test_too_few_topic_vectors_is_an_error(taxonomy: Taxonomy) -> None:
    with pytest.raises(EnrichmentError):
        TopicClassifier(taxonomy, np.zeros((3, DIM), dtype=np.float32))


# --- the supervised model -----------------------------------------------------------------------

TRAIN_TOPICS = ("Payments", "Equities", "Cybersecurity")
WORDS = {
    "Payments": "card wallet checkout",
    "Equities": "shares index earnings",
    "Cybersecurity": "breach hackers patch",
}


def examples(taxonomy: Taxonomy, count: int = 60) -> list[LabelledExample]:
    out = []
    for i in range(count):
        name = TRAIN_TOPICS[i % 3]
        out.append(
            LabelledExample(f"item {i}", WORDS[name], near(taxonomy, name, seed=i, noise=1.0), (name,))
        )
    return out


def test_trained_model_decides_and_is_recorded_as_supervised(
    clf: TopicClassifier, taxonomy: Taxonomy
) -> None:
    trained = clf.train(examples(taxonomy))
    docs = [TopicInput("x", WORDS[n]) for n in TRAIN_TOPICS]
    vectors = np.stack([near(taxonomy, n, seed=99, noise=1.0) for n in TRAIN_TOPICS])
    results = trained.classify(docs, vectors)
    assert [r[0].name for r in results] == list(TRAIN_TOPICS)
    assert all(r[0].signal == "supervised" and r[0].score >= 0.5 for r in results)
    supervised = trained.signal_scores(docs, vectors).supervised
    assert np.isnan(supervised[:, [t.name for t in taxonomy.topics].index("AI")]).all()


def test_per_topic_thresholds_override_the_model(clf: TopicClassifier, taxonomy: Taxonomy) -> None:
    trained = clf.train(examples(taxonomy))
    strict = TopicClassifier(
        taxonomy,
        trained.topic_vectors,
        model=trained.model,
        policy=topics.TopicPolicy(topic_thresholds={"Payments": 1.01}),
    )
    doc, vector = TopicInput("x", WORDS["Payments"]), near(taxonomy, "Payments", seed=5, noise=1.0)[None, :]
    assert trained.classify([doc], vector)[0][0].name == "Payments"
    assert all(ts.name != "Payments" for ts in strict.classify([doc], vector)[0])


def test_the_best_topic_is_kept_when_none_passes_but_the_model_is_confident(
    clf: TopicClassifier, taxonomy: Taxonomy
) -> None:
    trained = clf.train(examples(taxonomy))
    doc, vector = TopicInput("x", WORDS["Payments"]), near(taxonomy, "Payments", seed=7, noise=1.0)[None, :]
    probability = trained.signal_scores([doc], vector).supervised[
        0, [t.name for t in taxonomy.topics].index("Payments")
    ]
    assert probability >= topics.BEST_GUESS_FLOOR
    strict = dict.fromkeys(TRAIN_TOPICS, (probability + 1.0) / 2)  # nothing passes; none switched off
    cautious = topics.TopicPolicy(topic_thresholds=strict)
    guessed = TopicClassifier(taxonomy, trained.topic_vectors, model=trained.model, policy=cautious)
    picked = [ts for ts in guessed.classify([doc], vector)[0] if ts.signal != "ancestor"]
    assert picked == [TopicScore("Payments", round(float(probability), 4), "best-guess")]
    unsure = topics.TopicPolicy(topic_thresholds=strict, best_guess_floor=(probability + 1.0) / 2)
    silent = TopicClassifier(taxonomy, trained.topic_vectors, model=trained.model, policy=unsure)
    assert silent.classify([doc], vector)[0] == ()


def test_model_round_trips_through_npz_without_pickle(
    tmp_path: Path, clf: TopicClassifier, taxonomy: Taxonomy
) -> None:
    trained = clf.train(examples(taxonomy))
    assert trained.model is not None and trained.model.uses_tfidf
    path = tmp_path / "model.npz"
    supervised.save_model(trained.model, path)
    loaded = supervised.load_model(path)
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {
            "meta", "coef", "intercept", "thresholds", "idf", "neighbours", "neighbour_topics"
        }  # fmt: skip
    docs = [TopicInput("x", WORDS[n]) for n in TRAIN_TOPICS]
    vectors = np.stack([near(taxonomy, n, seed=7) for n in TRAIN_TOPICS])
    assert np.allclose(loaded.probabilities(docs, vectors), trained.model.probabilities(docs, vectors))
    assert loaded.topics == trained.model.topics


def test_embedding_only_model_works_too(clf: TopicClassifier, taxonomy: Taxonomy) -> None:
    trained = clf.train(examples(taxonomy), use_tfidf=False)
    assert trained.model is not None and not trained.model.uses_tfidf
    result = trained.classify([TopicInput("x")], near(taxonomy, "Equities", seed=3)[None, :])
    assert result[0][0].name == "Equities"


def test_bad_training_input_and_model_files_are_errors(
    tmp_path: Path, clf: TopicClassifier, taxonomy: Taxonomy
) -> None:
    with pytest.raises(EnrichmentError, match="not in the taxonomy"):
        clf.train([LabelledExample("t", "x", far(), ("Gardening",))])
    with pytest.raises(EnrichmentError, match="no labelled examples"):
        clf.train([])
    with pytest.raises(EnrichmentError, match="nothing to learn"):
        clf.train([LabelledExample("t", "x", far(i), ("Crypto",)) for i in range(3)])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(EnrichmentError, match="not a newsdesk topic model"):
        supervised.load_model(junk)


def test_refining_topic_vectors_moves_them_to_their_articles() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, DIM)
    described = centres + 0.9 * np.eye(3, DIM, k=5)  # descriptions point partly elsewhere
    described /= np.linalg.norm(described, axis=1, keepdims=True)
    labels = np.repeat([0, 1], 50)  # no article of topic 2
    articles = centres[labels] + 0.4 * rng.normal(size=(100, DIM)) / np.sqrt(DIM)
    articles /= np.linalg.norm(articles, axis=1, keepdims=True)
    refined = topics.refine_topic_vectors(described.astype(np.float32), articles.astype(np.float32))
    assert refined.shape == (3, DIM) and np.allclose(np.linalg.norm(refined, axis=1), 1.0, atol=1e-5)
    for j in (0, 1):
        assert refined[j] @ centres[j] > described[j] @ centres[j]
    assert np.allclose(refined[2], described[2], atol=1e-6)
    assert np.array_equal(topics.refine_topic_vectors(refined, np.zeros((0, DIM), dtype=np.float32)), refined)


def test_topic_terms_are_the_keywords_else_the_listed_phrases_of_the_description() -> None:
    keyed = Topic(
        name="Payments", description="Card networks: Visa, Mastercard", keywords=("payments", "card")
    )
    listed = Topic(name="Sports", description="Sports news: games, matches and teams; leagues.")
    plain = Topic(name="Markets", description="Stock and bond markets")
    assert topics.topic_terms(keyed) == ["payments", "card"]
    assert topics.topic_terms(listed) == ["games", "matches", "teams", "leagues"]
    assert topics.topic_terms(plain) == []


def test_topic_vectors_mix_the_whole_text_with_the_mean_of_the_terms() -> None:
    """A deterministic stand-in embedding (one axis per distinct text) makes the mix visible: the whole
    text and the terms' mean weigh the same, and a topic without terms keeps its text's vector."""
    axes: dict[str, int] = {}
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        calls.append(texts)
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, axes.setdefault(text, len(axes))] = 1.0
        return out

    taxonomy = Taxonomy((Topic(name="A", description="A things: x, y"), Topic(name="B", description="Bare")))
    vectors = topics.embed_topics(taxonomy, embed)
    assert len(calls) == 1  # one batch for texts and terms together
    whole_a, x, y, whole_b = (axes[t] for t in ("A things: x, y", "x", "y", "Bare"))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0, x] == pytest.approx(vectors[0, y]) and vectors[0, whole_a] > vectors[0, x] > 0
    assert vectors[1, whole_b] == pytest.approx(1.0)


def test_the_word_filter_keeps_every_keyword_hit() -> None:
    """Keyword scores with the one-pass word filter equal those of scanning every topic's keywords:
    overlapping keywords, capitals-only ones, a keyword opening with punctuation, non-ASCII ones and a
    Kelvin sign that regular expressions read as a k."""
    topics_ = (
        Topic(name="Banks", keywords=("bank", "central bank", "bank run")),
        Topic(name="Tech", keywords=("AI", ".NET", "C++", "new york times")),
        Topic(name="Places", keywords=("Zürich", "new york", "Kyiv")),
        Topic(name="Symbols", keywords=("&",)),
    )
    taxonomy = Taxonomy(topics_)
    classifier = TopicClassifier(taxonomy, np.zeros((len(topics_), 4), dtype=np.float32))
    docs = [
        TopicInput(
            "The Central Bank acts", "A bank run in New York Times Square; ai and AI; .NET & C++ code."
        ),
        TopicInput("ZÜRICH talks", "The \u212ayiv delegation met in zürich."),
        TopicInput("Nothing here", "Plain words only."),
    ]
    for doc in docs:
        expected = []
        for topic in topics_:
            matcher = _matcher(topic)
            in_title = matcher.hits(doc.title)
            expected.append(keyword_score(len(in_title), len(matcher.hits(doc.text) - in_title)))
        assert classifier._keyword_row(doc) == expected
    assert classifier._keyword_row(docs[1])[2] > 0.7  # Zürich in both, Kyiv through the Kelvin sign
    assert classifier._keyword_row(docs[2]) == [0.0, 0.0, 0.0, 0.0]
