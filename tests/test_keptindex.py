"""The related index a long-lived enricher keeps between runs (enrich/keptindex.py): a later run reads
and writes no file, and the index still follows the store — another writer's vectors, a delete, a vector
written again, a gap the change log cannot describe, a restart and a crash. Real stores (SQLite and
PostgreSQL: conftest's ``store``), real usearch index; the enricher's test runs the bundled model over the
demo world's articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from newsdesk.config import load_settings, load_taxonomy
from newsdesk.enrich import keptindex
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import load_embedder
from newsdesk.enrich.keptindex import KeptIndex
from newsdesk.enrich.vectors import RELATED_HNSW, AnnIndex, VectorIndex
from newsdesk.enricher import Enricher
from newsdesk.model import Article, Provider, held_clock
from newsdesk.store import Store
from newsdesk.store.base import MAX_NOTED
from tests.test_enricher_batches import demo_articles, enriched

MODEL, DIM = "test-model", 16
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def unit(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    matrix = rng.standard_normal((n, DIM)).astype(np.float32)
    scaled: np.ndarray[Any, Any] = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return scaled


def stored(store: Store, rng: np.random.Generator, n: int, published: datetime | None = None) -> list[int]:
    """``n`` new articles with a vector each (published at ``published``: else undated, so their time
    is when they were first seen); their ids."""
    ids = []
    for _ in range(n):
        url = f"https://x.example/{store.last_article_id() + 1}"
        article = Article("t", url, url, Provider("X", "x.example"), published_at=published)
        ids.append(store.save_article(article).id or 0)
    store.save_embeddings(MODEL, list(zip(ids, unit(rng, n), strict=True)))
    return ids


def assert_in_step(index: VectorIndex, store: Store) -> None:
    """The index holds exactly the stored vectors, each where its stored vector is."""
    ids, matrix = store.load_embeddings(MODEL)
    assert sorted(index.ids()) == ids
    for i, vector in zip(ids, matrix, strict=True):
        assert index.search(vector, 1)[0][0] == i


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every read of an index file."""
    seen: list[Path] = []
    load = AnnIndex.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[AnnIndex], path: Path) -> AnnIndex:
        seen.append(path)
        loaded: AnnIndex = load(cls, path)
        return loaded

    monkeypatch.setattr(AnnIndex, "load", classmethod(counted))
    return seen


def test_the_index_follows_other_writers_deletes_and_rewrites_without_the_file(
    store: Store, store_url: str, tmp_path: Path, loads: list[Path]
) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "vectors.usearch"
    kept = KeptIndex(store, path)
    first = stored(store, rng, 40)
    index = kept.current(MODEL, DIM, [first])
    assert_in_step(index, store)
    assert path.is_file()  # a first build is saved at once
    saved = path.stat().st_mtime_ns

    other = Store.open(store_url)  # another process's writes
    try:
        theirs = stored(other, rng, 5)
        other.delete_article(first[3])
        moved = unit(rng, 1)[0]
        other.save_embeddings(MODEL, [(first[7], moved)])
    finally:
        other.close()
    mine = stored(store, rng, 3)
    index = kept.current(MODEL, DIM, [mine])
    assert_in_step(index, store)
    assert set(theirs) | set(mine) <= set(index.ids())
    assert first[3] not in index
    assert index.search(moved, 1)[0][0] == first[7]
    assert loads == [] and kept.reconciled == 1  # the first build only; the file was not read
    assert path.stat().st_mtime_ns == saved  # nor written: not due


