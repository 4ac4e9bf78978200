"""Re-embedding after ``embed_model`` changes (newsdesk/reembed.py), with the bundled models.

A desk enriches four articles with ``bundled-minilm``; the settings then switch to ``bundled`` (the
multilingual blend). The old vectors are another model's: they count nowhere until they are embedded
again, by ``reembed_batch`` a run in the background or all at once (``newsdesk reembed``), and back again.
A topic model or a model whose vectors have another size is a clear error, not a crash in numpy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from newsdesk.app import Newsdesk
from newsdesk.cli import app as cli
from newsdesk.config import load_settings
from newsdesk.desk import Desk, OutputTargets
from newsdesk.enrich.base import Embedder, Vectors
from newsdesk.enrich.embed import BUNDLED, BUNDLED_MINILM
from newsdesk.enrich.similarity import article_vectors
from newsdesk.enricher import Enricher, embed_text
from newsdesk.errors import EnrichmentError
from newsdesk.model import Article, Provider, Source
from newsdesk.reembed import RELATE_KEY, check_topic_model, check_vectors
from newsdesk.store import Store
from newsdesk.store import tables as t
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply
from tests.test_folding import page, paragraphs

HOST = "news.example"
STORIES = ("rates", "harvest", "transfer", "launch")


def feed() -> bytes:
    items = "".join(
        f"<item><title>Story {name}</title><link>http://{HOST}/n/{name}.html</link>"
        f"<pubDate>Wed, 25 Nov 2026 0{i}:00:00 GMT</pubDate></item>"
        for i, name in enumerate(STORIES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>{items}</channel></rss>'.encode()
    )


def routes() -> dict[str, Reply]:
    out = {"/n/feed.xml": Reply(body=feed(), content_type="application/rss+xml")}
    for i, name in enumerate(STORIES):
        body = page(
            f"Story {name}", paragraphs(10 + i), f"2026-11-25T0{i}:00:00Z", f"http://{HOST}/n/{name}.html"
        )
        out[f"/n/{name}.html"] = Reply(body=body)
    return out


def env(data_dir: Path, model: str, **extra: str) -> dict[str, str]:
    return quiet_env(data_dir, NEWSDESK_ENRICH="1", NEWSDESK_EMBED_MODEL=model, **extra)


def newsdesk(data_dir: Path, port: int, model: str, **extra: str) -> Newsdesk:
    settings = load_settings(env=env(data_dir, model, **extra), base_dir=data_dir)
    return Newsdesk(settings, resolve={HOST: f"127.0.0.1:{port}"})


@pytest.fixture(scope="module")
def enriched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A data folder whose four articles were enriched with MiniLM alone."""
    data_dir = tmp_path_factory.mktemp("reembed")
    with LoopbackServer(routes()) as server:
        with newsdesk(data_dir, server.port, BUNDLED_MINILM) as nd:
            nd.sources.ensure([Source(f"http://{HOST}/n/feed.xml", allow_loopback=True)])
            nd.run()
            assert nd.store.count_articles() == len(STORIES)
        yield data_dir, server.port


def test_switching_models_reembeds_in_bounded_batches_then_all_at_once(enriched: tuple[Path, int]) -> None:
    data_dir, port = enriched
    with newsdesk(data_dir, port, BUNDLED, NEWSDESK_REEMBED_BATCH="1") as nd:
        name = nd.enricher.embedder.name
        assert nd.store.count_embeddings(name) == 0  # the blend sees none of the MiniLM vectors
        assert len(nd.store.stale_embedding_ids(name, 10)) == len(STORIES)
        counts = nd.enricher.run([])  # a run re-embeds reembed_batch of them first
        assert counts["reembedded"] == 1 and nd.store.count_embeddings(name) == 1
        assert nd.reembed() == len(STORIES) - 1
        ids, matrix = nd.store.load_embeddings(name)
        assert len(ids) == len(STORIES) and matrix.shape[1] == nd.enricher.embedder.dim
        assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
        assert nd.store.stale_embedding_ids(name, 10) == [] and nd.reembed() == 0


