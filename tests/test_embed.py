"""The bundled embedders: MiniLM (offline loading, unit vectors, backend agreement, the export cache), USE
multilingual and their blend (the default), which must bring translations of one story together."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from newsdesk.config import load_settings, load_taxonomy
from newsdesk.enrich import bert_onnx
from newsdesk.enrich.base import Embedder
from newsdesk.enrich.embed import (
    BUNDLED_MINILM,
    BUNDLED_USE,
    DIGESTS_FILE,
    _atomic_write,
    bundled_model_dir,
    embedding_text,
    length_sorted_batches,
    load_embedder,
    session_options,
    weights_digest,
)
from newsdesk.enrich.multilingual import USE_DIM, BlendEmbedder
from newsdesk.enrich.similarity import IDENTITY, calibration_for
from newsdesk.enricher import Enricher
from newsdesk.errors import EnrichmentError
from newsdesk.model import Article, Provider
from newsdesk.store import Store

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
    return load_embedder(BUNDLED_MINILM, backend="onnx", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def torch_embedder(offline: None) -> Embedder:
    return load_embedder(BUNDLED_MINILM, backend="torch")


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
    single = load_embedder(BUNDLED_MINILM, backend="onnx", cache_dir=cache_dir, batch_size=1)
    one_at_a_time = single.embed(NEWS)
    np.testing.assert_allclose(one_at_a_time, onnx.embed(NEWS), atol=1e-5)


@pytest.fixture(scope="module")
def int8(offline: None, cache_dir: Path) -> Embedder:
    return load_embedder(BUNDLED_MINILM, backend="onnx-int8", cache_dir=cache_dir)


def test_int8_is_close_to_fp32(int8: Embedder, onnx: Embedder) -> None:
    """The default MiniLM is int8 (issue 14): each vector stays near fp32's (per text, not only ranks)."""
    assert int8.name == "all-MiniLM-L6-v2/onnx-int8"
    cosines = np.sum(int8.embed(NEWS) * onnx.embed(NEWS), axis=1)
    assert cosines.min() >= 0.97


def test_int8_vector_does_not_depend_on_the_batch(int8: Embedder) -> None:
    """Activations are quantised by the range of what runs together, so int8 embeds one text a run: a
    text's vector is the same alone, among others, in any order."""
    together = int8.embed(NEWS)
    np.testing.assert_array_equal(together[::-1], int8.embed(NEWS[::-1]))
    np.testing.assert_array_equal(together[:1], int8.embed(NEWS[:1]))


def test_auto_is_int8_and_keeps_one_graph(offline: None, tmp_path: Path) -> None:
    """``auto`` loads the int8 graph, quantised from an fp32 graph that is not left behind."""
    embedder = load_embedder(BUNDLED_MINILM, cache_dir=tmp_path)
    assert embedder.name == "all-MiniLM-L6-v2/onnx-int8"
    graphs = [p.name for p in tmp_path.iterdir() if p.name != DIGESTS_FILE]
    assert [name.endswith("-int8-per-channel.onnx") for name in graphs] == [True]


def test_export_cache_is_reused(offline: None, cache_dir: Path, onnx: Embedder) -> None:
    graphs = sorted(cache_dir.glob("*-fp32.onnx"))
    assert len(graphs) == 1
    before = graphs[0].stat()
    load_embedder(BUNDLED_MINILM, backend="onnx", cache_dir=cache_dir)
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


def test_a_rewritten_weights_file_gets_a_new_digest_in_the_same_process(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"first weights")
    first = weights_digest(tmp_path)
    assert weights_digest(tmp_path) == first  # asked twice (the desk's start, then its enricher)
    (tmp_path / "model.safetensors").write_bytes(b"other weights, longer")
    assert weights_digest(tmp_path) != first


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