def test_a_long_gap_is_read_a_page_at_a_time_and_one_the_log_cannot_describe_is_reconciled(
    store: Store, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    kept = KeptIndex(store, tmp_path / "vectors.usearch")
    ids = stored(store, rng, 20)
    kept.current(MODEL, DIM, [ids])
    for _ in range(501):  # more stamp moves than one read of the log takes (changes.MAX_ROWS)
        stored(store, rng, 1)
    store.delete_article(ids[0])
    assert store.changes_between(kept._stamp, int(store.change_stamp()[0])).everything
    assert_in_step(kept.current(MODEL, DIM, []), store)
    assert kept.reconciled == 1  # the first build only: the log was read a page at a time
    stored(store, rng, MAX_NOTED + 1)  # one transaction that notes too many ids: the log cannot say
    store.delete_article(ids[1])
    assert_in_step(kept.current(MODEL, DIM, []), store)
    assert kept.reconciled == 2


def test_a_restart_catches_up_from_the_saved_stamp_and_a_crash_costs_no_rebuild(
    store: Store, tmp_path: Path, loads: list[Path]
) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "vectors.usearch"
    kept = KeptIndex(store, path)
    kept.current(MODEL, DIM, [stored(store, rng, 30)])
    kept.current(MODEL, DIM, [stored(store, rng, 4)])  # not due: the file lacks these four
    assert json.loads(path.with_name(path.name + ".json").read_text())["count"] == 30
    kept.flush()  # a clean stop
    assert json.loads(path.with_name(path.name + ".json").read_text())["count"] == 34

    crashed = KeptIndex(store, path)  # started again; then stopped without a flush
    crashed.current(MODEL, DIM, [stored(store, rng, 2)])
    store.delete_article(store.load_embeddings(MODEL)[0][5])
    again = KeptIndex(store, path)
    index = again.current(MODEL, DIM, [stored(store, rng, 1)])
    assert_in_step(index, store)
    assert len(loads) == 2 and crashed.reconciled == again.reconciled == 0  # caught up from the log


def test_a_file_of_another_model_is_built_again(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    path = tmp_path / "vectors.usearch"
    KeptIndex(store, path).current("old-model", DIM, [[]])
    ids = stored(store, rng, 10)
    manifest = json.loads(path.with_name(path.name + ".json").read_text())
    assert manifest["model"] == "old-model"
    index = KeptIndex(store, path).current(MODEL, DIM, [ids])
    assert_in_step(index, store)


def test_the_file_is_saved_when_due(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    path = tmp_path / "vectors.usearch"
    kept = KeptIndex(store, path)
    kept.current(MODEL, DIM, [stored(store, rng, 10)])
    kept.current(MODEL, DIM, [stored(store, rng, 1)])

    def count() -> int:
        return int(json.loads(path.with_name(path.name + ".json").read_text())["count"])

    assert count() == 10
    monkeypatch.setattr(keptindex, "SAVE_AFTER_ADDED", 2)
    kept.current(MODEL, DIM, [stored(store, rng, 1)])  # two put in since the save
    assert count() == 12
    monkeypatch.setattr(keptindex, "SAVE_EVERY_S", 0.0)
    kept.current(MODEL, DIM, [[]])  # nothing new: nothing to save
    path.unlink()  # a re-embedding pass deletes the file (reembed.py)
    kept.current(MODEL, DIM, [[]])
    assert count() == 12


@pytest.fixture(scope="module")
def one_at_a_time() -> Embedder:
    return load_embedder(backend="onnx", batch_size=1)


def test_an_enricher_relates_a_later_run_from_the_kept_index_as_from_the_file(
    one_at_a_time: Embedder, tmp_path: Path, loads: list[Path]
) -> None:
    """Two runs of one enricher (the desk's): the second reads no file; its related lists are the ones an
    enricher started afresh for the second run makes from the file the first one saved."""

    def two_runs(folder: Path, *, restart: bool) -> dict[str, list[str]]:
        folder.mkdir()
        settings = load_settings(env={"NEWSDESK_CONFIG": str(folder / "absent.toml")}, base_dir=folder)
        store = Store.open(f"sqlite:///{folder / 'newsdesk.db'}")
        try:
            ids = [store.save_article(a).id or 0 for a in demo_articles()]
            half = len(ids) // 2
            with held_clock(NOW):

                def make() -> Enricher:
                    return Enricher(settings, store, load_taxonomy(None), embedder=one_at_a_time)

                enricher = make()
                enricher.run(ids[:half])
                (make() if restart else enricher).run(ids[half:])
            found = store.get_articles(ids)
            url = {i: a.web_url for i, a in found.items()}
            return {
                a.web_url: [url.get(r.article_id or 0, "") for r in store.related_refs(i)]
                for i, a in found.items()
            }
        finally:
            store.close()

    restarted = two_runs(tmp_path / "restarted", restart=True)
    assert len(loads) == 1  # the fresh enricher read the file the first run saved
    kept = two_runs(tmp_path / "kept", restart=False)
    assert len(loads) == 1  # the kept index was not read again
    assert any(kept.values())
    assert kept == restarted


def test_a_file_of_an_older_version_is_reconciled_once_then_saved_with_its_stamp(
    store: Store, tmp_path: Path
) -> None:
    rng = np.random.default_rng(6)
    path = tmp_path / "vectors.usearch"
    ids = stored(store, rng, 12)
    older = AnnIndex(DIM, RELATED_HNSW)
    older.add(ids, store.load_embeddings(MODEL)[1])
    older.save(path)  # no model, no stamp in its manifest
    first = KeptIndex(store, path)
    assert_in_step(first.current(MODEL, DIM, []), store)
    assert first.reconciled == 1
    assert json.loads(path.with_name(path.name + ".json").read_text())["model"] == MODEL
    again = KeptIndex(store, path)
    assert_in_step(again.current(MODEL, DIM, []), store)
    assert again.reconciled == 0


def test_the_desk_saves_the_kept_related_index_when_it_stops(tmp_path: Path) -> None:
    """What went in since the last save is written at a clean stop, so a start reads it."""
    from newsdesk.app import Newsdesk
    from newsdesk.desk import Desk, OutputTargets
    from tests.conftest import quiet_env

    env = quiet_env(tmp_path / "data", NEWSDESK_ENRICH="1", NEWSDESK_REEMBED_BATCH="0")
    settings = load_settings(env=env, base_dir=tmp_path)
    with Newsdesk(settings) as nd:
        rng = np.random.default_rng(7)
        kept = nd.enricher.related_index
        kept.current(MODEL, DIM, [stored(nd.store, rng, 10)])  # a first build: saved at once
        kept.current(MODEL, DIM, [stored(nd.store, rng, 3)])  # not due
        manifest = kept.path.with_name(kept.path.name + ".json")
        assert json.loads(manifest.read_text())["count"] == 10
        desk = Desk(nd, OutputTargets(), check_s=0.1)
        desk.start()
        assert desk.stop(30)
        assert json.loads(manifest.read_text())["count"] == 13


WINDOW = timedelta(days=14)


def test_the_horizon_moves_once_a_step_and_keeps_a_step_old_article_s_window_inside() -> None:
    moment = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday, where the horizon moves
    for hours in range(0, 24 * 21, 5):
        at = moment + timedelta(hours=hours)
        horizon = keptindex.horizon_at(at, WINDOW)
        assert at - WINDOW - 2 * keptindex.HORIZON_STEP < horizon <= at - WINDOW - keptindex.HORIZON_STEP
        assert horizon.weekday() == 0 and horizon.time() == time(0, 0) and horizon.tzinfo is UTC
    assert keptindex.horizon_at(moment - timedelta(seconds=1), WINDOW) < keptindex.horizon_at(moment, WINDOW)
    assert keptindex.horizon_at(moment, WINDOW) == keptindex.horizon_at(moment + timedelta(days=6), WINDOW)


def test_a_windowed_index_holds_recent_vectors_and_is_built_again_when_its_horizon_moves(
    store: Store, tmp_path: Path, loads: list[Path]
) -> None:
    """The desk's index holds the vectors of articles from its horizon on; a late vector of an old
    article is not put in; when the horizon moves past articles they leave the index (built again from
    the store), and a restart under the same horizon reads the file instead of building."""
    rng = np.random.default_rng(7)
    path = tmp_path / "vectors.usearch"
    old = stored(store, rng, 6, NOW - timedelta(days=40))
    week_old = stored(store, rng, 8, NOW - timedelta(days=7))
    recent = stored(store, rng, 10, NOW - timedelta(hours=2))
    with held_clock(NOW):
        kept = KeptIndex(store, path, WINDOW)
        horizon = kept.horizon()
        assert (
            horizon is not None
            and kept.covers(NOW - timedelta(days=6))
            and not kept.covers(NOW - timedelta(days=40))
        )
        index = kept.current(MODEL, DIM, [recent])
        assert sorted(index.ids()) == sorted(week_old + recent)
        late_old = stored(store, rng, 2, NOW - timedelta(days=60))  # a backfill: its vectors stay out
        newer = stored(store, rng, 3, NOW)
        index = kept.current(MODEL, DIM, [])
        assert sorted(index.ids()) == sorted(week_old + recent + newer)
        assert not set(late_old + old) & set(index.ids())
        kept.flush()
    with held_clock(NOW + timedelta(hours=1)):
        again = KeptIndex(store, path, WINDOW)
        assert sorted(again.current(MODEL, DIM, []).ids()) == sorted(week_old + recent + newer)
        assert len(loads) == 1 and again.reconciled == 0  # same horizon: the file, caught up
    later = NOW + 3 * keptindex.HORIZON_STEP + timedelta(days=1)
    with held_clock(later):
        moved = kept.current(MODEL, DIM, [])
        assert kept.horizon() is not None and kept.horizon() > horizon  # type: ignore[operator]
        assert not set(week_old) & set(moved.ids()) and set(recent + newer) <= set(moved.ids())
        assert kept.reconciled == 2  # built again from the store, not read from the older horizon's file
        manifest = json.loads(path.with_name(path.name + ".json").read_text())
        assert manifest["horizon"] == kept.horizon().isoformat()  # type: ignore[union-attr]


def test_a_run_of_articles_older_than_the_horizon_is_related_by_scanning(
    one_at_a_time: Embedder, tmp_path: Path
) -> None:
    """A small run (a backfill) of articles whose windows reach before the kept index's horizon: no index
    is built for it, and its related lists are the ones the same run makes from the index while the
    articles are recent."""

    enrichers: list[Enricher] = []
    recent = enriched(tmp_path / "recent", one_at_a_time, 1000, enrichers=enrichers)
    backfill = enriched(
        tmp_path / "backfill", one_at_a_time, 1000, clock=NOW + timedelta(days=90), enrichers=enrichers
    )
    from_index, scanned = enrichers
    assert from_index.related_index._index is not None
    assert scanned.related_index._index is None and not scanned.related_index.path.exists()
    assert scanned._dup_index is not None  # a small run keeps its near-duplicate index, as before
    assert sum(map(bool, backfill["related"].values())) > len(backfill["related"]) // 2
    assert (backfill["related"], backfill["stories"]) == (recent["related"], recent["stories"])
