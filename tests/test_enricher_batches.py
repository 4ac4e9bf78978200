"""Enrichment in batches gives what one batch gives (``Enricher.run`` and its ``batch_size``).

A large run is enriched a bounded batch at a time so memory stays flat; the passes over the batches are
arranged so that every article still sees what it would see in one batch (the stories and signatures of
every article before it, the whole run's vectors and final stories for its related records). Here the
demo world's articles (real stories, syndicated copies, several providers and languages) are stored
twice, the same way, and enriched once in batches of 7 and once in a single batch, with the real model.
The model runs one text at a time in both, so its vectors do not depend on which texts share a batch.
"""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from newsdesk.config import load_settings, load_taxonomy
from newsdesk.demo.world import load_world
from newsdesk.enrich import bandtable, scan
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import load_embedder
from newsdesk.enricher import Enricher
from newsdesk.model import Article, Provider, held_clock
from newsdesk.runmemory import LeadSpill
from newsdesk.store import Store
from newsdesk.store.base import local_bumps

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def one_at_a_time() -> Embedder:
    return load_embedder(backend="onnx", batch_size=1)


def demo_articles() -> list[Article]:
    world = load_world(NOW)
    return [
        Article(
            a.title,
            a.url,
            a.url,
            Provider(a.provider, a.provider_domain),
            excerpt=a.description,
            published_at=a.published_at,
            text=a.body,
            language=world.provider(a.provider).language,
        )
        for a in world.articles
    ]


def enriched(
    folder: Path,
    embedder: Embedder,
    batch_size: int,
    *,
    clock: datetime = NOW,
    enrichers: list[Enricher] | None = None,
    data_folder: bool = False,
) -> dict[str, Any]:
    """Store the demo articles in a fresh store, enrich them in batches of ``batch_size`` with the clock
    held at ``clock``, and return what enrichment decided, keyed by URL (ids are the same in both
    stores, URLs say it plainly); the enricher is appended to ``enrichers``. With ``data_folder`` the
    settings' data folder is made first (``newsdesk init`` makes it)."""
    folder.mkdir()
    settings = load_settings(env={"NEWSDESK_CONFIG": str(folder / "absent.toml")}, base_dir=folder)
    if data_folder:
        settings.data_dir.mkdir(parents=True)
    store = Store.open(f"sqlite:///{folder / 'newsdesk.db'}")
    try:
        ids = [store.save_article(a).id or 0 for a in demo_articles()]
        with held_clock(clock):
            enricher = Enricher(
                settings, store, load_taxonomy(None), embedder=embedder, batch_size=batch_size
            )
            if enrichers is not None:
                enrichers.append(enricher)
            before = local_bumps()
            counts = enricher.run(ids)
            bumps = local_bumps() - before
        found = store.get_articles(ids)
        url = {i: a.web_url for i, a in found.items()}
        stories: dict[int | None, set[str]] = {}
        for a in found.values():
            stories.setdefault(a.story_id, set()).add(a.web_url)
        return {
            "articles": len(ids),
            "transactions": bumps,
            "counts": counts,
            "stories": sorted(sorted(members) for members in stories.values()),
            "related": {
                a.web_url: [url.get(r.article_id or 0) for r in store.related_refs(i)]
                for i, a in found.items()
            },
            "scores": {a.web_url: (a.topics, a.quality, a.heat, a.heat_reasons) for a in found.values()},
            "alternates": {a.web_url: sorted(x.url for x in store.alternates(i)) for i, a in found.items()},
        }
    finally:
        store.close()


def test_batches_of_seven_enrich_as_one_batch(one_at_a_time: Embedder, tmp_path: Path) -> None:
    batched = enriched(tmp_path / "batched", one_at_a_time, 7)
    whole = enriched(tmp_path / "whole", one_at_a_time, 10_000)
    assert whole["counts"]["near_duplicates"] > 0  # the syndicated copies were folded
    assert any(len(members) > 1 for members in whole["stories"])  # stories of several reports
    assert any(whole["related"].values())
    assert batched["counts"] == whole["counts"]
    assert batched["stories"] == whole["stories"]
    assert batched["alternates"] == whole["alternates"]
    assert batched["related"] == whole["related"]
    assert batched["scores"] == whole["scores"]