# One short news item, written in five languages, and a different English story.
FLOOD = {
    "en": "Floods in southern Brazil have killed at least 40 people. Rescue teams used boats to reach "
    "families trapped on rooftops after days of heavy rain, and the governor declared a state of emergency.",
    "zh": "巴西南部洪水已造成至少40人死亡。连日暴雨后，救援队乘船营救被困在屋顶上的家庭，州长宣布进入紧急状态。",
    "ru": "Наводнение на юге Бразилии унесло жизни по меньшей мере 40 человек. После нескольких дней "
    "проливных дождей спасатели на лодках добирались до семей, оказавшихся на крышах, а губернатор "
    "объявил чрезвычайное положение.",
    "ar": "لقي ما لا يقل عن 40 شخصا حتفهم في فيضانات جنوب البرازيل. واستخدمت فرق الإنقاذ القوارب للوصول "
    "إلى العائلات العالقة على أسطح المنازل بعد أيام من الأمطار الغزيرة، وأعلن الحاكم حالة الطوارئ.",
    "de": "Bei Überschwemmungen im Süden Brasiliens sind mindestens 40 Menschen ums Leben gekommen. "
    "Rettungskräfte erreichten mit Booten Familien, die nach tagelangem Starkregen auf Dächern festsaßen; "
    "der Gouverneur rief den Notstand aus.",
}
OTHER_STORY = (
    "The central bank left interest rates unchanged on Thursday. Its governor said inflation was easing "
    "but warned that wage growth remained too strong for a cut before the summer."
)


@pytest.fixture(scope="module")
def blend(offline: None, cache_dir: Path) -> Embedder:
    return load_embedder(cache_dir=cache_dir)


def test_default_is_the_multilingual_blend(blend: Embedder) -> None:
    vectors = blend.embed(NEWS)
    assert blend.name == "use-multilingual-v3/numpy+all-MiniLM-L6-v2/onnx-int8@0.5"
    assert vectors.shape == (len(NEWS), 512 + 384) and blend.dim == 896
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert blend.embed([]).shape == (0, 896)


def test_translations_of_one_story_are_closer_than_another_english_story(blend: Embedder) -> None:
    languages = list(FLOOD)
    vectors = blend.embed([FLOOD[lang] for lang in languages] + [OTHER_STORY])
    english, other = vectors[0], vectors[-1]
    unrelated = float(english @ other)
    for language, vector in zip(languages[1:], vectors[1:-1], strict=True):
        # measured: the blend 0.47-0.56 against 0.00; MiniLM alone 0.04-0.21 against -0.02 (fails)
        assert float(english @ vector) > unrelated + 0.3, language


def test_blend_cosine_mixes_the_models_for_english_only(
    blend: Embedder, int8: Embedder, use: Embedder
) -> None:
    """English–English: the mean of both models' cosines; English–German: USE's cosine × √(1 − w)."""
    texts = [FLOOD["en"], OTHER_STORY, FLOOD["de"]]
    b, m, u = blend.embed(texts), int8.embed(texts), use.embed(texts)
    assert float(b[0] @ b[1]) == pytest.approx(0.5 * float(m[0] @ m[1]) + 0.5 * float(u[0] @ u[1]), abs=1e-5)
    assert float(b[0] @ b[2]) == pytest.approx(math.sqrt(0.5) * float(u[0] @ u[2]), abs=1e-5)
    np.testing.assert_allclose(b[2, 512:], 0.0)


