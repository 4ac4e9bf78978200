"""`newsdesk init` embeds the taxonomy's topics once, so a fresh folder's first run does not; the
desk's own start (`init()` without topics) leaves the model unloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from newsdesk.app import Newsdesk
from newsdesk.config import Settings, load_settings
from newsdesk.enrich import topics
from tests.conftest import quiet_env


def _settings(data_dir: Path) -> Settings:
    return load_settings(env=quiet_env(data_dir, NEWSDESK_ENRICH="1"), base_dir=data_dir)


def test_init_stores_the_topic_vectors_the_enricher_reads(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    with Newsdesk(settings) as nd:
        report = nd.init(topics=True)
        count = len(nd.taxonomy.topics)
        assert report["topics"] == f"{count} topic vectors (embedded)"
        enricher = nd.enricher
        stored = nd.store.get_meta(enricher._description_key())
        assert stored is not None
        fresh = topics.embed_topics(nd.taxonomy, enricher.embedder.embed)
        np.testing.assert_allclose(np.asarray(stored, dtype=np.float32), fresh, atol=1e-6)
    with Newsdesk(settings) as nd:  # a later process (the first run) finds them under the same key
        assert nd.init(topics=True)["topics"] == f"{count} topic vectors (existing)"


def test_the_desks_own_init_does_not_load_the_model(tmp_path: Path) -> None:
    with Newsdesk(_settings(tmp_path / "data")) as nd:
        report = nd.init()
        assert "topics" not in report and "model" in report
        assert nd._enricher is None
