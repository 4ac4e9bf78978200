"""Topic classification over a hierarchical taxonomy, from three signals.

* **zero-shot** — cosine between the article vector and each topic's vector (its name, description and
  keywords, and its terms one by one: :func:`embed_topics`). Works with no training data at all.
* **keywords** — the topic's keywords matched on word boundaries in the title (weighted more) and text.
  Keywords written in capitals (``AI``, ``IPO``) match only in capitals, so "ai" inside a name does not.
* **supervised** — trained from labelled examples (editor corrections, imported sets): logistic
  regressions on the article vector and TF-IDF features, mixed with a vote of the nearest examples
  (:mod:`newsdesk.enrich.supervised`).

A topic is assigned when a signal passes its threshold; the signal that decided is recorded in the
:class:`~newsdesk.model.TopicScore`, checked in the order supervised → keywords → zero-shot (the more
evidence a signal has, the earlier). Zero-shot only speaks for topics the supervised model does not
cover. When no topic passes its threshold but the supervised model's best topic scores at least
:data:`BEST_GUESS_FLOOR`, that one topic is kept with the signal ``best-guess`` (the score says how
sure): an article should say something. At most :data:`MAX_TOPICS` topics are picked per article; their ancestors are then added
(signal ``ancestor``) and the list runs most specific first. An article without text is classified from
its title (keywords on the title; the caller embeds the title).

Everything here is pure: vectors come in as arrays, the taxonomy and model as values.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from newsdesk.enrich.base import Vectors, unit_rows
from newsdesk.enrich.supervised import (
    MAX_TEXT_CHARS,
    SUPERVISED_THRESHOLD,
    LabelledExample,
    SupervisedModel,
    TopicInput,
    train_supervised,
)
from newsdesk.errors import EnrichmentError
from newsdesk.model import Taxonomy, Topic, TopicScore

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float64]

ZERO_SHOT_MIN = 0.15
"""Lowest cosine at which zero-shot assigns a topic. AG News (eval/topics.py data, description vectors):
correct-class cosines have a median of 0.16, wrong-class ones 0.04; at ≥ 0.15 zero-shot speaks for 60%
of articles at 0.83 precision (0.25: 18% at 0.85). With refined topic vectors: 93% at 0.86."""

ZERO_SHOT_MARGIN = 0.03
"""Zero-shot also needs the topic within this much of the article's best topic: a second topic only
when the article is nearly as close to it (multi-label), not every topic above the floor. Judgement:
a quarter of the typical gap between right and wrong topics (0.16 vs 0.04 above)."""

KEYWORD_THRESHOLD = 0.7
TITLE_WEIGHT = 2.0
TEXT_WEIGHT = 1.0
KEYWORD_SCALE = 2.0
"""Keyword score ``1 - exp(-(2 x distinct title hits + distinct text hits) / 2)``; 0.7 needs one title
hit and one text hit, or three distinct keywords in the text. Set by judgement: no labelled finance/tech
set lies in ../shared/data to tune it on."""

MAX_TOPICS = 3
"""Most topics picked per article before ancestors are added: records list a few, not a tag cloud."""

REFINE_SHARE = 0.5
REFINE_MIX = 0.5
"""Self-training of topic vectors (:func:`refine_topic_vectors`). AG News zero-shot accuracy 0.791 →
0.843 with (0.5, 0.5) on description vectors (0.815 → 0.847 on the ensemble of :func:`embed_topics`);
every setting tried (share 0.1-1.0, mix 0-0.5, 1-2 rounds) gave 0.80-0.85, and
refining on a random half lifts the other half from 0.800 to 0.845; BBC 0.911 → 0.937 (eval/topics.py)."""

BEST_GUESS_FLOOR = 0.25
"""Lowest supervised probability at which the best topic is kept when no topic passes its threshold.
eval/topics.py --multi-label (AG News: 3,000 items with one topic and 1,500 with two, 5-fold): without a
best guess 3.0% of articles get no topic (micro-F1 0.8685); with the floor at 0.25, 0.8% (micro-F1
0.8712, the best of the sweep, tied with 0.30) and the guesses hold a right topic 59% of the time. 0.10
leaves 0.02% empty at the same F1 but guesses at 54%; 0.40 guesses right 74% and leaves 2.1% empty."""

SIGNALS = ("supervised", "keywords", "zero-shot", "best-guess")


# --- taxonomy (loaded and validated by newsdesk.config.load_taxonomy) ---------------------------


def topic_texts(taxonomy: Taxonomy) -> list[str]:
    """The text to embed for each topic (taxonomy order) for zero-shot."""
    return [topic_text(topic) for topic in taxonomy.topics]


def embed_topics(taxonomy: Taxonomy, embed: Callable[[list[str]], Vectors]) -> Vectors:
    """Zero-shot topic vectors (taxonomy order), each an equal mix of two views of the topic: its whole
    text (:func:`topic_text`) and the mean of its terms embedded one by one (:func:`topic_terms`).

    A sentence vector of a long description blurs its parts; single terms sit closer to news that uses
    them. The ensemble lifted zero-shot accuracy on AG News from 0.791 to 0.815 and on BBC from 0.911 to
    0.925 (eval/topics.py; equal weights, not tuned: 0.3 and 0.7 gave 0.810 and 0.813 on AG News).
    ``embed`` is called once, on all texts and terms together."""
    texts = topic_texts(taxonomy)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    terms = [topic_terms(topic) for topic in taxonomy.topics]
    vectors = unit_rows(embed(texts + [term for group in terms for term in group]))
    wholes, start, out = vectors[: len(texts)], len(texts), []
    for whole, group in zip(wholes, terms, strict=True):
        parts = vectors[start : start + len(group)]
        start += len(group)
        out.append(whole if not group else (whole + unit_rows(parts.mean(axis=0, keepdims=True))[0]) / 2)
    return unit_rows(np.asarray(out, dtype=np.float32))


def topic_terms(topic: Topic) -> list[str]:
    """The topic's keywords; without keywords, the listed phrases of its description ("Sports news:
    games, matches, teams" → games, matches, teams)."""
    if topic.keywords:
        return list(topic.keywords)
    listed = (topic.description or "").partition(":")[2] or ""
    return [term for part in _LIST_SPLIT.split(listed) if (term := part.strip(" .;"))]


