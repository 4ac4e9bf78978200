"""The enrich stage's orchestrator (``stages.py``): loads the run's articles a batch at a time, runs the
pure code of ``enrich/`` over them, and saves the results through the store (``store/enrichment.py``:
the rows it writes).

    embed (title + lead) ─► near-duplicate? fold with the stored article (folding.py: it shows the original)
        ─► story (online clustering) ─► topics ─► quality ─► heat (per story) ─► related

Articles are processed in (publication, URL) order so a re-run over the same articles makes the same
stories. The run is cut into batches of ``batch_size`` so memory stays bounded whatever its size, and
passes over them (:meth:`Enricher.run`) so each article sees what one batch would show it. Each step
saves what it found for the whole batch (one transaction, not one per article) before the next one
starts; an article is marked enriched only after the last
(related), so an interrupted run leaves the rest unenriched and the next run enriches them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from . import events, folding
from .config import Settings
from .enrich import cluster, dedupe, heat, quality, related, scan, similarity, supervised, topics
from .enrich.base import Embedder, Vectors
from .enrich.embed import embedding_text, load_embedder
from .enrich.keptindex import KeptIndex
from .enrich.vectors import ExactIndex, ExactScores, Searchable, VectorIndex
from .errors import CryptoError, SettingsError
from .fetch.urls import host_of
from .longlived import loading
from .model import Article, Story, Taxonomy, TopicScore, now
from .reembed import RESKETCH_SHARE, Reembedder, Resketcher, check_topic_model, check_vectors
from .runmemory import SCAN_CHUNK, LeadSpill, SpilledVectors, release_freed_memory
from .store import Store
from .store.stories import StoryWrite
from .storyheat import StoryHeat

if TYPE_CHECKING:
    from .stages import ProgressHook

log = logging.getLogger(__name__)

REFINE_MIN_ARTICLES = 500  # refine_topic_vectors wants thousands of articles, never a handful
REFINE_SAMPLE = 5_000  # the most recent stored vectors it learns from
REFINE_WINDOW = timedelta(days=30)
NEAR_DUPLICATE_WINDOW = timedelta(days=30)  # syndicated copies appear within days of the original
NEAR_DUPLICATE_REBUILD = timedelta(days=1)
"""How far the window may slide before the index kept between runs is built again: a long-lived desk
tops it up with each run's new signatures, and without a rebuild the ones that left the window would stay
in it (and in memory) for as long as the process lives."""
TOPIC_MODEL_FILE = "topic-model.npz"  # written by `newsdesk topics train`
BATCH_SIZE = 1_000  # articles held at once: texts, vectors and rows of one batch (docs/benchmarks.md)
RELATED_META_CHUNK = 50  # articles whose related candidates' metadata is held at once
PROVISIONAL = 1 << 62
"""Where the provisional ids of a batch's new stories start: above any id a store gives, so a new story
sorts after every stored one and in the order the batch made them, as their ids will."""


@dataclass(frozen=True, slots=True)
class Work:
    """One article on its way through enrichment, with the clear text the stages read."""

    article: Article
    text: str
    vector: Vectors
    lead_vector: Vectors
    """``vector`` is the article vector (title weighed apart, ``similarity.with_titles``): stored, indexed,
    clustered and related. ``lead_vector`` is the title + lead vector alone, which topics read: the topic
    classifier and its evaluations were tuned on it."""
    names: similarity.Names | None = None  # of title + text, made with the signature; the story join reads it


def embed_text(article: Article, text: str) -> str:
    """Title + lead, at most ``embed.EMBED_TEXT_CHARS`` characters (docs/embeddings.md)."""
    return embedding_text(article.title, text or article.excerpt)


class Enricher:
    """Enriches batches of stored articles. Loads the model once; everything else per run."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        taxonomy: Taxonomy,
        *,
        embedder: Embedder | None = None,
        decrypt: Callable[[Article], str] | None = None,
        sketch_key: Callable[[], similarity.SketchKey | None] = lambda: None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.settings = settings
        self.batch_size = max(1, batch_size)
        self.store = store
        self.taxonomy = taxonomy
        self._embedder = embedder
        self._decrypt = decrypt
        self._sketch_key = sketch_key  # the names sketch's key (None: unkeyed), read again each run
        self._names_key: similarity.SketchKey | None = None
        self._reembedder: Reembedder | None = None
        self._resketcher = Resketcher(store, self._open_text)
        self.counts: dict[str, int] = {}
        half_lives = _heat_half_lives(settings, taxonomy)  # a bad setting fails here, before any work
        self._heat = StoryHeat(store, half_lives, settings.heat_half_life_hours)
        # kept between runs, following the store's change log (a desk stop saves it: flush)
        self.related_index = KeptIndex(
            store, settings.data_dir / "vectors.usearch", timedelta(days=settings.related_window_days)
        )
        self.forget_between_runs()

    def forget_between_runs(self) -> None:
        """Drop the near-duplicate index kept between runs (the model stays): it is re-read from the
        store on the next run, for when another process may have enriched or folded articles since."""
        self._dup_index: dedupe.NearDuplicateIndex | None = None
        self._leads = LeadSpill(self.settings.data_dir)  # this run's lead vectors, from pass 1 to topics
        self._dup_seen = 0  # highest article id whose signature is in the index
        self._dup_since = now()  # the window's start when the index was built
        self._unsaved: dict[int, tuple[dedupe.Signature, bytes]] = {}  # the batch's (signature, names)

    def reembed(self, limit: int | None = None) -> int:
        """Re-embed up to ``limit`` (None: all) articles whose stored vector another model made
        (reembed.py); counted as ``reembedded`` in the run's figures when there were any."""
        if self._reembedder is None:
            self._reembedder = Reembedder(
                self.store,
                lambda: self.embedder,
                lambda a: embed_text(a, self._text(a)),
                loaded=lambda: self._embedder.name if self._embedder else None,
                configured=self.settings.embed_model,
                relate=lambda ids, index: self._relate(self._reload(ids, texts=False), index),
                index_path=self.settings.data_dir / "vectors.usearch",
            )
        self._names_key = self._sketch_key()  # a rotation since the last run changed it
        done = self._reembedder.run(limit)
        if done:
            self.counts["reembedded"] = self.counts.get("reembedded", 0) + done
        if self._names_key is not None:  # sketches of another key: made again, a bounded share too
            share = None if limit is None else limit * RESKETCH_SHARE
            if made := self._resketcher.run(self._names_key, share):
                self.counts["sketches_remade"] = self.counts.get("sketches_remade", 0) + made
        return done

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with loading("models"):  # kept for the process's life: out of the cycle collector's way
                self._embedder = load_embedder(
                    self.settings.embed_model,
                    self.settings.embed_backend,
                    cache_dir=self.settings.models_dir,
                )
        return self._embedder

    def run(self, ids: Sequence[int], progress: ProgressHook | None = None) -> dict[str, int]:
        """Enrich ``ids`` in batches of ``batch_size`` articles, in three passes over the batches, so
        that memory stays bounded whatever the number of articles and the outcome is the one a single
        batch would give (tests/test_enricher_batches.py):

        1. per batch: embed, fold near-duplicates, cluster (each article sees the stories and
           signatures of all the articles before it, as in one batch);
        2. per batch: topics and quality, from one classifier made after every fold (its topic vectors
           learn from the stored vectors, which pass 1 completed); then heat, once, over every story
           touched;
        3. the batches' vectors into the related index, then per batch: related (each article sees the
           whole run's vectors and final stories), and the batch marked enriched.
        """
        self.counts = {"enriched": 0, "near_duplicates": 0, "stories_new": 0}
        self.reembed(self.settings.reembed_batch)  # after a model change, a bounded share each run
        ordered = self.store.enrich_order(ids)
        if not ordered:
            return self.counts
        batches = [ordered[i : i + self.batch_size] for i in range(0, len(ordered), self.batch_size)]
        index = self._near_duplicate_index(set(ordered))
        touched: set[int] = set()
        kept: list[list[int]] = []
        with self._leads:
            for batch in batches:
                work = self._fold_near_duplicates(self._embed(self._load(batch)), index)
                touched |= self._cluster(work)
                kept.append([w.article.id or 0 for w in work])
                self._leads.write([w.article.id or 0 for w in work], [w.lead_vector for w in work])
                del work
                release_freed_memory()
            # Pass 1 is the index's last reader: this frame lets go of it, so that _relate_all's drop
            # of the band keys frees them (a reference here kept them beside the related index).
            del index
            classifier, reputations = self._classifier(), self._reputations()
            for n, batch in enumerate(kept):
                self._topics_and_quality(self._reload(batch, self._leads.read(n)), classifier, reputations)
                release_freed_memory()
        self._heat.rescore(touched)
        self._relate_all(kept, progress)
        return self.counts

    def _load(self, batch: Sequence[int]) -> list[Article]:
        found = self.store.get_articles(batch)
        return [found[i] for i in batch if i in found]

    def _reload(
        self, batch: Sequence[int], leads: dict[int, Vectors] | None = None, *, texts: bool = True
    ) -> list[Work]:
        """A batch's articles as pass 1 left them, with their texts, stored vectors and the lead
        vectors pass 1 spilled (``leads``; the stored vector stands in for one that is missing).
        ``texts=False`` leaves the texts empty: related reads only the article and its vector, and
        opening every sealed text again for it was a decryption per article for nothing."""
        leads = leads or {}
        articles = self._load(batch)
        ids, matrix = self.store.load_embeddings(self.embedder.name, ids=batch)
        rows = {article_id: n for n, article_id in enumerate(ids)}
        return [
            Work(a, self._text(a) if texts else "", matrix[rows[a.id]], leads.get(a.id, matrix[rows[a.id]]))
            for a in articles
            if a.id is not None and a.id in rows
        ]

    # ------------------------------------------------------------------------------------- embed

    def _embed(self, articles: list[Article]) -> list[Work]:
        if not articles:
            return []
        texts = [self._text(a) for a in articles]
        leads = self.embedder.embed([embed_text(a, t) for a, t in zip(articles, texts, strict=True)])
        vectors = similarity.with_titles(leads, self.embedder.embed, [a.title for a in articles])
        check_vectors(vectors, self.embedder)  # a hub model's wrong size: an error here, not in usearch
        self.store.save_embeddings(
            self.embedder.name, [(a.id or 0, v) for a, v in zip(articles, vectors, strict=True)]
        )
        return [Work(*row) for row in zip(articles, texts, vectors, leads, strict=True)]

    def _open_text(self, article: Article) -> str:
        """The full text: the clear one, else the sealed one opened (a CryptoError when it does not)."""
        if article.text or article.secured is None or self._decrypt is None:
            return article.text
        return self._decrypt(article)

    def _text(self, article: Article) -> str:
        try:
            return self._open_text(article)
        except CryptoError as e:
            log.warning("cannot read sealed text", extra={"article_id": article.id, "reason": str(e)})
            return ""

    # -------------------------------------------------------------------------------- near-dups

    def _fold_near_duplicates(self, work: list[Work], index: dedupe.NearDuplicateIndex) -> list[Work]:
        """A near-copy of an earlier article becomes that article's alternate; the copy's row goes. The
        batch's signatures are saved at its end, in one transaction; until then the index reads those of
        the batch from ``_unsaved``."""
        self._unsaved = {}
        kept: list[Work] = []
        for item in work:
            assert item.article.id is not None
            text = dedupe.fold_text(item.article.title, item.text)
            sig = dedupe.signature(text)
            match = dedupe.find_near_duplicate(
                sig, index, exclude=item.article.id, text=text, text_of=self._stored_text
            )
            folded = self._fold(item.article, match.article_id) if match is not None else None
            if folded is not None:
                kept = [_retaken(w, folded, item.text, self._names_key) for w in kept]  # may be of this batch
                continue
            names = similarity.article_names(text, key=self._names_key)  # stored: the text is sealed
            self._unsaved[item.article.id] = (sig, similarity.names_to_bytes(names, self._names_key))
            if item.article.id not in index:
                index.add(item.article.id, sig)
            kept.append(replace(item, names=names))
        unsaved, self._unsaved = self._unsaved, {}
        self.store.save_minhashes([(i, np.asarray(sig).tobytes(), n) for i, (sig, n) in unsaved.items()])
        return kept

    def _near_duplicate_index(self, fresh: set[int]) -> dedupe.NearDuplicateIndex:
        """The LSH index of recent signatures, kept between runs and topped up with what is new, a page
        at a time. Copies are syndicated within days, so only NEAR_DUPLICATE_WINDOW of signatures is
        searched — reloading every stored signature each run grew without bound (bench/enrich.py). The
        index holds band keys only and reads the signatures it checks from the store. Once the window has
        slid by NEAR_DUPLICATE_REBUILD, the index is built again, so what left the window leaves it too."""
        since = now() - NEAR_DUPLICATE_WINDOW
        if self._dup_index is not None and since - self._dup_since > NEAR_DUPLICATE_REBUILD:
            self._dup_index = None
        if self._dup_index is None:
            threshold = self.settings.near_duplicate_threshold or dedupe.THRESHOLD
            self._dup_index = dedupe.NearDuplicateIndex(
                threshold,
                containment=dedupe.CONTAINMENT_FLOOR,
                signatures=self._stored_signatures,
                folder=self.settings.data_dir if self.settings.data_dir.is_dir() else None,
            )
            self._dup_since, self._dup_seen = since, 0
        while page := self.store.load_minhashes(since=since, after_id=self._dup_seen, limit=self.batch_size):
            for article_id, data in page:
                if article_id not in fresh and article_id not in self._dup_index:
                    self._dup_index.add(article_id, dedupe.signature_from_bytes(data))
            self._dup_seen = page[-1][0]
        return self._dup_index

    def _fold(self, copy: Article, original_id: int) -> Article | None:
        """The two become one article, under the stored row, showing the original (folding.py): that
        article as stored now, or None when the stored row is gone."""
        kept = folding.fold(self.store, copy, original_id)
        if kept is not None:
            self.counts["near_duplicates"] += 1
        return kept

    def _stored_text(self, article_id: int) -> str | None:
        """The text a stored article's signature was made from, for the copy-or-quote check."""
        article = self.store.get_articles([article_id]).get(article_id)
        return dedupe.fold_text(article.title, self._text(article)) if article is not None else None

    def _stored_signatures(self, ids: Sequence[int]) -> dict[int, dedupe.Signature]:
        """The signatures of ``ids``: those of this batch not saved yet, the others from the store."""
        mine = {i: self._unsaved[i][0] for i in ids if i in self._unsaved}
        found = self.store.minhashes_by_id([i for i in ids if i not in mine]) if len(mine) < len(ids) else {}
        return mine | {article_id: dedupe.signature_from_bytes(data) for article_id, data in found.items()}

    # ---------------------------------------------------------------------------------- stories

    def _cluster(self, work: list[Work]) -> set[int]:
        """Assign each article to a story; returns the ids of the stories that changed. The batch's
        stories are saved at its end, each once in its final state, then its articles with their stories
        (two transactions): a story made in the batch goes by a provisional id until then
        (:data:`PROVISIONAL`, above any stored one, so ties between stories break as before)."""
        if not work:  # every article of the batch folded into an earlier one
            return set()
        threshold = self.settings.story_threshold or cluster.THRESHOLD
        calibration = similarity.calibration_for(self.embedder.name)
        times = [w.article.published_at or w.article.first_seen_at or now() for w in work]
        stories = self._open_stories(min(times) - cluster.WINDOW, calibration)
        fresh: dict[int, cluster.StoryInput] = {}  # provisional id -> the story's first article
        touched: set[int] = set()
        for i, item in enumerate(work):
            a = item.article
            assert a.id is not None
            assert item.names is not None  # made by the fold, which every clustered article passed
            entry = cluster.StoryInput(
                a.id, item.vector, times[i], a.title, a.provider.domain, item.text, a.language, item.names
            )
            candidates = stories.reachable(item.vector, threshold)
            decision = cluster.assign_story(
                entry, candidates, now=now(), threshold=threshold, calibration=calibration
            )
            if decision.story_id is None:
                provisional = PROVISIONAL + len(fresh)
                fresh[provisional] = entry
                state = cluster.new_story(provisional, entry, now=now())
                self.counts["stories_new"] += 1
            else:
                state = cluster.update_story(stories.state(decision.story_id), entry, now=now())
            stories.put(state)
            touched.add(state.story_id)
            work[i] = replace(item, article=a.replace(story_id=state.story_id))
        real = self._save_stories([stories.state(i) for i in sorted(touched)], fresh)
        for i, item in enumerate(work):
            story_id = item.article.story_id or 0
            work[i] = replace(item, article=item.article.replace(story_id=real.get(story_id, story_id)))
        self.store.save_articles([w.article for w in work])
        return {real.get(i, i) for i in touched}

    def _open_stories(self, since: datetime, calibration: similarity.Calibration) -> _OpenStories:
        """The recent stories whose centroid this embedder made: a story from another model (its state
        names that model, or its centroid has another length) stays as it is and takes no new members.
        They are read a page at a time and only their centroids are kept: a story's whole state is read
        again when an article may join it (see :class:`_OpenStories`)."""
        stories = _OpenStories(calibration, self._story_states)
        after = 0
        while page := self.store.recent_stories_after(since, after, self.batch_size):
            after = page[-1][0].id or after
            for found in page:
                state = self._story_state(*found)
                if state is not None:
                    stories.put(state, keep=False)
        return stories

    def _story_states(self, story_ids: Sequence[int]) -> list[cluster.StoryState]:
        found = (self._story_state(*row) for row in self.store.stories_by_id(story_ids))
        return [state for state in found if state is not None]

    def _story_state(
        self, story: Story, blob: bytes | None, state: dict[str, Any]
    ) -> cluster.StoryState | None:
        if blob is None or story.id is None or state.get("model", self.embedder.name) != self.embedder.name:
            return None
        found = cluster.unpack_centroids(blob, state.get("languages", ()), self.embedder.dim)
        if found is None:
            return None
        return cluster.StoryState(
            story_id=story.id,
            centroid=found[0],
            first_seen=story.first_seen_at,
            last_seen=story.last_seen_at,
            size=story.size,
            providers=story.providers,
            title_terms=frozenset(state.get("title_terms", ())),
            title=story.title,
            groups=found[1],
            names=similarity.names_for_key(state.get("names", ()), state.get("names_key"), self._names_key),
        )

    def _save_stories(
        self, states: list[cluster.StoryState], fresh: dict[int, cluster.StoryInput]
    ) -> dict[int, int]:
        """Save the batch's touched stories (``fresh``: those made in it, by provisional id, in the order
        they were made, with their first article); provisional id -> the id each was given."""
        by_id = {state.story_id: state for state in states}
        new = [self._story_write(by_id[i], first) for i, first in fresh.items()]
        changed = [self._story_write(state) for state in states if state.story_id not in fresh]
        ids = self.store.save_stories(new, changed)
        return dict(zip(fresh, ids, strict=True))

    def _story_write(self, state: cluster.StoryState, first: cluster.StoryInput | None = None) -> StoryWrite:
        """A story's row as clustering left it; with ``first`` (a new story's first article) the webhook
        event announcing it, queued with it (the outbox)."""
        story = Story(
            None if first else state.story_id,
            state.title,
            state.first_seen,
            state.last_seen,
            state.size,
            state.providers,
        )
        blob, languages = cluster.pack_centroids(state)
        terms = sorted(state.title_terms)
        names = [int(h) for h in state.names]
        model = self.embedder.name
        label = self._names_key.label if self._names_key is not None else None
        values = {"title_terms": terms, "model": model, "languages": languages, "names": names}
        values |= {"names_key": label} if label else {}
        return StoryWrite(story, blob, values, _announce(first) if first else None)

    # --------------------------------------------------------------------------- topics, quality

    def _topics_and_quality(
        self, work: list[Work], classifier: topics.TopicClassifier, reputations: dict[int | None, float]
    ) -> None:
        if not work:
            return
        docs = [supervised.TopicInput(w.article.title, w.text) for w in work]
        lead = [w.lead_vector for w in work]
        matrix = np.stack(lead) if lead else np.zeros((0, self.embedder.dim), np.float32)
        assigned = classifier.classify(docs, matrix)
        scored: list[Article] = []
        for item, scores in zip(work, assigned, strict=True):
            article = self._with_topics(item.article, scores)
            features = quality.QualityFeatures(
                title=article.title,
                text=item.text,
                reputation=reputations.get(article.source_id),
                has_author=bool(article.author),
                has_date=article.published_at is not None,
                has_image=bool(article.images),
                has_description=bool(article.excerpt),
                is_near_duplicate=False,
            )
            score, reasons = quality.score_quality(features)
            scored.append(article.replace(quality=score, quality_reasons=reasons))
        self.store.save_articles(scored)  # one transaction for the batch

    def _with_topics(self, article: Article, scores: tuple[TopicScore, ...]) -> Article:
        """Model topics plus the source's own (signal ``source``), ancestors added, most specific first."""
        known = {t.name for t in self.taxonomy.topics}
        chosen = {s.name: s for s in scores}
        for name in article.topics:
            if name in known and name not in chosen:
                chosen[name] = TopicScore(name, 1.0, "source")
        ordered = self.taxonomy.with_ancestors(list(chosen)) if chosen else ()
        all_scores = tuple(chosen.get(n) or TopicScore(n, 1.0, "ancestor") for n in ordered)
        return article.replace(topics=ordered, topic_scores=all_scores)

    def _classifier(self) -> topics.TopicClassifier:
        vectors = self._topic_vectors()
        model_path = self.settings.data_dir / TOPIC_MODEL_FILE
        model = supervised.load_model(model_path) if model_path.exists() else None
        if model is not None:
            check_topic_model(model.dim, self.embedder, model_path)
        return topics.TopicClassifier(self.taxonomy, vectors, model=model)

    def _topic_vectors(self) -> Vectors:
        """Topic vectors: the descriptions' vectors, moved towards the articles actually stored once
        there are enough of them (unlabelled self-training: AG News zero-shot 0.815 → 0.847)."""
        vectors = self._description_vectors()
        ids = self.store.recent_article_ids(now() - REFINE_WINDOW, now(), REFINE_SAMPLE)
        if len(ids) < REFINE_MIN_ARTICLES:
            return vectors
        _, sample = self.store.load_embeddings(self.embedder.name, ids=ids)
        return topics.refine_topic_vectors(vectors, sample) if len(sample) else vectors

    def prepare_topics(self) -> str:
        """Embed the taxonomy's topic descriptions now and keep them in the store (``newsdesk init``):
        a fresh folder's first run or desk cycle otherwise pays for it (0.56-0.74 CPU-s with the bundled
        blend, docs/benchmarks.md "Topic vectors at `newsdesk init`, done again"). A line saying what
        was done."""
        existed = self.store.get_meta(self._description_key()) is not None
        vectors = self._description_vectors()
        return f"{len(vectors)} topic vectors ({'existing' if existed else 'embedded'})"

    def _description_key(self) -> str:
        """The store key of the topic description vectors: per embedder and taxonomy version."""
        views = [[topics.topic_text(t), *topics.topic_terms(t)] for t in self.taxonomy.topics]
        digest = hashlib.sha256(json.dumps([self.embedder.name, views]).encode()).hexdigest()
        return f"topic-vectors:{digest[:16]}"

    def _description_vectors(self) -> Vectors:
        """Topic description vectors, cached in the store (:meth:`_description_key`)."""
        key = self._description_key()
        cached = self.store.get_meta(key)
        if cached is not None:
            return np.asarray(cached, dtype=np.float32)
        vectors = topics.embed_topics(self.taxonomy, self.embedder.embed)
        self.store.set_meta(key, vectors.tolist())
        return vectors

    def _reputations(self) -> dict[int | None, float]:
        """Each source's quality prior: its own reputation (by hand or imported), else its site's
        rating (imported table, then the shipped one, parents included: quality.rating_for)."""
        imported = self.store.get_meta("ratings") or {}
        out: dict[int | None, float] = {}
        for s in self.store.list_sources():
            value = s.reputation
            if value is None:
                value = quality.source_reputation(host_of(s.site_url or s.url), imported)
            if value is not None:
                out[s.id] = value
        return out

    # ----------------------------------------------------------------------------------- related

    def _relate_all(self, kept: list[list[int]], progress: ProgressHook | None) -> None:
        """Related for every kept article, a batch at a time; each batch is marked enriched once its related
        are saved. A run of more than a batch scans the stored vectors for each batch instead of searching
        the index of them all (enrich/scan.py: memory that does not grow with the store), and so does a run
        of articles older than the kept index holds (enrich/keptindex.py, its horizon)."""
        total = sum(map(len, kept))
        if not total:
            return
        ids = [i for batch in kept for i in batch]
        span = self.store.time_range(ids)
        if total <= self.batch_size and (span is None or self.related_index.covers(span[0])):
            self._relate_batches(kept, self._vector_index(kept), progress)
            return
        if total > self.batch_size:
            # A run of more than a batch (a first import, a one-go run) has folded every copy by now:
            # the near-duplicate band keys need not sit beside the related stage. The next run reads the
            # window's signatures again (docs/benchmarks.md, "Large runs"); a desk's small cycles keep
            # them, as before (a small run of old articles, past the kept index's horizon, scans too).
            self._dup_index = None
            release_freed_memory()
        with SpilledVectors(self.settings.data_dir) as spill:  # only a scanning run makes the file
            if span is not None:
                self._spill(spill, span)
            self._relate_batches(kept, spill, progress)

    def _relate_batches(
        self,
        kept: list[list[int]],
        index: VectorIndex | SpilledVectors,
        progress: ProgressHook | None,
    ) -> None:
        total, done = sum(map(len, kept)), 0
        for batch in kept:
            work = self._reload(batch, texts=False)
            self._relate(work, index)
            self.store.mark_enriched_many([item.article.id or 0 for item in work])
            for _ in work:
                done += 1
                if progress:
                    progress("enrich", done, total)
        self.counts["enriched"] = done

    def _spill(self, spill: SpilledVectors, span: tuple[datetime, datetime]) -> None:
        """Copy into ``spill`` the stored vectors of every article within the related window of a time in
        ``span`` (the run's articles' earliest and latest): what their batches' scans read."""
        window = timedelta(days=self.settings.related_window_days)
        since, until = span[0] - window, span[1] + window
        spill.fill(self.store.embeddings_between(self.embedder.name, since, until, batch=SCAN_CHUNK))

    def _relate(self, work: list[Work], index: VectorIndex | SpilledVectors) -> None:
        """Related for ``work``, its candidates from ``index`` or from a scan of the spilled vectors."""
        if not work:
            return
        window = timedelta(days=self.settings.related_window_days)
        calibration = similarity.calibration_for(self.embedder.name)
        scanning = isinstance(index, SpilledVectors)
        step = scan.QUERIES if scanning else len(work)
        for start in range(0, len(work), step):  # a scan's buffers, one part of the batch at a time
            part = work[start : start + step]
            searcher = self._searcher(part, window, index)
            for first in range(0, len(part), RELATED_META_CHUNK):
                self._relate_chunk(part[first : first + RELATED_META_CHUNK], searcher, window, calibration)
            del searcher  # before the next part's scan is made
            if scanning:
                release_freed_memory()

    def _searcher(
        self, work: list[Work], window: timedelta, index: VectorIndex | SpilledVectors
    ) -> Callable[[int], Searchable]:
        if isinstance(index, SpilledVectors):
            return self._scanned(work, window, index)
        return self._rescored(index)

    def _rescored(self, index: VectorIndex) -> Callable[[int], Searchable]:
        """Every article's searches go to ``index``; the saved index holds int8, so its candidates' cosines
        are read again from the stored vectors."""
        model = self.embedder.name
        exact: Searchable = index
        if not isinstance(index, ExactIndex):
            exact = ExactScores(
                index, self.embedder.dim, lambda ids: self.store.load_embeddings(model, ids=ids)
            )
        return lambda _article_id: exact

    def _scanned(
        self, work: list[Work], window: timedelta, spill: SpilledVectors
    ) -> Callable[[int], Searchable]:
        """Each article's candidates from one scan of the spilled vectors of articles within ``window``
        of one of them (none outside it can be related to any)."""
        ids = [item.article.id or 0 for item in work]
        matrix = np.stack([item.vector for item in work])
        return scan.scan(ids, matrix, spill.within(*_within(work, window))).__getitem__

    def _relate_chunk(
        self,
        work: list[Work],
        searcher: Callable[[int], Searchable],
        window: timedelta,
        calibration: similarity.Calibration,
    ) -> None:
        meta = self._related_meta(work, window, searcher)
        lists: dict[int, list[tuple[int, float]]] = {}
        for item in work:
            a = item.article
            assert a.id is not None
            when = a.published_at or a.first_seen_at or now()
            chosen = related.relate(
                a.id,
                item.vector,
                when,
                searcher(a.id),
                meta,
                k=self.settings.related_count,
                window=window,
                calibration=calibration,
            )
            lists[a.id] = [(c.article_id, c.similarity) for c in chosen]
        self.store.set_related_many(lists)  # one transaction for the chunk's lists

    def _vector_index(self, kept: list[list[int]]) -> VectorIndex:
        """The ANN index of the stored vectors from the kept index's horizon on (the recent weeks), this
        run's put in last in enrichment order (as one batch would add them): kept from the last run and
        brought up to date from the store's change log, or read from the file beside the store, or rebuilt
        from the stored vectors when there is none or the horizon moved (it is a cache of the store;
        enrich/keptindex.py). Reading and saving the whole file every run was ≈ 10% of
        a desk's CPU at 100k articles (docs/benchmarks.md, "Large runs")."""
        return self.related_index.current(self.embedder.name, self.embedder.dim, kept, batch=self.batch_size)

    def _related_meta(
        self, work: list[Work], window: timedelta, searcher: Callable[[int], Searchable]
    ) -> _RelatedMeta:
        """The candidates' metadata for a few articles: of the articles within ``window`` of one of them,
        those their first search returns, read up front, and any other one when a wider search asks for
        it. Every article of the window was read before: in a large run that is every article of it."""
        since, until = _within(work, window)
        meta = _RelatedMeta(lambda ids: self.store.related_candidates(since, until, ids))
        fetch = self.settings.related_count * related.OVERFETCH_FACTOR
        wanted = [w.article.id or 0 for w in work]
        for item in work:
            found = searcher(item.article.id or 0).search(item.vector, fetch, exclude={item.article.id or 0})
            wanted += [i for i, _ in found]
        meta.read(wanted)
        return meta


