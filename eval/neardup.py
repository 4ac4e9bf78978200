"""Pair-level evaluations: near-duplicate copies (newsdesk.enrich.dedupe) and same-story pairs
(newsdesk.enrich.cluster).

Near-duplicates: BBC plus lightly edited copies.

Ground truth: the BBC set (2,225 articles) holds about 100 exact-duplicate pairs; to them we add, for every
article, copies edited the way syndication edits them (a new intro sentence, a dropped paragraph, typos,
a new headline, and all of those at once). Articles that are the same text, and every copy of them, form
a group; a pair is a true near-duplicate pair when both sides are in the same group. Printed: for each
shingle size, pair-level precision/recall/F1 over a threshold sweep, then the real index
(``NearDuplicateIndex``, LSH + check) at the shipped threshold.

Quoting is not copying (``--quotes``): the same items plus, for every BBC article, a reply or commentary
that quotes part of it (a run of its paragraphs, QUOTE_SHARE of them) beside substantial text of its own
(OWN_RATIO × the quoted words, taken from AG News items, which no BBC text shares). Four styles:
top-posted mail (own text, "On … wrote:", ``>`` lines), inline mail (``>`` paragraphs answered one by
one), a commentary that quotes the passage verbatim between its own paragraphs, and a blog post that
opens with the passage. Every pair with a reply is a false pair; the copies stay the true ones.

Where the shared words sit (``--quotes``): every candidate pair (Jaccard ≥ THRESHOLD, estimated
containment ≥ CONTAINMENT_FLOOR) scored by ``dedupe.own_share``, the share of the later text in runs of
its own; the threshold is fitted on the pairs of half the articles and scored on the other half.

Same story (``--stories``): the 161 English-English pairs of SemEval-2022 Task 8, gold ``Overall`` ≤ 2
counted as the same story. Each pair is scored the way clustering scores an article against a one-article
story (``cluster.score_story``; the pairs carry no dates, so the time penalty is 0); printed: precision,
recall, F1 and accuracy over a threshold sweep, with and without the shared-terms signal, and Pearson
correlation with the gold score (negated: 1 is most similar). Needs the embedder (vectors are cached).

    .venv/bin/python eval/neardup.py [--data ../shared/data] [--shingles 2 3 4 5] [--limit N] [--stories]
        [--quotes]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from datasketch import MinHash, MinHashLSH

from eval.common import (
    Doc,
    data_arg,
    embed_cached,
    load_ag_news,
    load_bbc,
    load_default_embedder,
    load_semeval_english,
)
from newsdesk.enrich import cluster, dedupe

EDITS = ("intro", "drop", "typos", "headline", "all")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'])\s+")
DROP_SHARE = 0.25  # a "light" edit removes at most a quarter of the article
TYPO_RATE = 0.03  # share of words given a typo: a sloppy re-type, well above what copy-editing leaves
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
LINK_WORDS = 12  # a shared verbatim sentence this long means copied text, not a shared quote
CANDIDATE_FLOOR = 0.15
SAME_STORY = 2.0  # SemEval Overall ≤ 2 ("very" or "somewhat similar") counts as the same story
STORY_SWEEP = (
    0.45,
    0.5,
    0.52,
    0.54,
    0.56,
    0.58,
    0.6,
    0.65,
    0.7,
)  # LSH threshold for collecting sweep candidates: well under the sweep's low end


REPLY_STYLES = ("mail", "inline", "commentary", "blog")
QUOTE_SHARE = (0.3, 1.0)  # share of the article's paragraphs a reply quotes (one contiguous run)
OWN_RATIO = (0.5, 2.0)  # own words per quoted word: "substantial own text", from a third to two thirds
CONTAINMENT_SWEEP = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


@dataclass(frozen=True, slots=True)
class Item:
    group: int
    kind: str  # "original" or an edit name
    text: str


def sentences(text: str) -> list[str]:
    """Sentences of one paragraph: split after . ! ? (and a closing quote)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def edit_intro(doc: Doc, other: Doc, rng: random.Random) -> Doc:
    """Replace the first sentence with one from another article (paragraphs kept)."""
    paras = paragraphs(doc.text)
    first, *rest = sentences(paras[0]) or [""]
    donor = [s for p in paragraphs(other.text) for s in sentences(p)] or [first]
    paras[0] = " ".join([rng.choice(donor), *rest])
    return Doc(doc.label, doc.title, "\n\n".join(paras))


