"""The desk's live outputs follow the change stamp, but a move that only wrote vectors (a re-embedding
pass after a model change: a batch every desk turn) rewrites nothing: records and feeds hold none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from newsdesk.desk import LiveOutputs, OutputTargets
from tests.test_api import article, make_desk


def test_a_vector_write_alone_exports_nothing_an_article_does(tmp_path: Path) -> None:
    nd = make_desk(tmp_path)
    try:
        saved = nd.store.save_article(article(1))
        assert saved.id is not None
        outputs = LiveOutputs(nd, OutputTargets(records_dir=tmp_path / "records"))
        assert outputs.refresh_if_changed()  # the first check always writes
        nd.store.save_embedding(saved.id, "m", np.ones(4, np.float32))
        assert not outputs.refresh_if_changed()
        nd.store.save_article(article(2))
        nd.store.save_embedding(saved.id, "m", np.zeros(4, np.float32))
        assert outputs.refresh_if_changed()  # an article among the changes: written
        assert not outputs.refresh_if_changed()
    finally:
        nd.close()
