"""USE on ONNX Runtime (``enrich/use_onnx.py``): numpy's vectors to float rounding on any texts and
batches, under the same name; graphs written once (by ``newsdesk init`` or the first load) and reused;
the numpy forward pass where the graphs cannot be had; no dense layers held beside the graphs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from newsdesk.enrich import use_onnx, usecache
from newsdesk.enrich.embed import BUNDLED_USE, prepare_graph
from newsdesk.enrich.multilingual import USE_THREADS, UseEmbedder, load_use
from newsdesk.rowfile import RowFile

# Ten languages, the inputs the tokenizers treat apart (a literal <s>, an unknown run, nothing at all),
# one piece, and a text past the token budget (its own run).
TEXTS = [
    "A magnitude 6.1 earthquake struck off the coast of Chile on Tuesday; no tsunami warning was issued.",
    "周二智利沿海发生6.1级地震，未发布海啸预警。",
    "Во вторник у побережья Чили произошло землетрясение магнитудой 6,1.",
    "ضرب زلزال بقوة 6.1 درجة قبالة سواحل تشيلي يوم الثلاثاء.",
    "Ein Erdbeben der Stärke 6,1 hat am Dienstag die Küste Chiles erschüttert.",
    "火曜日、チリ沖でマグニチュード6.1の地震が発生した。",
    "화요일 칠레 해안에서 규모 6.1의 지진이 발생했다.",
    "Un sismo de magnitud 6,1 sacudió el martes la costa de Chile.",
    "เกิดแผ่นดินไหวขนาด 6.1 นอกชายฝั่งชิลีเมื่อวันอังคาร",
    "Salı günü Şili açıklarında 6,1 büyüklüğünde deprem meydana geldi.",
    "\tspaced  out ﬁ, ＦＵＬＬ width, two emoji 🌋🌋, rare 𠀀𠀁 and a literal <s> tag </s> ",
    "",
    "a",
    "An article body that goes on and on, past the token budget of one run. " * 40,
]
CLOSE = 1e-5  # largest coordinate difference allowed; measured: ≤ 3.4e-7


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    prepare_graph(BUNDLED_USE, "auto", models)
    return models


@pytest.fixture(scope="module")
def on_ort(models_dir: Path) -> UseEmbedder:
    return load_use(models_dir)


@pytest.fixture(scope="module")
def on_numpy(models_dir: Path) -> UseEmbedder:
    return UseEmbedder(usecache.load_cached(models_dir, USE_THREADS))


def copy_models(models_dir: Path, target: Path) -> Path:
    """A models folder of its own (unpacked model and graphs), for a test that damages it."""
    shutil.copytree(models_dir, target)
    return target


def test_a_load_runs_on_onnx_runtime_under_the_same_name(on_ort: UseEmbedder, on_numpy: UseEmbedder) -> None:
    """The stored vectors' name stays: no store re-embeds for a change of runtime."""
    assert (on_ort.runtime, on_numpy.runtime) == ("onnxruntime", "numpy")
    assert on_ort.name == on_numpy.name == "use-multilingual-v3/numpy"
    assert on_ort.tokenizer == "sentencepiece" and on_ort.dim == 512


def test_onnx_runtime_gives_numpys_vectors(on_ort: UseEmbedder, on_numpy: UseEmbedder) -> None:
    got, expected = on_ort.embed(TEXTS), on_numpy.embed(TEXTS)
    assert got.shape == (len(TEXTS), 512) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=CLOSE)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_any_batch_gives_a_text_the_same_vector(on_ort: UseEmbedder, on_numpy: UseEmbedder) -> None:
    """Mixed lengths cut into runs at other places (alone, in reverse, 60 texts in one call)."""
    mixed = [TEXTS[i % len(TEXTS)][: 17 * i + 1] for i in range(60)]
    expected = on_numpy.embed(mixed)
    np.testing.assert_allclose(on_ort.embed(mixed), expected, rtol=0, atol=CLOSE)
    np.testing.assert_allclose(on_ort.embed(mixed[::-1])[::-1], expected, rtol=0, atol=CLOSE)
    alone = np.concatenate([on_ort.embed([text]) for text in mixed[:20]])
    np.testing.assert_allclose(alone, expected[:20], rtol=0, atol=CLOSE)
    assert on_ort.embed([]).shape == (0, 512)


def test_only_the_graphs_hold_the_dense_layers(on_ort: UseEmbedder) -> None:
    """The process keeps the tokenizer, the table on disk and its 17 blocks' scales, not numpy's
    layers (the running desk's resident size counts)."""
    backend = on_ort._model._backend
    assert isinstance(backend, use_onnx.OrtBackend) and isinstance(backend._lookup.table, RowFile)
    held = [*vars(backend).values(), *vars(backend._lookup).values()]
    assert sum(value.nbytes for value in held if isinstance(value, np.ndarray)) <= 2 * 17 * 4


def test_the_sessions_run_one_thread_that_does_not_spin(on_ort: UseEmbedder) -> None:
    backend = on_ort._model._backend
    for session in (backend._tokens, backend._head):
        options = session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_init_writes_the_graphs_and_later_loads_reuse_them(tmp_path: Path) -> None:
    line = prepare_graph(BUNDLED_USE, "auto", tmp_path)
    folder = use_onnx.graphs_folder(tmp_path)
    assert f"{folder} (written)" in line
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(stamps) == {use_onnx.TOKENS_FILE, use_onnx.HEAD_FILE}
    assert load_use(tmp_path).runtime == "onnxruntime"
    assert f"{folder} (existing)" in prepare_graph(BUNDLED_USE, "auto", tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_a_load_that_finds_no_graphs_writes_them(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = copy_models(models_dir, tmp_path / "models")
    shutil.rmtree(use_onnx.graphs_folder(models))
    with caplog.at_level(logging.INFO, logger="newsdesk.enrich.use_onnx"):
        assert load_use(models).runtime == "onnxruntime"
    assert "writing USE's ONNX graphs" in caplog.text
    assert use_onnx.graphs_folder(models).is_dir()


@pytest.mark.parametrize("damage", ["corrupt", "missing", "unwritable"])
def test_graphs_that_cannot_be_had_leave_numpy_running(
    damage: str, models_dir: Path, tmp_path: Path, on_numpy: UseEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    models = copy_models(models_dir, tmp_path / "models")
    folder = use_onnx.graphs_folder(models)
    if damage == "corrupt":
        (folder / use_onnx.TOKENS_FILE).write_bytes(b"not an onnx graph")
    elif damage == "missing":
        (folder / use_onnx.HEAD_FILE).unlink()
    else:  # a file where the folder would be written
        shutil.rmtree(folder)
        folder.write_text("in the way", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="newsdesk.enrich.multilingual"):
        embedder = load_use(models)
    assert "USE's ONNX graphs not usable" in caplog.text
    assert embedder.runtime == "numpy" and embedder.name == on_numpy.name
    np.testing.assert_array_equal(embedder.embed(TEXTS), on_numpy.embed(TEXTS))
