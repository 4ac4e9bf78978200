"""The near-duplicate index an enricher keeps between runs (the desk's, a ``--watch`` loop's) leaves out
what has left its window: it is built again once the window has slid by a day, instead of only being
topped up for as long as the process lives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from newsdesk.config import load_settings, load_taxonomy
from newsdesk.enrich import dedupe
from newsdesk.enricher import NEAR_DUPLICATE_WINDOW, Enricher
from newsdesk.model import held_clock
from newsdesk.store import Store
from tests.test_store import T0, make


def _stored(store: Store, n: int, days: int) -> int:
    """An article published ``days`` after T0, with a stored signature."""
    saved = store.save_article(make(n, published_at=T0 + timedelta(days=days), content_hash=f"h{n}"))
    assert saved.id is not None
    words = " ".join(f"word{n}x{i}" for i in range(60))
    store.save_minhash(saved.id, np.asarray(dedupe.signature(words)).tobytes())
    return saved.id


def test_the_kept_index_drops_what_left_the_window(sqlite_store: Store, tmp_path: Path) -> None:
    settings = load_settings(env={"NEWSDESK_CONFIG": str(tmp_path / "absent.toml")}, base_dir=tmp_path)
    enricher = Enricher(settings, sqlite_store, load_taxonomy(None))
    old = _stored(sqlite_store, 1, 0)
    with held_clock(T0 + timedelta(days=1)):
        first = enricher._near_duplicate_index(set())
        assert old in first
    newer = _stored(sqlite_store, 2, 20)
    with held_clock(T0 + timedelta(days=1, hours=12)):  # the window slid half a day: topped up, kept
        kept = enricher._near_duplicate_index(set())
        assert kept is first and old in kept and newer in kept
    with held_clock(T0 + NEAR_DUPLICATE_WINDOW + timedelta(days=5)):  # the old one left the window
        rebuilt = enricher._near_duplicate_index(set())
        assert old not in rebuilt and newer in rebuilt
        assert len(rebuilt) == 1