def _within(work: list[Work], window: timedelta) -> tuple[datetime, datetime]:
    """The times within ``window`` of one of ``work``'s articles: where their related can come from."""
    times = [w.article.published_at or w.article.first_seen_at or now() for w in work]
    return min(times) - window, max(times) + window


class _RelatedMeta(Mapping[int, related.RelatedMeta]):
    """The related stage's candidate metadata, read from the store as it is asked for (``related.relate``
    only looks up ids its searches return): an id ``load`` does not return (outside the time range)
    is absent, as it was from the whole range's dict this replaces."""

    def __init__(self, load: Callable[[Sequence[int]], Sequence[tuple[Any, ...]]]) -> None:
        self._load = load
        self._found: dict[int, related.RelatedMeta | None] = {}

    def read(self, ids: Sequence[int]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self._found]
        if not missing:
            return
        self._found |= dict.fromkeys(missing)
        self._found |= {row[0]: related.RelatedMeta(*row[1:]) for row in self._load(missing)}

    def __getitem__(self, article_id: int) -> related.RelatedMeta:
        self.read([article_id])
        found = self._found[article_id]
        if found is None:
            raise KeyError(article_id)
        return found

    def __iter__(self) -> Iterator[int]:
        return (i for i, found in self._found.items() if found is not None)

    def __len__(self) -> int:
        return sum(found is not None for found in self._found.values())


