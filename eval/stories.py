"""Story clustering quality: does ``newsdesk.enrich.cluster`` put the same story together, and only it?

Three checks, all through the product's own embedder factory (``load_embedder`` with the ``embed_model``
and ``embed_backend`` settings, so the figures follow whatever model the settings choose) and the real
``cluster.cluster`` over article vectors (title + lead plus the title apart, ``similarity.article_vectors``,
as enrichment embeds):

- **demo world** (``newsdesk/demo``): every article's story is known (``DemoArticle.story_key``; an
  article without a ``story`` is a story of its own). Syndicated copies are left out: near-duplicate
  folding removes them before clustering. Printed: B-cubed precision (**purity**: how much of an
  article's cluster is its own story) and B-cubed recall (**completeness**: how much of its story is in
  its cluster), averaged over articles (Bagga & Baldwin 1998; Amigó et al. 2009), then each wrong join
  and split, and each story's chosen lead.
- **BBC** (``../shared/data/bbc``): different articles, all given the same date, must not merge. Gold:
  identical texts (the set holds exact duplicates) are one story. Printed: B-cubed purity and the number of
  clusters that hold different texts.
- **SemEval-2022 Task 8** English pairs: each pair scored as an article against a one-article story
  (``cluster.score_story``); gold ``Overall`` ≤ 2 is the same story. Texts are embedded as enrichment
  embeds an article: the first ``EMBED_TEXT_CHARS`` (700) characters plus the headline apart
  (``eval.similarity.headline``).
  Printed: precision/recall/F1 at ``cluster.THRESHOLD``.

    .venv/bin/python eval/stories.py [--data ../shared/data] [--bbc N]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from eval.common import Doc, data_arg, embed_cached, load_bbc, load_semeval_english, minilm_tokens_arg
from eval.similarity import headline, window
from newsdesk.config import Settings, load_settings
from newsdesk.demo.world import DemoArticle, load_world
from newsdesk.enrich import cluster
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import BLEND_MINILM_TOKENS, EMBED_TEXT_CHARS, embedding_text, load_embedder
from newsdesk.enrich.similarity import article_names, article_vectors, calibration_for

DEMO_NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)  # any fixed time: demo dates are hours before it
BBC_DATE = datetime(2005, 1, 1, tzinfo=UTC)
BBC_PER_CLASS = 100  # 500 articles: the online clustering is quadratic, this keeps the run under a minute
SAME_STORY = 2.0  # SemEval Overall ≤ 2 ("very" or "somewhat similar") counts as the same story


@dataclass(frozen=True, slots=True)
class Clustering:
    """Purity and completeness (B-cubed precision and recall) of one clustering against its gold."""

    purity: float
    completeness: float
    predicted: tuple[int, ...]
    gold: tuple[Hashable, ...]


def bcubed(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> tuple[float, float]:
    """B-cubed (precision, recall): per item, the share of its cluster in its gold class and the share of
    its gold class in its cluster, averaged over items. (1.0, 1.0) for an empty input."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold labels")
    if not gold:
        return 1.0, 1.0
    both = Counter(zip(predicted, gold, strict=True))
    clusters, classes = Counter(predicted), Counter(gold)
    precision = sum(both[(p, g)] / clusters[p] for p, g in zip(predicted, gold, strict=True))
    recall = sum(both[(p, g)] / classes[g] for p, g in zip(predicted, gold, strict=True))
    return precision / len(gold), recall / len(gold)


def settings_embedder(settings: Settings, *, minilm_tokens: int = BLEND_MINILM_TOKENS) -> Embedder:
    """The embedder enrichment would use with ``settings`` (``minilm_tokens``: issue 14's sweep)."""
    return load_embedder(
        settings.embed_model,
        settings.embed_backend,
        cache_dir=settings.models_dir,
        minilm_tokens=minilm_tokens,
    )


def run_clustering(
    embedder: Embedder, docs: Sequence[tuple[str, str, datetime, str]], *, now: datetime
) -> tuple[int, ...]:
    """Cluster ``(title, text, published, provider domain)`` documents in the given order of ids; returns
    each document's story id."""
    leads = [embedding_text(title, text) for title, text, _, _ in docs]
    titles = [title for title, _, _, _ in docs]
    vectors = article_vectors(lambda texts: embed_cached(embedder, list(texts)), titles, leads)
    items = [
        cluster.StoryInput(
            i, vectors[i], when, title, domain, lead=text, names=article_names(f"{title}\n\n{text}")
        )
        for i, (title, text, when, domain) in enumerate(docs)
    ]
    calibration = calibration_for(embedder.name)  # these sets are English: no map applies
    assigned = dict(cluster.cluster(items, [], next_story_id=1, now=now, calibration=calibration).assignments)
    return tuple(assigned[i] for i in range(len(docs)))


def demo_articles(now: datetime = DEMO_NOW) -> list[DemoArticle]:
    """The demo articles clustering sees: every one but the syndicated copies (folded as near-duplicates)."""
    return [a for a in load_world(now).articles if a.syndicated_from is None]


def evaluate_demo(embedder: Embedder, now: datetime = DEMO_NOW) -> Clustering:
    articles = demo_articles(now)
    docs = [(a.title, a.body or a.description, a.published_at, a.provider_domain) for a in articles]
    predicted = run_clustering(embedder, docs, now=now)
    gold = tuple(a.story_key for a in articles)
    purity, completeness = bcubed(predicted, gold)
    return Clustering(purity, completeness, predicted, gold)


