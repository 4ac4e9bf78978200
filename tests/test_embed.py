"""The bundled MiniLM embedder: offline loading, unit vectors, backend agreement, the export cache."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import (
    _atomic_write,
    bundled_model_dir,
    embedding_text,
    length_sorted_batches,
    load_embedder,
)
from newsdesk.errors import EnrichmentError

NEWS = [
    "Stocks tumbled on Wall Street as investors fled risky assets after the rate decision.",
    "Shares fell sharply in New York trading following the Federal Reserve's interest rate hike.",
    "The striker scored twice as United won the cup final in extra time.",
    "Scientists discover a new species of tree frog in the Peruvian rainforest.",
    "Hi",
    "",  # empty text still gets a vector ([CLS] [SEP] only)
    "A very long article body. " * 200,  # past the 256-token truncation
]


def _refuse_remote(original: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host).is_loopback:
            raise OSError(f"test forbids network access to {host}")
        return original(self, address)

    return connect


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 and a socket that refuses non-loopback connections while models load."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", _refuse_remote(socket.socket.connect))
        yield


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx(offline: None, cache_dir: Path) -> Embedder:
    return load_embedder(backend="onnx", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def torch_embedder(offline: None) -> Embedder:
    return load_embedder(backend="torch")


def test_bundled_model_gives_384_d_unit_vectors(onnx: Embedder) -> None:
    vectors = onnx.embed(NEWS)
    assert onnx.name == "all-MiniLM-L6-v2/onnx-fp32"
    assert onnx.dim == 384
    assert vectors.shape == (len(NEWS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_news_scores_higher_than_unrelated(onnx: Embedder) -> None:
    markets_a, markets_b, football, frogs = onnx.embed(NEWS[:4])
    same_story = float(markets_a @ markets_b)
    assert same_story > float(markets_a @ football) + 0.3
    assert same_story > float(markets_a @ frogs) + 0.3


def test_onnx_agrees_with_torch_per_text(onnx: Embedder, torch_embedder: Embedder) -> None:
    assert torch_embedder.name == "all-MiniLM-L6-v2/torch"
    cosines = np.sum(onnx.embed(NEWS) * torch_embedder.embed(NEWS), axis=1)
    assert cosines.min() >= 0.99


def test_batching_does_not_change_vectors(offline: None, cache_dir: Path, onnx: Embedder) -> None:
    one_at_a_time = load_embedder(backend="onnx", cache_dir=cache_dir, batch_size=1).embed(NEWS)
    np.testing.assert_allclose(one_at_a_time, onnx.embed(NEWS), atol=1e-5)


def test_int8_is_close_to_fp32(offline: None, cache_dir: Path, onnx: Embedder) -> None:
    int8 = load_embedder(backend="onnx-int8", cache_dir=cache_dir)
    assert int8.name == "all-MiniLM-L6-v2/onnx-int8"
    cosines = np.sum(int8.embed(NEWS[:4]) * onnx.embed(NEWS[:4]), axis=1)
    assert cosines.min() >= 0.9


def test_export_cache_is_reused(offline: None, cache_dir: Path, onnx: Embedder) -> None:
    graphs = sorted(cache_dir.glob("*-fp32.onnx"))
    assert len(graphs) == 1
    before = graphs[0].stat()
    load_embedder(backend="onnx", cache_dir=cache_dir)
    after = graphs[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not list(cache_dir.glob(".*tmp"))  # no leftover temp files


def test_empty_input_gives_empty_matrix(onnx: Embedder, torch_embedder: Embedder) -> None:
    for embedder in (onnx, torch_embedder):
        assert embedder.embed([]).shape == (0, 384)


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(EnrichmentError, match="unknown embedding backend"):
        load_embedder(backend="tensorflow")


def test_corrupt_weights_are_a_clear_error(offline: None, tmp_path: Path) -> None:
    model = tmp_path / "broken-model"
    shutil.copytree(bundled_model_dir(), model, ignore=shutil.ignore_patterns("model.safetensors"))
    (model / "model.safetensors").write_bytes(b"not a safetensors file")
    for backend in ("onnx", "torch"):
        with pytest.raises(EnrichmentError, match="broken-model"):
            load_embedder(str(model), backend=backend, cache_dir=tmp_path / "cache")


def test_missing_model_is_a_clear_error(offline: None, tmp_path: Path) -> None:
    with pytest.raises(EnrichmentError):
        load_embedder(str(tmp_path / "no-such-model"), backend="onnx", cache_dir=tmp_path)


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "graph.onnx"

    def half_write(tmp: Path) -> None:
        tmp.write_bytes(b"half a graph")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError):
        _atomic_write(target, half_write)
    assert list(tmp_path.iterdir()) == []


def test_length_sorted_batches_cover_every_text_once() -> None:
    batches = list(length_sorted_batches([3, 9, 1, 7, 5], 2))
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [2]]


def test_embedding_text_is_title_then_body_cut_on_a_word() -> None:
    text = embedding_text("Rates  rise", "The central bank raised rates again today.", chars=30)
    assert text == "Rates rise. The central bank"
    assert embedding_text("", "Body only", chars=30) == "Body only"
    assert embedding_text("Title only", "", chars=30) == "Title only"
    assert embedding_text("Why now?", "Because.", chars=30) == "Why now? Because."