def test_a_capped_blend_gives_minilm_only_the_start_of_a_long_text(
    offline: None, cache_dir: Path, int8: Embedder, blend: Embedder
) -> None:
    """MiniLM's cost grows with the tokens it reads, so issue 14 swept a cap on them (``minilm_tokens``;
    docs/embeddings.md, "MiniLM's window and graph": not shipped, it cost same-story recall). Capped, two texts
    that differ only past the cap get the same MiniLM half while USE still reads them whole, and the
    vectors carry a new name (stored ones would be re-embedded) that keeps the blend's calibration."""
    capped = load_embedder(cache_dir=cache_dir, minilm_tokens=96)
    assert capped.name == "use-multilingual-v3/numpy+all-MiniLM-L6-v2/onnx-int8-96t@0.5"
    start = " ".join([FLOOD["en"]] * 4)  # about 180 tokens, past the cap
    texts = [f"{start} {OTHER_STORY}", f"{start} The striker scored twice as United won the cup final."]
    first, second = capped.embed(texts)
    np.testing.assert_allclose(first[USE_DIM:], second[USE_DIM:], atol=1e-6)
    assert float(first[:USE_DIM] @ second[:USE_DIM]) < 0.999 * float(first[:USE_DIM] @ first[:USE_DIM])
    whole = int8.embed(texts)  # uncapped MiniLM reads up to 256 tokens: the tails count
    assert float(whole[0] @ whole[1]) < 0.999
    assert calibration_for(capped.name) is calibration_for(blend.name)
    assert calibration_for(capped.name) is not IDENTITY


@pytest.fixture(scope="module")
def use(offline: None) -> Embedder:
    return load_embedder(BUNDLED_USE)


def test_use_alone_gives_512_d_unit_vectors(use: Embedder) -> None:
    vectors = use.embed(NEWS)
    assert use.name == "use-multilingual-v3/numpy"
    assert vectors.shape == (len(NEWS), 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_blend_weight_out_of_range_is_a_clear_error(use: Embedder, onnx: Embedder) -> None:
    with pytest.raises(EnrichmentError, match="english_weight"):
        BlendEmbedder(use, onnx, 1.5)


def _flood_article(n: int, text: str) -> Article:
    return Article(
        title=text.split(".")[0][:80],
        web_url=f"https://wire.example/2026/12/{n}/floods",
        original_url=f"https://wire.example/2026/12/{n}/floods",
        provider=Provider("Wire", "wire.example"),
        published_at=datetime(2026, 12, 5, 8, tzinfo=UTC) + timedelta(hours=n),
        text=text,
        content_hash=f"flood-{n}",
    )


def test_a_new_embedder_never_mixes_with_the_old_ones_stories(
    sqlite_store: Store, tmp_path: Path, onnx: Embedder, blend: Embedder
) -> None:
    """After the model changes (here MiniLM → the blend, 384 → 896 dims), an old story's centroid is not
    compared with new vectors: enrichment goes on, and the new article starts a story of its own (the
    old article's vector is made again by the new model, its story's centroid is not)."""
    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(tmp_path)}, base_dir=tmp_path)
    taxonomy = load_taxonomy(None)
    first = sqlite_store.save_article(_flood_article(1, FLOOD["en"]), new=True).id
    Enricher(settings, sqlite_store, taxonomy, embedder=onnx).run([first])
    second = sqlite_store.save_article(_flood_article(2, FLOOD["de"]), new=True).id
    Enricher(settings, sqlite_store, taxonomy, embedder=blend).run([second])
    stories = {i: a.story_id for i, a in sqlite_store.get_articles([first, second]).items()}
    assert None not in stories.values() and stories[first] != stories[second]
    # the run after the switch re-embedded the old article too (reembed.py): one model's vectors remain
    assert sqlite_store.count_embeddings(blend.name) == 2 and sqlite_store.count_embeddings(onnx.name) == 0
    third = sqlite_store.save_article(_flood_article(3, FLOOD["ru"]), new=True).id
    Enricher(settings, sqlite_store, taxonomy, embedder=blend).run([third])
    assert sqlite_store.get_articles([third])[third].story_id == stories[second]


def test_only_bert_checkpoints_are_written_without_torch(tmp_path: Path) -> None:
    """The bundled MiniLM is built from its weights; an architecture the builder does not know is left
    to the torch tracer rather than written wrong."""
    assert bert_onnx.can_build(bundled_model_dir())
    other = tmp_path / "mpnet"
    shutil.copytree(bundled_model_dir(), other)
    config = json.loads((other / "config.json").read_text(encoding="utf-8"))
    (other / "config.json").write_text(json.dumps({**config, "model_type": "mpnet"}), encoding="utf-8")
    assert not bert_onnx.can_build(other)