def edit_drop(doc: Doc, rng: random.Random) -> Doc:
    """Drop one short paragraph (at most DROP_SHARE of the words); without one, the last sentence if it
    is that short; else the text stays as it is (a light edit never removes more)."""
    paras = paragraphs(doc.text)
    total = sum(len(p.split()) for p in paras)
    short = [i for i, p in enumerate(paras) if len(paras) > 1 and len(p.split()) <= total * DROP_SHARE]
    if short:
        del paras[rng.choice(short)]
        return Doc(doc.label, doc.title, "\n\n".join(paras))
    last = sentences(paras[-1]) if paras else []
    if len(last) > 1 and len(last[-1].split()) <= total * DROP_SHARE:
        paras[-1] = " ".join(last[:-1])
    return Doc(doc.label, doc.title, "\n\n".join(paras))


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word + word[-1:]
    i = rng.randrange(len(word) - 1)
    return [
        word[:i] + word[i + 1] + word[i] + word[i + 2 :],
        word[:i] + word[i + 1 :],
        word[:i] + word[i] + word[i:],
    ][rng.randrange(3)]


def edit_typos(doc: Doc, rng: random.Random) -> Doc:
    """Put a typo into TYPO_RATE of the words (at least one)."""
    words = doc.text.split(" ")
    picks = rng.sample(range(len(words)), max(1, int(len(words) * TYPO_RATE)))
    for i in picks:
        words[i] = typo(words[i], rng)
    return Doc(doc.label, doc.title, " ".join(words))


def edit_headline(doc: Doc, other: Doc) -> Doc:
    return Doc(doc.label, other.title, doc.text)


def make_edit(kind: str, doc: Doc, other: Doc, rng: random.Random) -> Doc:
    if kind == "intro":
        return edit_intro(doc, other, rng)
    if kind == "drop":
        return edit_drop(doc, rng)
    if kind == "typos":
        return edit_typos(doc, rng)
    if kind == "headline":
        return edit_headline(doc, other)
    return edit_typos(edit_drop(edit_intro(edit_headline(doc, other), other, rng), rng), rng)


def build_items(docs: Sequence[Doc], *, seed: int = 8) -> list[Item]:
    """Originals grouped by identical normalised body (BBC's duplicates differ at most in the headline),
    plus every edit of each original."""
    rng = random.Random(seed)
    groups: dict[str, int] = {}
    items: list[Item] = []
    for doc in docs:
        group = groups.setdefault(dedupe.normalise(doc.text), len(groups))
        items.append(Item(group, "original", f"{doc.title}\n\n{doc.text}"))
    for doc, item in zip(docs, list(items), strict=True):
        for kind in EDITS:
            other = docs[rng.randrange(len(docs))]
            copy = make_edit(kind, doc, other, rng)
            items.append(Item(item.group, kind, f"{copy.title}\n\n{copy.text}"))
    return items


def own_words(pool: Sequence[Doc], count: int, rng: random.Random) -> list[str]:
    """Paragraphs of "own" prose totalling at least ``count`` words: AG News items, a few per paragraph."""
    paras: list[str] = []
    total = 0
    while total < count:
        para = " ".join(pool[rng.randrange(len(pool))].text for _ in range(3))
        paras.append(para)
        total += len(para.split())
    return paras


