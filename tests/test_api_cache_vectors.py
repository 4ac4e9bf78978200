"""A vector written by another process reaches the API's semantic and hybrid answers, over loopback
HTTP, and touches nothing else a reader sees (the change log's ``vectors``: ``store.base.log_change``,
``stamped.Reads.semantic``, ``semantic.py``'s catch-up). On SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from newsdesk.api.cache import STALE_S, STAMP_TTL_S
from newsdesk.app import Newsdesk
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import load_embedder
from newsdesk.model import ReviewState
from tests.readerapp import serve
from tests.test_api import article, make_desk

BASE = "/api/v1"
WINDOW_S = STAMP_TTL_S + STALE_S
TEXTS = {
    1: ("Central bank lifts interest rates again", "The monetary authority raised its policy rate."),
    2: ("Striker scores twice in cup final", "The football club won the trophy after a dramatic half."),
    3: ("Court rules on a merger", "Judges blocked the deal between the two lenders."),
    4: ("Baguette prices climb", "Bread costs more at every bakery in town."),
}
WRITE_VECTOR = """
import sys
from pathlib import Path
import numpy as np
from tests.test_api import make_desk

nd = make_desk(Path(sys.argv[1]), sys.argv[2])
nd.store.save_embedding(int(sys.argv[3]), sys.argv[4], np.load(sys.argv[5]))
nd.close()
"""


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(backend="onnx")


@pytest.fixture
def desk(tmp_path: Path, store_url: str, embedder: Embedder) -> Iterator[Newsdesk]:
    """Four published articles; every one but 4 ("Baguette prices climb") has its vector."""
    nd = make_desk(tmp_path, store_url)
    for n, (title, excerpt) in TEXTS.items():
        saved = nd.store.save_article(article(n, title=title, excerpt=excerpt))
        assert saved.id is not None
        nd.store.set_review_state(saved.id, ReviewState.PUBLISHED)
        if n != 4:
            nd.store.save_embedding(saved.id, embedder.name, embedder.embed([f"{title}. {excerpt}"])[0])
    nd.catalog.use_embedder(embedder)
    yield nd
    nd.close()


def _vector_elsewhere(tmp_path: Path, url: str, article_id: int, embedder: Embedder, text: str) -> None:
    """Article ``article_id``'s vector, written by another process (as the desk's enrichment does)."""
    np.save(tmp_path / "vector.npy", embedder.embed([text])[0])
    command = [sys.executable, "-c", WRITE_VECTOR, str(tmp_path), url, str(article_id), embedder.name]
    subprocess.run([*command, str(tmp_path / "vector.npy")], check=True, cwd=Path.cwd())


def _ids(reader: httpx.Client, q: str, mode: str) -> list[int]:
    answer = reader.get(f"{BASE}/search", params={"q": q, "mode": mode, "limit": 2})
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_a_new_vector_reaches_semantic_answers_and_nothing_else(
    desk: Newsdesk, embedder: Embedder, tmp_path: Path, store_url: str
) -> None:
    found = desk.store.find_article(article(4).web_url)
    assert found is not None and found.id is not None
    four = found.id
    others = [
        f"{BASE}/articles/{four}",
        f"/articles/{four}",
        f"{BASE}/articles",
        "/",
        f"{BASE}/search?q=bread",
    ]
    with serve(desk) as base, httpx.Client(base_url=base) as reader:
        assert four not in _ids(reader, "bread and pastries", "semantic")
        assert four in _ids(reader, "bread", "hybrid")  # by its words only: it has no vector yet
        first = {path: reader.get(path) for path in others}
        assert all(r.status_code == 200 and r.headers["age"] == "0" for r in first.values())
        _vector_elsewhere(tmp_path, store_url, four, embedder, "Baguette prices climb. Bread costs more.")
        started = time.monotonic()
        while four not in _ids(reader, "bread and pastries", "semantic"):
            assert time.monotonic() - started < WINDOW_S + 1.5, "the semantic answer is the old one"
            time.sleep(0.05)
        assert all(four in _ids(reader, "bread and pastries", "semantic") for _ in range(5))
        time.sleep(max(0.0, WINDOW_S + 0.3 - (time.monotonic() - started)))
        for path in others:  # the vector touched none of them: kept, not made again
            again = reader.get(path)
            assert again.headers["etag"] == first[path].headers["etag"], path
            assert int(again.headers["age"]) >= WINDOW_S, f"{path} was made again"