_LIST_SPLIT = re.compile(r",|;|\band\b|\bor\b")


def topic_text(topic: Topic) -> str:
    """The description and keywords; the bare name only when there is no description. A leading name
    ("World.") pulls every vector towards generic headline space: on AG News, zero-shot accuracy
    is 0.749 with it and 0.791 without (eval/topics.py)."""
    keywords = f" Keywords: {', '.join(topic.keywords)}." if topic.keywords else ""
    return f"{topic.description or topic.name}{keywords}".strip()


def refine_topic_vectors(
    topic_vectors: Vectors, article_vectors: Vectors, *, share: float = REFINE_SHARE, mix: float = REFINE_MIX
) -> Vectors:
    """Adapt topic vectors to the articles actually seen, without labels (one self-training step).

    Each article goes to its closest topic; for every topic, the ``share`` of its articles with the
    clearest margin over the runner-up are averaged, and the new topic vector is ``mix`` × the old one
    plus ``1 - mix`` × that mean, re-normalised. Description vectors sit in "definition" space, articles
    in "news" space; this moves each topic to where its articles are. Topics that win no article keep
    their vector. Feed it a sample of recent stored vectors (thousands), not one batch of ten.
    """
    if len(topic_vectors) < 2 or len(article_vectors) == 0:
        return np.asarray(topic_vectors, dtype=np.float32)
    scores = np.asarray(article_vectors, dtype=np.float64) @ np.asarray(topic_vectors, dtype=np.float64).T
    best = scores.argmax(axis=1)
    ranked = np.sort(scores, axis=1)
    margin = ranked[:, -1] - ranked[:, -2]
    refined = [
        _refined(j, topic_vectors, article_vectors, best, margin, share, mix)
        for j in range(len(topic_vectors))
    ]
    return np.asarray(refined, dtype=np.float32)


def _refined(
    j: int, topic_vectors: Vectors, articles: Vectors, best: Any, margin: Any, share: float, mix: float
) -> Any:
    members = np.flatnonzero(best == j)
    if members.size == 0:
        return topic_vectors[j]
    clearest = members[np.argsort(-margin[members], kind="stable")][: max(1, int(members.size * share))]
    centre = articles[clearest].astype(np.float64).mean(axis=0)
    vector = mix * topic_vectors[j] + (1.0 - mix) * centre / max(float(np.linalg.norm(centre)), 1e-12)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


# --- keywords -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _KeywordMatcher:
    folded: re.Pattern[str] | None  # keywords matched case-insensitively
    exact: re.Pattern[str] | None  # keywords in capitals, matched as written

    def hits(self, text: str) -> set[str]:
        found: set[str] = set()
        if self.folded is not None:
            found.update(m.group(0).casefold() for m in self.folded.finditer(text))
        if self.exact is not None:
            found.update(m.group(0) for m in self.exact.finditer(text))
        return found


def _pattern(words: Sequence[str], flags: int) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags)