def make_reply(doc: Doc, style: str, pool: Sequence[Doc], rng: random.Random) -> str:
    """A reply to or commentary on ``doc``: it quotes a run of its paragraphs and adds its own text."""
    paras = paragraphs(doc.text)
    take = max(1, round(len(paras) * rng.uniform(*QUOTE_SHARE)))
    start = rng.randrange(len(paras) - take + 1)
    quoted = paras[start : start + take]
    ratio = rng.uniform(*OWN_RATIO)
    own = own_words(pool, int(ratio * sum(len(p.split()) for p in quoted)), rng)
    title = f"Re: {doc.title}" if style in ("mail", "inline") else own[0].split(".")[0]
    if style == "mail":
        marked = [f"> {p}\n>" for p in quoted]
        body = [*own, "On Tue, 4 May 2004 at 10:12, BBC News <news@bbc.example> wrote:", *marked]
    elif style == "inline":
        body = [line for pair in zip(quoted, _spread(own, len(quoted)), strict=True)
                for line in (f"> {pair[0]}", pair[1])]  # fmt: skip
    elif style == "commentary":
        half = max(1, len(own) // 2)
        body = [*own[:half], *(f'"{p}"' for p in quoted), *own[half:]]
    else:
        body = [*quoted, *own]
    return "\n\n".join([title, *body])


def _spread(own: list[str], parts: int) -> list[str]:
    """``own`` paragraphs dealt into ``parts`` answers (one per quoted paragraph)."""
    out = [""] * parts
    for i, para in enumerate(own):
        out[i * parts // len(own)] += para + " "
    return [o.strip() for o in out]


def add_replies(items: list[Item], docs: Sequence[Doc], pool: Sequence[Doc], *, seed: int = 15) -> list[Item]:
    """``items`` plus one reply per original (styles in turn), each a group of its own."""
    rng = random.Random(seed)
    groups = max(item.group for item in items) + 1
    replies = [
        Item(groups + i, f"reply:{REPLY_STYLES[i % len(REPLY_STYLES)]}",
             make_reply(doc, REPLY_STYLES[i % len(REPLY_STYLES)], pool, rng))
        for i, doc in enumerate(docs)
    ]  # fmt: skip
    return [*items, *replies]


def linked_groups(items: Sequence[Item]) -> set[tuple[int, int]]:
    """Pairs of distinct BBC texts that share a verbatim sentence of LINK_WORDS+ words: BBC's own rewrites
    and updates of one story. The data set does not label them, so they are scored neither way."""
    owners: dict[str, set[int]] = {}
    for item in items:
        if item.kind == "original":
            for sentence in sentences(item.text):
                norm = dedupe.normalise(sentence)
                if len(norm.split()) >= LINK_WORDS:
                    owners.setdefault(norm, set()).add(item.group)
    return {pair for groups in owners.values() for pair in combinations(sorted(groups), 2)}


def true_pairs(
    items: Sequence[Item],
) -> tuple[set[tuple[int, int]], set[tuple[int, int]], set[tuple[int, int]]]:
    """(pairs to find, copy-copy pairs, pairs across linked groups); the last two are not scored. A copy must be matched to an original (that is what dedupe does:
    point the copy at the earliest article); two edits of one original may differ more than either
    differs from it, so copy-copy pairs count neither as hits nor as false alarms; nor do pairs across
    :func:`linked_groups`."""
    by_group: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_group.setdefault(item.group, []).append(i)
    pairs = {pair for members in by_group.values() for pair in combinations(members, 2)}
    copies = {(a, b) for a, b in pairs if items[a].kind != "original" and items[b].kind != "original"}
    linked = {
        (min(a, b), max(a, b)) for g1, g2 in linked_groups(items) for a in by_group[g1] for b in by_group[g2]
    }
    return pairs - copies, copies, linked - copies


def candidate_scores(
    sigs: Sequence[dedupe.Signature], truth: set[tuple[int, int]]
) -> dict[tuple[int, int], float]:
    """Estimated Jaccard for every true pair and every LSH candidate pair above CANDIDATE_FLOOR."""
    lsh = MinHashLSH(threshold=CANDIDATE_FLOOR, num_perm=dedupe.NUM_PERM)
    hashes = [
        MinHash(seed=dedupe.SEED, scheme=dedupe.SCHEME, hashvalues=dedupe.hashes(s)) if s.size else None
        for s in sigs
    ]
    scores = {pair: dedupe.jaccard(sigs[pair[0]], sigs[pair[1]]) for pair in truth}
    for i, minhash in enumerate(hashes):
        if minhash is None:
            continue
        for j in lsh.query(minhash):
            scores.setdefault((min(i, j), max(i, j)), dedupe.jaccard(sigs[i], sigs[j]))
        lsh.insert(i, minhash)
    return scores


def prf(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def sweep(items: Sequence[Item], shingle: int) -> list[dedupe.Signature]:
    start = time.perf_counter()
    sigs = [dedupe.signature(item.text, shingle=shingle) for item in items]
    elapsed = time.perf_counter() - start
    truth, copies, linked = true_pairs(items)
    scores = {p: s for p, s in candidate_scores(sigs, truth).items() if p not in copies}
    print(
        f"\nshingle={shingle}: {len(items)} texts, {len(truth)} true pairs, {len(items) / elapsed:.0f} signatures/s"
    )
    worst = min(scores[p] for p in truth)
    best_false = max((s for p, s in scores.items() if p not in truth and p not in linked), default=0.0)
    print(f"  lowest true-pair J {worst:.3f}   highest other-pair J {best_false:.3f}")
    print(f"  pairs across BBC rewrites of one story (not scored): {len(linked)}")
    print("  threshold  precision  recall  F1      false+  missed  rewrite-pairs  strict-precision")
    for t in SWEEP:
        predicted = {p for p, s in scores.items() if s >= t}
        p, r, f = prf(predicted - linked, truth)
        strict = prf(predicted, truth)[0]
        print(
            f"  {t:9.2f}  {p:9.4f}  {r:6.4f}  {f:.4f}  {len(predicted - truth - linked):6d}  "
            f"{len(truth - predicted):6d}  {len(predicted & linked):13d}  {strict:16.4f}"
        )
    return sigs


def index_pairs(sigs: Sequence[dedupe.Signature], threshold: float) -> set[tuple[int, int]]:
    """Pairs the shipped index reports: each text queried against those indexed before it."""
    index = dedupe.NearDuplicateIndex(threshold=threshold)
    found: set[tuple[int, int]] = set()
    for i, sig in enumerate(sigs):
        found.update((min(i, j), max(i, j)) for j, _ in index.query(sig))
        index.add(i, sig)
    return found


def evaluate_index(
    items: Sequence[Item], sigs: Sequence[dedupe.Signature], threshold: float
) -> tuple[float, float]:
    truth, copies, linked = true_pairs(items)
    p, r, _ = prf(index_pairs(sigs, threshold) - copies - linked, truth)
    return p, r


def quote_sweep(items: Sequence[Item], sigs: Sequence[dedupe.Signature]) -> None:
    """Precision and recall over Jaccard ≥ THRESHOLD plus a sweep of the share of the newer text found
    in the earlier one (pairs are (earlier, later) in item order, as the index sees them)."""
    truth, copies, linked = true_pairs(items)
    scores = {p: s for p, s in candidate_scores(sigs, truth).items() if p not in copies and p not in linked}
    passing = {p for p, s in scores.items() if s >= dedupe.THRESHOLD}
    inside = {(a, b): dedupe.containment(sigs[b], sigs[a])[0] for a, b in passing}
    replies = sum(item.kind.startswith("reply") for item in items)
    lowest = min(inside.get(p, 0.0) for p in truth)
    print(f"\nquotes: {replies} replies quoting an article; lowest true-pair containment {lowest:.3f}")
    print("  containment  precision  recall  F1      false+ (with a reply)  missed")
    for t in CONTAINMENT_SWEEP:
        predicted = {p for p, c in inside.items() if c >= t}
        p, r, f = prf(predicted, truth)
        wrong = predicted - truth
        with_reply = sum(items[b].kind.startswith("reply") for _, b in wrong)
        mark = "  <- dedupe.CONTAINMENT_THRESHOLD" if abs(t - dedupe.CONTAINMENT_THRESHOLD) < 1e-9 else ""
        print(f"  {t:11.2f}  {p:9.4f}  {r:6.4f}  {f:.4f}  {len(wrong):6d} ({with_reply:6d})  "
              f"{len(truth - predicted):6d}{mark}")  # fmt: skip


def own_shares(
    items: Sequence[Item], sigs: Sequence[dedupe.Signature]
) -> tuple[dict[tuple[int, int], float], set[tuple[int, int]]]:
    """:func:`dedupe.own_share` of the later text against the earlier one, for every scored pair the
    index would hand to the check (Jaccard ≥ THRESHOLD, estimated containment ≥ CONTAINMENT_FLOOR),
    and the true pairs."""
    truth, copies, linked = true_pairs(items)
    scores = {p: s for p, s in candidate_scores(sigs, truth).items() if p not in copies and p not in linked}
    shares = {
        (a, b): dedupe.own_share(items[b].text, items[a].text)
        for (a, b), s in scores.items()
        if s >= dedupe.THRESHOLD and dedupe.containment(sigs[b], sigs[a])[0] >= dedupe.CONTAINMENT_FLOOR
    }
    return shares, truth


def position_fit(items: Sequence[Item], sigs: Sequence[dedupe.Signature]) -> None:
    """Where the shared words sit (``dedupe.is_copy``): the own-share threshold fitted on the pairs of
    half the BBC articles (even or odd group of the earlier text; a reply's pair belongs to the article it
    quotes), scored on the other half; then the shipped threshold on all pairs, and how many pairs sit
    near it."""
    shares, truth = own_shares(items, sigs)
    true_max = max(shares.get(p, 1.0) for p in truth)
    false_min = min((v for p, v in shares.items() if p not in truth), default=1.0)
    print(f"\nwhere the shared words sit: {len(shares)} candidate pairs; own share of true pairs ≤ "
          f"{true_max:.3f}, of other pairs ≥ {false_min:.3f}")  # fmt: skip
    for half in (0, 1):
        fit = {p: v for p, v in shares.items() if items[p[0]].group % 2 == half}
        held = {p: v for p, v in shares.items() if items[p[0]].group % 2 != half}
        cut = (
            max(v for p, v in fit.items() if p in truth) + min(v for p, v in fit.items() if p not in truth)
        ) / 2
        held_truth = {p for p in truth if items[p[0]].group % 2 != half}
        p, r, _ = prf({q for q, v in held.items() if v <= cut}, held_truth)
        print(f"  fitted on {('even', 'odd')[half]} articles: own share ≤ {cut:.3f}; "
              f"held-out precision {p:.4f} recall {r:.4f} ({len(held_truth)} true pairs)")  # fmt: skip
    p, r, _ = prf({q for q, v in shares.items() if v <= dedupe.OWN_SHARE}, truth)
    print(f"  shipped own share ≤ {dedupe.OWN_SHARE}: precision {p:.4f} recall {r:.4f}")
    for width in (0.02, 0.05, 0.10):
        near = [p for p, v in shares.items() if abs(v - dedupe.OWN_SHARE) <= width]
        copies = sum(p in truth for p in near)
        print(f"  pairs within ±{width:.2f} of it: {copies} copies, {len(near) - copies} quotes")


def confirmed_pairs(items: Sequence[Item], sigs: Sequence[dedupe.Signature]) -> set[tuple[int, int]]:
    """Pairs the shipped path reports: the index (containment floor) and the text check."""
    index = dedupe.NearDuplicateIndex(containment=dedupe.CONTAINMENT_FLOOR)
    found: set[tuple[int, int]] = set()
    for i, sig in enumerate(sigs):
        hits = dedupe.confirmed_hits(sig, index, text=items[i].text, text_of=lambda j: items[j].text)
        found.update((min(i, j), max(i, j)) for j, _ in hits)
        index.add(i, sig)
    return found


def evaluate_confirmed(items: Sequence[Item], sigs: Sequence[dedupe.Signature]) -> tuple[float, float]:
    truth, copies, linked = true_pairs(items)
    p, r, _ = prf(confirmed_pairs(items, sigs) - copies - linked, truth)
    return p, r


def story_scores(data: Path, *, with_terms: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clustering score, same-story flag, gold Overall) for each English SemEval pair."""
    pairs = load_semeval_english(data)
    embedder = load_default_embedder()
    first = embed_cached(embedder, [p.text1 for p in pairs])
    second = embed_cached(embedder, [p.text2 for p in pairs])
    when = datetime(2020, 1, 1, tzinfo=UTC)
    scores = []
    for pair, v1, v2 in zip(pairs, first, second, strict=True):
        story = cluster.new_story(1, cluster.StoryInput(1, v1, when, lead(pair.text1)), now=when)
        item = cluster.StoryInput(2, v2, when, lead(pair.text2) if with_terms else "")
        scores.append(cluster.score_story(item, cluster.title_terms(item.title), story, when)[0])
    gold = np.array([p.overall for p in pairs])
    return np.array(scores), gold <= SAME_STORY, gold


def lead(text: str) -> str:
    """SemEval texts run the headline into the body: the first words stand in for the title."""
    return " ".join(text.split()[: cluster.LEAD_WORDS])


def evaluate_stories(data: Path) -> None:
    for with_terms in (False, True):
        scores, same, gold = story_scores(data, with_terms=with_terms)
        label = f"cosine + {cluster.TERM_WEIGHT} x shared terms" if with_terms else "cosine only"
        pearson = float(np.corrcoef(scores, -gold)[0, 1])
        print(f"\nsame story, {label}: {len(scores)} pairs, {int(same.sum())} same; Pearson {pearson:.3f}")
        print("  threshold  precision  recall  F1      accuracy")
        for t in STORY_SWEEP:
            predicted = scores >= t
            tp = int((predicted & same).sum())
            p = tp / max(int(predicted.sum()), 1)
            r = tp / max(int(same.sum()), 1)
            f = 2 * p * r / (p + r) if p + r else 0.0
            mark = "  <- cluster.THRESHOLD" if abs(t - cluster.THRESHOLD) < 1e-9 else ""
            print(f"  {t:9.2f}  {p:9.3f}  {r:6.3f}  {f:.3f}  {float((predicted == same).mean()):.3f}{mark}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data_arg(parser)
    parser.add_argument("--shingles", type=int, nargs="+", default=[dedupe.SHINGLE])
    parser.add_argument("--limit", type=int, default=0, help="use only the first N BBC articles")
    parser.add_argument("--stories", action="store_true", help="evaluate same-story scoring on SemEval only")
    parser.add_argument("--quotes", action="store_true", help="add replies quoting the articles (negatives)")
    args = parser.parse_args(argv)
    if args.stories:
        evaluate_stories(args.data)
        return
    docs = load_bbc(args.data)
    docs = docs[: args.limit] if args.limit else docs
    items = build_items(docs)
    if args.quotes:
        items = add_replies(items, docs, load_ag_news(args.data))
    print(
        f"BBC articles: {len(docs)}; distinct texts: {len({i.group for i in items})}; with copies: {len(items)}"
    )
    for shingle in args.shingles:
        sigs = sweep(items, shingle)
        if shingle == dedupe.SHINGLE:
            p, r = evaluate_index(items, sigs, dedupe.THRESHOLD)
            print(
                f"  NearDuplicateIndex(threshold={dedupe.THRESHOLD}, containment="
                f"{dedupe.CONTAINMENT_THRESHOLD}): precision {p:.4f} recall {r:.4f}"
            )
            p, r = evaluate_confirmed(items, sigs)
            print(
                f"  + text check (containment floor {dedupe.CONTAINMENT_FLOOR}, own share ≤ "
                f"{dedupe.OWN_SHARE}, shipped): precision {p:.4f} recall {r:.4f}"
            )
            if args.quotes:
                quote_sweep(items, sigs)
                position_fit(items, sigs)


if __name__ == "__main__":
    main()