class _OpenStories:
    """The open stories and their unit centroids as one matrix, so the stories an article could join are
    found with one matrix product instead of scoring every story in Python (bench/enrich.py; the gain is
    in docs/benchmarks.md). A story's combined score is at most its cosine to the unit
    centroid (the mean cosine it scores never exceeds that) plus the term and names bonuses (the time term
    only subtracts), so a story whose cosine is below ``cluster.lowest_cosine`` can never reach the
    threshold: dropping it changes no decision. Calibration lowers that cut to the least cosine any
    language relation maps up to it; a story of several languages (its per-language means can score
    above its overall cosine) is always kept."""

    def __init__(
        self,
        calibration: similarity.Calibration,
        load: Callable[[Sequence[int]], list[cluster.StoryState]],
    ) -> None:
        self._calibration = calibration
        self._load = load  # whole states of stories by id, from the store
        self._states: dict[int, cluster.StoryState] = {}  # those made or read in this batch
        self._ids: list[int] = []
        self._row: dict[int, int] = {}  # story id -> its row in the matrix
        self._matrix = np.zeros((64, 0), dtype=np.float32)
        self._multi = np.zeros(len(self._matrix), dtype=bool)  # stories of several languages

    def __len__(self) -> int:
        return len(self._ids)

    def reachable(self, vector: Vectors, threshold: float) -> list[cluster.StoryState]:
        if not self._ids:
            return []
        sims = self._matrix[: len(self._ids)] @ np.asarray(vector, dtype=np.float32)
        lowest = cluster.lowest_cosine(threshold, self._calibration)
        keep = (sims >= lowest - 1e-4) | self._multi[: len(self._ids)]
        ids = [self._ids[i] for i in np.flatnonzero(keep)]
        missing = [i for i in ids if i not in self._states]
        if missing:
            self._states |= {s.story_id: s for s in self._load(missing)}
        return [self._states[i] for i in ids if i in self._states]

    def state(self, story_id: int) -> cluster.StoryState:
        return self._states[story_id]

    def put(self, state: cluster.StoryState, *, keep: bool = True) -> None:
        """Add or replace a story (``keep``: hold its whole state too, else only its centroid). The
        matrix grows by doubling, so adding n stories copies O(n) rows."""
        row = self._row.get(state.story_id)
        if row is None:
            row = len(self._ids)
            self._grow(row + 1, len(state.centroid))
            self._ids.append(state.story_id)
            self._row[state.story_id] = row
        self._matrix[row] = _unit(state.centroid)
        self._multi[row] = len(state.groups) > 1
        if keep:
            self._states[state.story_id] = state

    def _grow(self, rows: int, dim: int) -> None:
        if self._matrix.shape[1] != dim and not self._ids:
            self._matrix = np.zeros((len(self._matrix), dim), dtype=np.float32)
        if rows > len(self._matrix):
            bigger = np.zeros((2 * len(self._matrix), self._matrix.shape[1]), dtype=np.float32)
            bigger[: len(self._matrix)] = self._matrix
            self._matrix = bigger
            self._multi = np.concatenate([self._multi, np.zeros(len(self._multi), dtype=bool)])