def bbc_docs(data: Path, per_class: int) -> list[Doc]:
    docs = load_bbc(data)
    return [
        d
        for label in sorted({x.label for x in docs})
        for d in [x for x in docs if x.label == label][:per_class]
    ]


def evaluate_bbc(embedder: Embedder, data: Path, per_class: int = BBC_PER_CLASS) -> Clustering:
    """BBC articles all dated the same day: only identical texts may share a story."""
    docs = bbc_docs(data, per_class)
    predicted = run_clustering(embedder, [(d.title, d.text, BBC_DATE, "") for d in docs], now=BBC_DATE)
    gold = tuple(" ".join(d.full.split()) for d in docs)
    purity, completeness = bcubed(predicted, gold)
    return Clustering(purity, completeness, predicted, gold)


def evaluate_semeval(embedder: Embedder, data: Path) -> tuple[float, float, float]:
    """(precision, recall, F1) of "same story" at ``cluster.THRESHOLD`` over the English SemEval pairs."""
    pairs = load_semeval_english(data)
    first, second = (
        article_vectors(
            lambda texts: embed_cached(embedder, list(texts)),
            [headline(t) for t in texts],
            [window(t, EMBED_TEXT_CHARS) for t in texts],
        )
        for texts in ([p.text1 for p in pairs], [p.text2 for p in pairs])
    )
    when = BBC_DATE
    calibration = calibration_for(embedder.name)  # English pairs: only its names weight applies
    predicted = []
    for pair, v1, v2 in zip(pairs, first, second, strict=True):
        one = cluster.StoryInput(1, v1, when, "", lead=pair.text1, names=article_names(pair.text1))
        story = cluster.new_story(1, one, now=when)
        item = cluster.StoryInput(2, v2, when, "", lead=pair.text2, names=article_names(pair.text2))
        decision = cluster.assign_story(item, [story], now=when, calibration=calibration)
        predicted.append(decision.story_id is not None)
    same = np.array([p.overall <= SAME_STORY for p in pairs])
    chosen = np.array(predicted)
    tp = int((chosen & same).sum())
    precision = tp / max(int(chosen.sum()), 1)
    recall = tp / max(int(same.sum()), 1)
    return precision, recall, 2 * precision * recall / (precision + recall) if tp else 0.0


def demo_leads(result: Clustering, now: datetime = DEMO_NOW) -> dict[int, DemoArticle]:
    """Each predicted story's lead article, as ``cluster.choose_lead`` picks it."""
    members: dict[int, list[DemoArticle]] = defaultdict(list)
    for article, story in zip(demo_articles(now), result.predicted, strict=True):
        members[story].append(article)
    return {
        story: group[cluster.choose_lead([_lead_input(a) for a in group])] for story, group in members.items()
    }


def _lead_input(article: DemoArticle) -> cluster.LeadCandidate:
    return cluster.LeadCandidate(article.category, article.type, article.word_count, article.published_at)


def print_demo(result: Clustering, now: datetime = DEMO_NOW) -> None:
    articles = demo_articles(now)
    stories = len(set(result.predicted))
    print(f"demo world: {len(articles)} articles, {len(set(result.gold))} true stories, {stories} found")
    print(
        f"  purity (B-cubed precision) {result.purity:.3f}"
        f"  completeness (B-cubed recall) {result.completeness:.3f}"
    )
    by_story: dict[int, list[DemoArticle]] = defaultdict(list)
    for article, story in zip(articles, result.predicted, strict=True):
        by_story[story].append(article)
    for story, group in by_story.items():
        keys = {a.story_key for a in group}
        if len(keys) > 1:
            print(f"  merged in story {story}: " + ", ".join(f"{a.id} ({a.story_key})" for a in group))
    for key in sorted({a.story for a in articles if a.story}):
        found = {s for a, s in zip(articles, result.predicted, strict=True) if a.story == key}
        if len(found) > 1:
            print(f"  split: {key} over stories {sorted(found)}")
    for story, lead in sorted(demo_leads(result, now).items()):
        if len(by_story[story]) > 1:
            print(f"  lead of story {story} ({len(by_story[story])} articles): {lead.id} [{lead.category}]")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data_arg(parser)
    parser.add_argument("--bbc", type=int, default=BBC_PER_CLASS, help="BBC articles per class (0: skip)")
    minilm_tokens_arg(parser)
    args = parser.parse_args(argv)
    embedder = settings_embedder(load_settings(), minilm_tokens=args.minilm_tokens)
    print(f"embedder: {embedder.name}; threshold {cluster.THRESHOLD}")
    print_demo(evaluate_demo(embedder))
    if args.bbc:
        bbc = evaluate_bbc(embedder, args.data, args.bbc)
        mixed = sum(
            1
            for s in set(bbc.predicted)
            if len({g for p, g in zip(bbc.predicted, bbc.gold, strict=True) if p == s}) > 1
        )
        print(
            f"BBC: {len(bbc.gold)} articles, purity {bbc.purity:.3f}, completeness {bbc.completeness:.3f}, "
            f"{mixed} stories mixing different texts"
        )
    precision, recall, f1 = evaluate_semeval(embedder, args.data)
    print(f"SemEval same-story pairs: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}")


if __name__ == "__main__":
    main()
