"""The candidate names-sketch recipes eval/pair_signals.py scores (docs/embeddings.md, "What else the
names sketch could carry"): each is hashed and cut as the product's sketch is, and the shipped one is the
product's own tokenizer (its tests: tests/test_similarity.py)."""

from __future__ import annotations

import numpy as np

from eval import pair_signals
from newsdesk.enrich.similarity import NAMES_CAP, article_names, names_overlap


def test_the_shipped_recipe_hashes_as_the_product_does() -> None:
    """The recipes' sketches are cut and compared as the product's: the shipped row is the product's own."""
    text = "Acme buys Widgets. ACME shares rose in Paris in 2022; Путин в Москве."
    best = pair_signals.RECIPES[pair_signals.BEST_RECIPE]
    assert np.array_equal(pair_signals.sketch(best(text)), article_names(text))
    assert pair_signals.names(text) == {"acme", "widgets", "paris"}  # the old recipe: Latin script only
    many = {f"name{i}" for i in range(200)}
    assert len(pair_signals.sketch(many)) == NAMES_CAP
    english = pair_signals.sketch(best("Putin met Erdogan in Sochi on 5 March 2020"))
    russian = pair_signals.sketch(best("Путин встретился с Эрдоганом в Сочи 5 марта 2020 года"))
    assert names_overlap(english, russian) > 0  # the year meets across scripts
