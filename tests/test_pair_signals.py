"""The candidate names-sketch recipes eval/pair_signals.py scores (docs/embeddings.md, "What else the
names sketch could carry"): what each tokenizer keeps, in every script the SemEval set holds."""

from __future__ import annotations

import numpy as np

from eval import pair_signals
from newsdesk.enrich.similarity import NAMES_CAP, article_names, names_overlap


def test_capitalised_words_in_every_cased_script_and_none_in_uncased_ones() -> None:
    russian = pair_signals.capitalised_words("NTPC предлагает Андхра-Прадешу сделку; Джаган Редди ответил")
    assert russian == {"ntpc", "андхра", "прадешу", "джаган", "редди"}
    assert pair_signals.capitalised_words("Η Αθήνα και ο Τσίπρας") == {"αθήνα", "τσίπρας"}
    assert pair_signals.capitalised_words("Merkels Koalition in Berlin") == {"merkels", "koalition", "berlin"}
    assert pair_signals.capitalised_words("مصرع تلميذة في سوهاج") == set()  # Arabic: no case, no names
    assert pair_signals.capitalised_words("北京时间 COVID-19 疫情 A 股") == {"covid"}  # Latin inside Han only
    assert pair_signals.capitalised_words("G20 summit, iPhone, O'Neil") == {"neil"}  # one letter is no word


def test_numbers_meet_across_digit_scripts_and_separators() -> None:
    assert pair_signals.ascii_digits("٢٠٢٢") == "2022"  # Arabic-Indic digits are the same number
    assert pair_signals.ascii_digits("۱۴۰۰") == "1400"  # Persian digits too
    assert pair_signals.sketch_numbers("1,500 Tote; 1.500 muertos; 1\u202f500 morts") == {"#1500"}
    assert pair_signals.sketch_numbers("in 2020 15 people") == {"#2020", "#15"}  # a plain space parts numbers
    assert pair_signals.sketch_numbers("وفاة ١٥٠٠ شخص عام 2022") == {"#1500", "#2022"}
    assert pair_signals.sketch_numbers("3.5 Prozent, 3,5 per cent, 7 days") == {"#35"}  # 7: too common
    assert pair_signals.sketch_numbers("COVID-19 in 2020") == {"#19", "#2020"}


def test_stems_let_inflected_names_meet() -> None:
    nominative = pair_signals.stems(pair_signals.capitalised_words("Прадеш и Москва"))
    instrumental = pair_signals.stems(pair_signals.capitalised_words("с Прадешем, в Москве"))
    assert nominative == instrumental == {"прад", "моск"}


def test_the_shipped_recipe_hashes_as_the_product_does() -> None:
    """The recipes' sketches are cut and compared as the product's: the shipped row is the product's own."""
    text = "Acme buys Widgets. ACME shares rose in Paris in 2022."
    assert np.array_equal(pair_signals.sketch(pair_signals.names(text)), article_names(text))
    many = {f"name{i}" for i in range(200)}
    assert len(pair_signals.sketch(many)) == NAMES_CAP
    best = pair_signals.RECIPES[pair_signals.BEST_RECIPE]
    english = pair_signals.sketch(best("Putin met Erdogan in Sochi on 5 March 2020"))
    russian = pair_signals.sketch(best("Путин встретился с Эрдоганом в Сочи 5 марта 2020 года"))
    assert names_overlap(english, russian) > 0  # the year meets across scripts