def test_onnx_threads_sleep_rather_than_spin() -> None:
    """Spinning ORT threads burn a shared core between batches (issue 14's profile)."""
    options = session_options()
    for entry in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert options.get_session_config_entry(entry) == "0"


def test_layer_norms_run_unfused(int8: Embedder, cache_dir: Path, tmp_path: Path) -> None:
    """ORT's SkipLayerNormalization kernel cost a quarter of int8 MiniLM's time (embed.py,
    ORT_DISABLED_OPTIMIZERS): the graph ORT runs keeps each residual Add and LayerNormalization apart."""
    import onnx as onnx_lib
    import onnxruntime as ort

    options = session_options()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    (graph,) = cache_dir.glob("*-int8-per-channel.onnx")
    ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])
    ops = {node.op_type for node in onnx_lib.load(options.optimized_model_filepath).graph.node}
    assert "SkipLayerNormalization" not in ops
    assert {"LayerNormalization", "DynamicQuantizeMatMul"} <= ops  # the other fusions still apply


def test_use_runs_on_one_blas_thread(use: Embedder) -> None:
    """OpenBLAS's second thread spins while it waits: 181 texts cost 3.9 CPU-s on two threads, 0.7 on
    one (docs/benchmarks.md, "Lean pipeline")."""
    assert use._model.threads == 1  # type: ignore[attr-defined]


def test_a_digest_kept_in_the_graphs_folder_spares_the_next_process_the_hash(tmp_path: Path) -> None:
    weights, known = tmp_path / "model" / "model.safetensors", tmp_path / "cache" / DIGESTS_FILE
    weights.parent.mkdir()
    weights.write_bytes(b"first weights")
    first = weights_digest(weights.parent, known)
    assert first == weights_digest(weights.parent)  # the same digest as hashing it
    # Another process finds the kept digest: proven by a kept value the file's bytes would not give.
    book = json.loads(known.read_text(encoding="utf-8"))
    book[str(weights)]["sha256"] = "f" * len(first)
    known.write_text(json.dumps(book), encoding="utf-8")
    assert weights_digest(weights.parent, known) == "f" * len(first)
    # A rewritten file (another size and time) is hashed again, and the book follows it.
    weights.write_bytes(b"other weights, longer")
    second = weights_digest(weights.parent, known)
    assert second not in (first, "f" * len(first))
    assert json.loads(known.read_text(encoding="utf-8"))[str(weights)]["sha256"] == second
    # A damaged book is replaced, not an error; a folder that cannot be written only means no book.
    known.write_text("{not json", encoding="utf-8")
    assert weights_digest(weights.parent, known) == second
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    assert weights_digest(weights.parent, tmp_path / "a-file" / DIGESTS_FILE) == second


ORT_TELEMETRY_PROBE = """
import sys
from pathlib import Path
from newsdesk.enrich.embed import load_embedder
embedder = load_embedder("bundled-minilm", backend="onnx-int8", cache_dir=Path(sys.argv[1]))
assert embedder.embed(["Rates rose again."]).shape == (1, embedder.dim)
print("ok")
"""


def test_onnx_runtime_keeps_no_device_id_and_queues_no_usage_events(
    int8: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    """ONNX Runtime's wheels report usage to Microsoft unless told not to (enrich/ortenv.py): a run that
    embeds leaves no device id and no event queue in its home folder. Checked in a fresh interpreter
    with a home of its own and no operator setting, since the runtime reads the switch once a process.
    (The same session started without newsdesk's switch writes ``.cache/Microsoft/DeveloperTools``
    there, with onnxruntime 1.31.1: not run here, as it would try to send its event.)"""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_") and k != "XDG_CACHE_HOME"}
    done = subprocess.run(
        [sys.executable, "-c", ORT_TELEMETRY_PROBE, str(cache_dir)],
        env=env | {"HOME": str(home), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]
    assert list(home.rglob("*")) == []