def test_the_cli_reembeds_everything_back_to_the_first_model(
    enriched: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the test above the vectors are the blend's, all four stale for MiniLM; run alone, none is."""
    data_dir, port = enriched
    with newsdesk(data_dir, port, BUNDLED_MINILM) as nd:
        stale = len(nd.store.stale_embedding_ids(nd.enricher.embedder.name, 10))
    for key, value in env(data_dir, BUNDLED_MINILM).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["reembed", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"reembedded": stale}
    with newsdesk(data_dir, port, BUNDLED_MINILM) as nd:
        name = nd.enricher.embedder.name
        assert (
            nd.store.count_embeddings(name) == len(STORIES) and nd.store.stale_embedding_ids(name, 10) == []
        )


class Truncating:
    """A model whose pooling returns fewer values than its config declares (a misconfigured hub model):
    the bundled MiniLM with its vectors cut short."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, "truncating", inner.dim

    def embed(self, texts: list[str]) -> Vectors:
        return self.inner.embed(texts)[:, : self.dim // 2]


def test_vectors_or_a_topic_model_of_another_size_are_clear_errors(enriched: tuple[Path, int]) -> None:
    data_dir, port = enriched
    with newsdesk(data_dir, port, BUNDLED_MINILM) as nd:
        embedder = nd.enricher.embedder
        assert check_vectors(embedder.embed(["one text"]), embedder).shape == (1, embedder.dim)
        with pytest.raises(EnrichmentError, match="declares 384 dimensions"):
            check_vectors(Truncating(embedder).embed(["one text"]), Truncating(embedder))
        wrong = Enricher(nd.settings, nd.store, nd.taxonomy, embedder=Truncating(embedder))
        ids = [a.id for a in nd.store.iter_articles() if a.id is not None]
        with pytest.raises(EnrichmentError, match="declares 384 dimensions"):
            wrong.run(ids)  # the enricher stops before saving a vector of the wrong size
        assert nd.store.count_embeddings("truncating") == 0
        with pytest.raises(EnrichmentError, match="trained on 512-dimensional vectors"):
            check_topic_model(512, embedder, data_dir / "topic-model.npz")
        check_topic_model(embedder.dim, embedder, data_dir / "topic-model.npz")


def _saved(store: Store, title: str, folder: str, count: int) -> list[int]:
    """Ids of ``count`` bare articles stored under http://HOST/<folder>/<i>.html."""
    made = []
    for i in range(count):
        url = f"http://{HOST}/{folder}/{i}.html"
        saved = store.save_article(Article(f"{title} {i}", url, url, Provider("N", HOST))).id
        assert saved is not None
        made.append(saved)
    return made


def test_stale_ids_are_enriched_articles_without_a_vector_of_the_model(store: Store) -> None:
    """On SQLite and PostgreSQL: another model's vector or none at all is stale; unenriched is not."""
    made = _saved(store, "Story", "n", 3)
    for article_id in made[:2]:
        store.mark_enriched(article_id)
    store.save_embedding(made[0], "model-a", np.ones(4, dtype=np.float32))
    assert store.stale_embedding_ids("model-b", 10) == made[:2]
    assert store.stale_embedding_ids("model-a", 10) == [made[1]]
    assert store.stale_embedding_ids("model-b", 1) == [made[0]]


def related_rows(store: Store) -> dict[tuple[int, int], float]:
    with store.engine.connect() as c:
        rows = c.execute(select(t.related.c.article_id, t.related.c.related_id, t.related.c.similarity))
        return {(int(a), int(b)): float(s) for a, b, s in rows}


def test_the_idle_desk_reembeds_then_relates_again(enriched: tuple[Path, int]) -> None:
    """A running desk (its thread, its turns) with no due work brings the MiniLM store over to the blend a
    batch a turn, then computes the related lists again over the blend's vectors."""
    data_dir, port = enriched
    with newsdesk(data_dir, port, BUNDLED, NEWSDESK_REEMBED_BATCH="1") as nd:
        with nd.store.engine.begin() as c:  # one story holds all four: apart, each may relate to the others
            c.execute(update(t.articles).values(story_id=None))
        before = related_rows(nd.store)
        name = nd.enricher.embedder.name
        desk = Desk(nd, OutputTargets(), check_s=0.2)
        desk.start()
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                state = nd.store.get_meta(RELATE_KEY) or {}
                if state.get("after", 0) >= state.get("upto", 1) and not nd.store.stale_embedding_ids(
                    name, 10
                ):
                    break
                time.sleep(0.3)
            else:
                raise AssertionError(f"the desk did not finish re-embedding: {desk.status}, {state}")
        finally:
            assert desk.stop()
        assert desk.status.last_error is None
        assert nd.store.count_embeddings(name) == len(STORIES)
        after = related_rows(nd.store)
        assert len(after) == len(STORIES) * (len(STORIES) - 1) and after != before
        assert all(nd.store.load_embeddings(name, ids=[b])[0] == [b] for _, b in after)


def test_vectors_of_an_older_recipe_are_reembedded_without_loading_the_model_when_none_is(
    enriched: tuple[Path, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A store from before the title was weighed in holds its vectors under the bare model name: they
    are stale for the same model, re-embedded with the current recipe; then a check loads no model."""
    data_dir, port = enriched
    with newsdesk(data_dir, port, BUNDLED) as nd:
        embedder = nd.enricher.embedder
        with nd.store.engine.begin() as c:
            c.execute(update(t.embeddings).values(model=embedder.name))  # recipe 1: the bare name
        assert nd.store.count_embeddings(embedder.name) == 0
        assert len(nd.store.stale_embedding_ids(embedder.name, 10)) == len(STORIES)
        assert nd.reembed() == len(STORIES)
        ids, matrix = nd.store.load_embeddings(embedder.name)
        articles = nd.store.get_articles(ids)
        leads = [embed_text(articles[i], articles[i].text) for i in ids]
        expected = article_vectors(embedder.embed, [articles[i].title for i in ids], leads)
        assert len(ids) == len(STORIES) and np.allclose(matrix, expected, atol=1e-4)
    caplog.set_level(logging.INFO, logger="newsdesk.enrich.embed")
    with newsdesk(data_dir, port, BUNDLED) as nd:
        assert nd.reembed(1) == 0 and nd.reembed(1) == 0
    assert not [r for r in caplog.records if r.getMessage() == "embedder loaded"]


def test_the_recipe_is_part_of_the_stored_key(store: Store) -> None:
    """On SQLite and PostgreSQL: a vector stored under the bare name (recipe 1) is stale and unread."""
    made = _saved(store, "Recipe", "r", 2)
    for article_id in made:
        assert article_id is not None
        store.mark_enriched(article_id)
    with store.engine.begin() as c:
        c.execute(insert(t.embeddings).values(article_id=made[0], model="m", dim=4, vector=bytes(16)))
    store.save_embedding(made[1], "m", np.ones(4, dtype=np.float32))
    assert store.stale_embedding_ids("m", 10) == [made[0]]
    assert store.load_embeddings("m")[0] == [made[1]] and store.count_embeddings("m") == 1
    assert store.last_embedded_id("m") == made[1] and store.last_embedded_id("other") == 0
    assert store.embedded_ids_between("m", 0, made[1], 10) == [made[1]]
    assert store.embedded_ids_between("m", made[1], made[1] + 5, 10) == []