def _matcher(topic: Topic) -> _KeywordMatcher:
    exact = [k for k in topic.keywords if k.isupper()]
    folded = [k for k in topic.keywords if not k.isupper()]
    return _KeywordMatcher(_pattern(folded, re.IGNORECASE), _pattern(exact, 0))


_WORD = re.compile(r"\w+")


class _TopicFilter:
    """Which topics' keywords can match a text at all, from one pass over its words, so the per-topic
    matchers run only for those (they were 8% of a run's CPU, issue 14: 22 topics × 4 scans of every
    article). A keyword matches only where its first word (``\\w`` run) is a whole word of the text, so
    a topic none of whose first words occur is skipped: the hits are exactly the per-topic ones.

    A word is looked up in lower case only when it and the keyword are ASCII (there ``re.IGNORECASE``
    equals comparing lower case); keywords with other letters, or with no word at all, are always
    checked, and a non-ASCII word that case-folds onto an ASCII keyword (the Kelvin sign, a long s)
    makes every topic a candidate."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.folded: dict[str, set[int]] = {}
        self.exact: dict[str, set[int]] = {}
        self.always: set[int] = set()
        ascii_folded = []
        for j, topic in enumerate(topics):
            for keyword in topic.keywords:
                first = _WORD.search(keyword)
                if first is None or not first.group(0).isascii():
                    self.always.add(j)
                elif keyword.isupper():
                    self.exact.setdefault(first.group(0), set()).add(j)
                else:
                    self.folded.setdefault(first.group(0).lower(), set()).add(j)
                    ascii_folded.append(first.group(0))
        self._all = set(range(len(topics)))
        self._exotic = _pattern(ascii_folded, re.IGNORECASE)

    def candidates(self, *texts: str) -> set[int]:
        found = set(self.always)
        for word in {w for text in texts for w in _WORD.findall(text)}:
            found.update(self.exact.get(word, ()))
            if word.isascii():
                found.update(self.folded.get(word.lower(), ()))
            elif self._exotic is not None and self._exotic.fullmatch(word):
                return self._all
        return found


def keyword_score(title_hits: int, text_hits: int) -> float:
    """``1 - exp(-(TITLE_WEIGHT·title + TEXT_WEIGHT·text) / KEYWORD_SCALE)``: 0 without hits, → 1."""
    weighted = TITLE_WEIGHT * title_hits + TEXT_WEIGHT * text_hits
    return 1.0 - math.exp(-weighted / KEYWORD_SCALE)


# --- the classifier -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicPolicy:
    """Thresholds; ``topic_thresholds`` overrides the supervised model's threshold for named topics;
    ``best_guess_floor`` above 1 turns the best guess off."""

    zero_shot_min: float = ZERO_SHOT_MIN
    zero_shot_margin: float = ZERO_SHOT_MARGIN
    keyword_threshold: float = KEYWORD_THRESHOLD
    topic_thresholds: Mapping[str, float] = field(default_factory=dict)
    max_topics: int = MAX_TOPICS
    best_guess_floor: float = BEST_GUESS_FLOOR


@dataclass(frozen=True, slots=True)
class SignalScores:
    """Each signal's (n, topics) scores in taxonomy order; ``supervised`` is NaN where the model does
    not cover a topic (or everywhere without a model)."""

    zero_shot: Matrix
    keywords: Matrix
    supervised: Matrix


class TopicClassifier:
    """Assigns taxonomy topics to batches of articles. Immutable: :meth:`train` returns a new one."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        topic_vectors: Vectors,
        *,
        model: SupervisedModel | None = None,
        policy: TopicPolicy | None = None,
    ) -> None:
        if topic_vectors.shape[0] != len(taxonomy.topics):
            raise EnrichmentError(f"{topic_vectors.shape[0]} topic vectors for {len(taxonomy.topics)} topics")
        self.taxonomy = taxonomy
        self.topic_vectors = np.asarray(topic_vectors, dtype=np.float32)
        self.model = model
        self.policy = policy or TopicPolicy()
        self._names = [t.name for t in taxonomy.topics]
        self._matchers = [_matcher(t) for t in taxonomy.topics]
        self._filter = _TopicFilter(taxonomy.topics)

    def train(self, examples: Sequence[LabelledExample], *, use_tfidf: bool = True) -> TopicClassifier:
        """A classifier with a supervised model fitted on ``examples`` (unknown topics are an error)."""
        unknown = sorted({t for e in examples for t in e.topics} - set(self._names))
        if unknown:
            raise EnrichmentError(f"examples name topics not in the taxonomy: {', '.join(unknown)}")
        model = train_supervised(examples, use_tfidf=use_tfidf)
        return TopicClassifier(self.taxonomy, self.topic_vectors, model=model, policy=self.policy)

    def signal_scores(self, docs: Sequence[TopicInput], vectors: Vectors) -> SignalScores:
        """Every signal's score for every article and topic (what :meth:`classify` decides from)."""
        if len(docs) != vectors.shape[0]:
            raise EnrichmentError(f"{len(docs)} articles but {vectors.shape[0]} vectors")
        zero_shot = np.asarray(vectors, dtype=np.float64) @ self.topic_vectors.T.astype(np.float64)
        keywords = np.array([self._keyword_row(d) for d in docs]).reshape(len(docs), len(self._names))
        return SignalScores(zero_shot, keywords, self._supervised(docs, vectors))

    def _keyword_row(self, doc: TopicInput) -> list[float]:
        title, text = doc.title, doc.text[:MAX_TEXT_CHARS]
        row = [0.0] * len(self._matchers)
        for j in self._filter.candidates(title, text):
            in_title = self._matchers[j].hits(title)
            row[j] = keyword_score(len(in_title), len(self._matchers[j].hits(text) - in_title))
        return row

    def _supervised(self, docs: Sequence[TopicInput], vectors: Vectors) -> Matrix:
        out = np.full((len(docs), len(self._names)), np.nan)
        if self.model is None or not docs:
            return out
        probabilities = self.model.probabilities(docs, vectors)
        for j, name in enumerate(self.model.topics):
            out[:, self._names.index(name)] = probabilities[:, j]
        return out

    def classify(self, docs: Sequence[TopicInput], vectors: Vectors) -> list[tuple[TopicScore, ...]]:
        """Topics for each article, most specific first, ancestors included (see the module docstring).
        ``vectors[i]`` is the unit embedding of ``docs[i]`` (of its title when it has no text)."""
        if not docs:
            return []
        scores = self.signal_scores(docs, vectors)
        return [self._decide(scores, i) for i in range(len(docs))]

    def _decide(self, scores: SignalScores, i: int) -> tuple[TopicScore, ...]:
        picked: list[TopicScore] = []
        best_zero_shot = float(scores.zero_shot[i].max()) if scores.zero_shot.shape[1] else 0.0
        for j, name in enumerate(self._names):
            decided = self._decide_topic(
                name, scores.supervised[i, j], scores.keywords[i, j], scores.zero_shot[i, j], best_zero_shot
            )
            if decided is not None:
                picked.append(decided)
        if not picked:
            picked = self._best_guess(scores.supervised[i])
        picked.sort(key=lambda ts: (SIGNALS.index(ts.signal), -ts.score, ts.name))
        return self._with_ancestors(picked[: self.policy.max_topics])

    def _decide_topic(
        self, name: str, supervised: float, keywords: float, zero_shot: float, best_zero_shot: float
    ) -> TopicScore | None:
        policy = self.policy
        if not math.isnan(supervised) and supervised >= self._threshold(name):
            return TopicScore(name, round(float(supervised), 4), "supervised")
        if keywords >= policy.keyword_threshold:
            return TopicScore(name, round(float(keywords), 4), "keywords")
        close = zero_shot >= policy.zero_shot_min and zero_shot >= best_zero_shot - policy.zero_shot_margin
        if math.isnan(supervised) and close:
            return TopicScore(name, round(float(zero_shot), 4), "zero-shot")
        return None

    def _best_guess(self, supervised: Matrix) -> list[TopicScore]:
        """The supervised model's best topic when it is at least ``best_guess_floor`` (else nothing).
        A topic whose threshold is set above 1 is switched off and never guessed."""
        allowed = np.array([self._threshold(name) <= 1.0 for name in self._names])
        candidates = np.where(allowed, supervised, np.nan)
        if np.isnan(candidates).all():
            return []
        j = int(np.nanargmax(candidates))
        if candidates[j] < self.policy.best_guess_floor:
            return []
        return [TopicScore(self._names[j], round(float(candidates[j]), 4), "best-guess")]

    def _threshold(self, name: str) -> float:
        if name in self.policy.topic_thresholds:
            return self.policy.topic_thresholds[name]
        if self.model is not None and name in self.model.topics:
            return float(self.model.thresholds[self.model.topics.index(name)])
        return SUPERVISED_THRESHOLD

    def _with_ancestors(self, picked: Sequence[TopicScore]) -> tuple[TopicScore, ...]:
        by_name = {ts.name: ts for ts in picked}
        ordered = self.taxonomy.with_ancestors([ts.name for ts in picked])
        out = []
        for name in ordered:
            if name in by_name:
                out.append(by_name[name])
            else:
                below = [ts.score for ts in picked if name in self.taxonomy.ancestors(ts.name)]
                out.append(TopicScore(name, max(below, default=0.0), "ancestor"))
        return tuple(out)