def test_band_keys_in_the_data_folder_fold_as_band_keys_in_memory(
    one_at_a_time: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enricher's near-duplicate index keeps its large runs of band keys in a file in the data
    folder; with runs made every 4 signatures and filed from 500 entries, the demo world is folded and
    storied as with every key in memory."""
    whole = enriched(tmp_path / "whole", one_at_a_time, 10_000)
    monkeypatch.setattr(bandtable, "MERGE_EVERY", 4)
    monkeypatch.setattr(bandtable, "FILE_ENTRIES", 500)
    monkeypatch.setattr(bandtable, "FENCE", 7)
    enrichers: list[Enricher] = []
    filed = enriched(tmp_path / "filed", one_at_a_time, 10_000, enrichers=enrichers, data_folder=True)
    index = enrichers[0]._dup_index
    assert index is not None and any(in_the_file for _, in_the_file in index._table.runs())
    assert filed["counts"]["near_duplicates"] == whole["counts"]["near_duplicates"] > 0
    assert filed["alternates"] == whole["alternates"]
    assert filed["stories"] == whole["stories"]


def test_a_batch_is_saved_in_a_few_transactions_not_several_per_article(
    one_at_a_time: Embedder, tmp_path: Path
) -> None:
    """Signatures, stories, the articles' stories, their topics and scores, heat and related are each
    saved once per batch (or chunk): a transaction per article and step was most of the stage's store
    time (docs/benchmarks.md, "Lean pipeline"). Counted as the store's transactions that moved the change
    stamp, which every write to an article or a story does."""
    whole = enriched(tmp_path / "whole", one_at_a_time, 10_000)
    assert whole["articles"] > 20
    # embeddings, signatures, stories, articles, topics and scores, heat, related, the enriched mark —
    # and one per fold (folding.py writes each fold in its own)
    assert whole["transactions"] <= 12 + 2 * whole["counts"]["near_duplicates"]


def test_lead_spill_gives_back_each_batch_exactly_and_holds_no_vectors(tmp_path: Path) -> None:
    """The leads wait for topics in a file, not in memory: what is held is each batch's ids and offset,
    and what comes back is the same bytes (topics then score what one batch would have scored)."""
    rng = np.random.default_rng(7)
    batches = [
        (list(range(100 * b, 100 * b + n)), rng.standard_normal((n, 512)).astype(np.float32))
        for b, n in enumerate((5, 0, 3))
    ]
    spill = LeadSpill(tmp_path)
    with spill:
        for ids, matrix in batches:
            spill.write(ids, list(matrix))
        assert len(spill) == 3
        assert len(list(tmp_path.iterdir())) == 0  # unnamed: nothing left behind, even on a crash
        held = [chunk for chunk in spill._chunks]
        assert all(chunk[1].nbytes == 8 * len(ids) for chunk, (ids, _) in zip(held, batches, strict=True))
        for n, (ids, matrix) in enumerate(batches):
            back = spill.read(n)
            assert sorted(back) == ids
            for row, article_id in enumerate(ids):
                assert back[article_id].dtype == np.float32
                assert back[article_id].tobytes() == matrix[row].tobytes()
    assert len(spill) == 0  # closed: the file and the offsets are gone


def test_a_run_of_several_batches_lets_go_of_the_band_keys_and_the_next_run_still_folds(
    one_at_a_time: Embedder, tmp_path: Path
) -> None:
    """A run of more than a batch drops the near-duplicate index before the related index is built (the
    two were a 100,000-article run's peak); the next run reads the signatures again and folds a copy of
    an article of the first run as a run that had kept them would."""
    settings = load_settings(env={"NEWSDESK_CONFIG": str(tmp_path / "absent.toml")}, base_dir=tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    try:
        articles = demo_articles()
        ids = [store.save_article(a).id or 0 for a in articles]
        with held_clock(NOW):
            enricher = Enricher(settings, store, load_taxonomy(None), embedder=one_at_a_time, batch_size=7)
            band_keys = weakref.ref(enricher._near_duplicate_index(set()))  # the index the run reuses
            alive_while_relating: list[bool] = []

            def relating(stage: str, done: int, total: int) -> None:
                gc.collect()
                alive_while_relating.append(band_keys() is not None)

            enricher.run(ids, relating)
            assert enricher._dup_index is None
            assert alive_while_relating and not any(alive_while_relating)  # freed, not only unnamed
            longest = max(articles, key=lambda a: len(a.text))
            copy = Article(
                longest.title,
                "https://copies.example/1",
                "https://copies.example/1",
                Provider("Copies", "copies.example"),
                published_at=longest.published_at,
                text=longest.text,
                language=longest.language,
            )
            counts = enricher.run([store.save_article(copy).id or 0])
        assert counts["near_duplicates"] == 1
        assert enricher._dup_index is not None  # a run of one batch keeps it for the next, as before
    finally:
        store.close()


@pytest.mark.parametrize("queries", [scan.QUERIES, 3], ids=["whole-batches", "batches-in-parts"])
def test_a_run_of_several_batches_scans_instead_of_holding_the_related_index(
    one_at_a_time: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queries: int
) -> None:
    """Relating a large run scans the stored vectors a batch at a time (enrich/scan.py), so the index of
    every vector (≈ 1.3 KB an article) is neither built nor saved; a small run then brings the index up
    to date with every stored vector, and its related lists are the ones the scan chose, whether each
    batch was scanned whole or in parts of ``scan.QUERIES`` articles."""
    monkeypatch.setattr(scan, "QUERIES", queries)
    settings = load_settings(env={"NEWSDESK_CONFIG": str(tmp_path / "absent.toml")}, base_dir=tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    try:
        ids = [store.save_article(a).id or 0 for a in demo_articles()]
        with held_clock(NOW):
            enricher = Enricher(settings, store, load_taxonomy(None), embedder=one_at_a_time, batch_size=7)
            enricher.run(ids)
            assert enricher.related_index._index is None
            assert not enricher.related_index.path.exists()
            scanned = {i: [r.article_id for r in store.related_refs(i)] for i in ids}
            assert sum(map(bool, scanned.values())) > len(ids) // 2
            again = [i for i in ids if scanned[i]][:5]
            enricher.run(again)
        index = enricher.related_index._index
        assert index is not None and len(index) == store.count_embeddings(one_at_a_time.name)
        assert {i: [r.article_id for r in store.related_refs(i)] for i in again} == {
            i: scanned[i] for i in again
        }
    finally:
        store.close()
