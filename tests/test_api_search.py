"""Search through the API: full text, semantic (the bundled MiniLM, offline), and hybrid by RRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.catalog import SemanticSearch, rrf
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import load_embedder
from tests.test_api import BASE, article, assert_problem, make_desk, token

TEXTS = {
    1: (
        "Central bank lifts interest rates again",
        "The monetary authority raised its policy rate by 25 basis points.",
    ),
    2: (
        "Striker scores twice in cup final",
        "The football club won the trophy after a dramatic second half.",
    ),
    3: ("New sourdough bakery opens downtown", "Fresh bread and pastries every morning from local flour."),
    4: ("Bank stocks rally as lending margins widen", "Shares of lenders climbed after the rate decision."),
}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(backend="onnx")


@pytest.fixture
def desk(tmp_path: Path, embedder: Embedder) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    for n, (title, excerpt) in TEXTS.items():
        saved = nd.store.save_article(article(n, title=title, excerpt=excerpt))
        nd.store.save_embedding(saved.id, embedder.name, embedder.embed([f"{title}. {excerpt}"])[0])
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk, embedder: Embedder) -> Iterator[TestClient]:
    """A client holding a read token: it sees the (unpublished) test articles."""
    with TestClient(create_app(desk, embedder=embedder, include_web=False)) as test_client:
        test_client.headers.update(token(desk, "read", "searcher"))
        yield test_client


def search(client: TestClient, q: str, mode: str) -> list[tuple[int, list[str]]]:
    response = client.get(f"{BASE}/search", params={"q": q, "mode": mode})
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == mode
    return [(item["id"], item["matchedBy"]) for item in response.json()["items"]]


def test_text_search_finds_words(client: TestClient) -> None:
    assert search(client, "sourdough", "text") == [(3, ["text"])]
    assert search(client, "zeppelin", "text") == []


def test_semantic_search_finds_meaning_without_shared_words(client: TestClient) -> None:
    hits = search(client, "soccer match result", "semantic")
    assert hits[0] == (2, ["semantic"])
    assert [i for i, _ in search(client, "monetary policy tightening", "semantic")][:2] in ([1, 4], [4, 1])


def test_hybrid_ranks_what_both_lists_found_first(client: TestClient) -> None:
    hits = search(client, "interest rates", "hybrid")
    assert hits[0] == (1, ["text", "semantic"])  # the only article matching the words, and the closest
    assert {i for i, _ in hits} == set(TEXTS)  # semantic search ranks every article with a vector


def test_bad_search_parameters_are_422(client: TestClient) -> None:
    assert_problem(client.get(f"{BASE}/search", params={"q": "x", "mode": "psychic"}), 422, "mode")
    assert_problem(client.get(f"{BASE}/search"), 422, "q")
    assert_problem(client.get(f"{BASE}/search", params={"q": "x", "limit": 101}), 422, "limit")


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([[10, 20, 30], [30, 10]], k=60)
    assert [i for i, _ in fused] == [10, 30, 20]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 62)


def test_a_new_vector_is_searched_from_the_next_query_on(desk: Newsdesk, embedder: Embedder) -> None:
    """The index follows the change log: the written vector goes in (and a replaced one is replaced),
    without loading the others again."""
    semantic = SemanticSearch(lambda: desk.store, lambda: embedder)
    assert {i for i, _ in semantic.nearest("bread", 10)} == set(TEXTS)
    saved = desk.store.save_article(article(5, title="Baguette prices", excerpt="Bread costs more"))
    assert saved.id is not None
    assert saved.id not in {i for i, _ in semantic.nearest("bread", 10)}  # no vector yet
    desk.store.save_embedding(
        saved.id, embedder.name, embedder.embed(["Baguette prices. Bread costs more"])[0]
    )
    assert semantic.nearest("bread", 1)[0][0] == saved.id
    desk.store.save_embedding(saved.id, embedder.name, embedder.embed(["Football league season"])[0])
    assert semantic.nearest("bread", 1)[0][0] != saved.id
    assert len([i for i, _ in semantic.nearest("bread", 10) if i == saved.id]) == 1  # replaced, not added


def test_a_deleted_articles_vector_leaves_the_index(desk: Newsdesk, embedder: Embedder) -> None:
    """A vector goes with its article: the catch-up takes out what a delete left without a vector (the
    index kept it until a full load, which the change log no longer asks for)."""
    semantic = SemanticSearch(lambda: desk.store, lambda: embedder)
    before = {i for i, _ in semantic.nearest("bread", 10)}
    victim = next(iter(before))
    desk.store.delete_article(victim)
    after = {i for i, _ in semantic.nearest("bread", 10)}
    assert after == before - {victim}


def test_anonymous_semantic_and_hybrid_search_show_published_articles_only(
    desk: Newsdesk, embedder: Embedder
) -> None:
    desk.store.set_review_state(4, "published")  # "Bank stocks rally…"; 1 is the better match, unpublished
    with TestClient(create_app(desk, embedder=embedder, include_web=False)) as anonymous:
        assert search(anonymous, "monetary policy tightening", "semantic") == [(4, ["semantic"])]
        assert search(anonymous, "interest rates", "hybrid") == [(4, ["text", "semantic"])]  # "rate*"
        assert search(anonymous, "sourdough", "text") == []
