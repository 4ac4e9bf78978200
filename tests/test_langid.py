"""py3langid's model unpacked once (``extract/langid.py``): the same languages and scores as the
package's own loading, and py3langid left to itself when the cache folder cannot be written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from py3langid import langid as package

from newsdesk.extract import langid

TEXTS = [
    "Floods in southern Brazil have killed at least 40 people; rescue teams used boats to reach them.",
    "巴西南部洪水已造成至少40人死亡。连日暴雨后，救援队乘船营救被困在屋顶上的家庭。",
    "Наводнение на юге Бразилии унесло жизни по меньшей мере 40 человек.",
    "لقي ما لا يقل عن 40 شخصا حتفهم في فيضانات جنوب البرازيل.",
    "Bei Überschwemmungen im Süden Brasiliens sind mindestens 40 Menschen ums Leben gekommen.",
    "Des inondations dans le sud du Brésil ont fait au moins 40 morts, selon les secours.",
    "THE HEADLINE IN CAPITALS ABOUT THE CENTRAL BANK AND ITS RATES",
    "12345 67890 !!! ???",
    "",
]


@pytest.fixture(scope="module")
def packaged() -> package.LanguageIdentifier:
    return package.LanguageIdentifier.from_model_file(package.MODEL_FILE)


def test_unpacked_model_classifies_as_the_package_does(
    tmp_path: Path, packaged: package.LanguageIdentifier
) -> None:
    unpacked = langid.load_cached(tmp_path)
    for text in TEXTS:
        assert unpacked.classify(text) == packaged.classify(text), text
    assert langid.load_cached(tmp_path).classify(TEXTS[0]) == packaged.classify(TEXTS[0])  # reused


def test_install_sets_the_modules_identifier_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packaged: package.LanguageIdentifier
) -> None:
    monkeypatch.setattr(package, "IDENTIFIER", None)
    monkeypatch.setattr(langid, "_installed", False)
    langid.install(tmp_path)
    installed = package.IDENTIFIER
    assert installed is not None and installed.nb_pc.dtype == packaged.nb_pc.dtype
    assert langid.classify(TEXTS[5]) == tuple(packaged.classify(TEXTS[5]))
    langid.install(tmp_path)
    assert package.IDENTIFIER is installed


def test_an_unwritable_cache_leaves_py3langid_its_own_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be", encoding="utf-8")
    monkeypatch.setattr(package, "IDENTIFIER", None)
    monkeypatch.setattr(langid, "_installed", False)
    with caplog.at_level(logging.WARNING, logger="newsdesk.extract.langid"):
        langid.install(not_a_folder)
    assert "unpacked language model not usable" in caplog.text
    assert package.IDENTIFIER is None
    assert langid.classify(TEXTS[4])[0] == "de"  # py3langid loaded its own