def _announce(first: cluster.StoryInput) -> Callable[[int], events.Event]:
    """The ``story`` webhook event of a new story, given its id: its first article's title and time."""
    when = first.published_at or now()

    def event(story_id: int) -> events.Event:
        head = {"id": story_id, "title": first.title, "firstSeenAt": when.isoformat()}
        return events.event("story", {"story": {**head, "firstArticleId": first.article_id}})

    return event


def _retaken(item: Work, kept: Article, text: str, key: similarity.SketchKey | None) -> Work:
    """``item`` of this batch after a fold kept its row: with the original's identity and text when the
    row took them (else the later stages would save it back under the copy's URL)."""
    if item.article.id != kept.id or item.article.web_url == kept.web_url:
        return item
    names = similarity.article_names(dedupe.fold_text(kept.title, text), key=key)
    return replace(item, article=kept, text=text, names=names)


def _heat_half_lives(settings: Settings, taxonomy: Taxonomy) -> dict[str, float]:
    """The ``heat_half_life_topics`` setting, checked against the taxonomy."""
    try:
        return heat.parse_half_lives(settings.heat_half_life_topics, {t.name for t in taxonomy.topics})
    except ValueError as e:
        raise SettingsError(f"heat_half_life_topics: {e}") from e


def _unit(vector: Vectors) -> Vectors:
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


__all__ = ["Enricher", "LeadSpill", "embed_text", "release_freed_memory"]
