"""Related-article selection: the diversification rules on a hand-built exact index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from newsdesk.enrich.base import Vectors
from newsdesk.enrich.related import RelatedChoice, RelatedMeta, relate
from newsdesk.enrich.similarity import BLEND, Relation, article_names, names_to_bytes
from newsdesk.enrich.vectors import ExactIndex

DIM = 8
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
ME = 1
Row = tuple[int, float, int | None, timedelta, str]


def toward(angle: float) -> Vectors:
    """A unit vector at ``angle`` radians from axis 0: smaller angle = more similar to ME."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[0], vector[1] = np.cos(angle), np.sin(angle)
    return vector


def world(
    rows: Sequence[Row],
) -> tuple[ExactIndex, dict[int, RelatedMeta]]:
    """(id, angle, story, age, domain) rows; ME (story 100, now, me.example) is always present."""
    rows = [(ME, 0.0, 100, timedelta(0), "me.example"), *rows]
    index = ExactIndex(DIM)
    index.add([r[0] for r in rows], np.stack([toward(r[1]) for r in rows]))
    meta = {r[0]: RelatedMeta(story_id=r[2], published_at=NOW - r[3], domain=r[4]) for r in rows}
    return index, meta


def ids(choices: tuple[RelatedChoice, ...]) -> list[int]:
    return [c.article_id for c in choices]


def test_best_first_with_similarity_never_itself() -> None:
    index, meta = world([(2, 0.3, 200, timedelta(0), "a"), (3, 0.1, 300, timedelta(0), "b")])
    chosen = relate(ME, toward(0), NOW, index, meta)
    assert ids(chosen) == [3, 2]
    assert chosen[0].similarity == pytest.approx(np.cos(0.1), abs=1e-5)


def test_near_duplicates_are_excluded() -> None:
    index, meta = world([(2, 0.01, None, timedelta(0), "a"), (3, 0.2, 300, timedelta(0), "b")])
    assert ids(relate(ME, toward(0), NOW, index, meta, near_dups={2})) == [3]


def test_only_inside_the_time_window() -> None:
    index, meta = world(
        [
            (2, 0.1, 200, timedelta(days=20), "a"),  # too old
            (3, 0.2, 300, -timedelta(days=20), "b"),  # too far in the future
            (4, 0.3, 400, timedelta(days=13), "c"),
        ]
    )
    assert ids(relate(ME, toward(0), NOW, index, meta)) == [4]
    assert ids(relate(ME, toward(0), NOW, index, meta, window=timedelta(days=30))) == [2, 3, 4]


def test_one_article_per_story_and_not_my_own_story() -> None:
    index, meta = world(
        [
            (2, 0.1, 100, timedelta(0), "a"),  # my own story
            (3, 0.2, 300, timedelta(0), "b"),
            (4, 0.25, 300, timedelta(0), "c"),  # second of story 300
            (5, 0.3, None, timedelta(0), "d"),  # no story: a story of its own
            (6, 0.35, None, timedelta(0), "e"),
        ]
    )
    assert ids(relate(ME, toward(0), NOW, index, meta)) == [3, 5, 6]
    assert ids(relate(ME, toward(0), NOW, index, meta, same_story_ok=True)) == [2, 3, 5, 6]


def test_k_domain_cap_and_similarity_floor() -> None:
    index, meta = world([(i, 0.1 * i, 100 + i, timedelta(0), "same.example") for i in range(2, 9)])
    assert ids(relate(ME, toward(0), NOW, index, meta, k=3)) == [2, 3, 4]
    assert ids(relate(ME, toward(0), NOW, index, meta, max_per_domain=2)) == [2, 3]
    floor = float(np.cos(0.45))
    assert ids(relate(ME, toward(0), NOW, index, meta, min_similarity=floor)) == [2, 3, 4]
    assert relate(ME, toward(0), NOW, index, meta, k=0) == ()


def test_candidates_without_metadata_are_skipped() -> None:
    index, meta = world([(2, 0.1, 200, timedelta(0), "a"), (3, 0.2, 300, timedelta(0), "b")])
    del meta[2]
    assert ids(relate(ME, toward(0), NOW, index, meta)) == [3]


def test_overfetch_grows_past_a_crowded_story() -> None:
    # 300 articles of one story sit closer than anything else: the first fetch (50) finds only them.
    crowd = [(10 + i, 0.001 * i, 500, timedelta(0), "a") for i in range(300)]
    others = [(1000 + i, 0.5 + 0.01 * i, 600 + i, timedelta(0), "b") for i in range(5)]
    index, meta = world(crowd + others)
    assert ids(relate(ME, toward(0), NOW, index, meta)) == [10, 1000, 1001, 1002, 1003]


def test_a_calibration_reranks_other_languages_on_the_english_scale() -> None:
    index, meta = world(
        [(2, np.arccos(0.60), 200, timedelta(0), "a"), (3, np.arccos(0.45), 300, timedelta(0), "b")]
    )
    languages = {ME: "en", 2: "en-GB", 3: "zh"}
    meta = {i: replace(m, language=languages[i]) for i, m in meta.items()}
    assert ids(relate(ME, toward(0), NOW, index, meta)) == [2, 3]  # plain cosines
    chosen = relate(ME, toward(0), NOW, index, meta, calibration=BLEND)
    assert ids(chosen) == [3, 2]
    assert chosen[0].similarity == pytest.approx(BLEND.score(0.45, Relation.ENGLISH_OTHER), abs=1e-5)
    assert chosen[1].similarity == pytest.approx(0.60, abs=1e-5)


def test_shared_names_lift_a_candidate_and_articles_without_names_keep_their_order() -> None:
    """The pair score adds the names overlap (``Calibration.score_pair``): a candidate naming the same
    people and places overtakes a slightly closer vector; with no sketch stored (an article enriched
    before names were kept) the calibrated cosines rank alone, as before."""
    index, meta = world(
        [(2, np.arccos(0.62), 200, timedelta(0), "a"), (3, np.arccos(0.60), 300, timedelta(0), "b")]
    )
    meta = {i: replace(m, language="en") for i, m in meta.items()}
    assert ids(relate(ME, toward(0), NOW, index, meta, calibration=BLEND)) == [2, 3]
    quake = names_to_bytes(article_names("Arequipa, Peru: Civil Defence says"))
    named = {ME: quake, 2: names_to_bytes(article_names("Lima and Cusco")), 3: quake}
    meta = {i: replace(m, names=named[i]) for i, m in meta.items()}
    chosen = relate(ME, toward(0), NOW, index, meta, calibration=BLEND)
    assert ids(chosen) == [3, 2]
    assert chosen[0].similarity == pytest.approx(0.60 + BLEND.names_weight, abs=1e-5)
    assert chosen[1].similarity == pytest.approx(0.62, abs=1e-5)


class _ReadCounting(dict[int, RelatedMeta]):
    """Metadata that counts its bulk reads, as the enricher's store-backed mapping offers them."""

    def __init__(self, rows: dict[int, RelatedMeta]) -> None:
        super().__init__(rows)
        self.reads: list[int] = []

    def read(self, ids: Sequence[int]) -> None:
        self.reads.append(len(ids))


def test_each_search_reads_its_candidates_in_one_go_with_the_same_choices() -> None:
    """A mapping with ``read`` gets each search's candidates at once (a wider search's new ids were read
    one query per id), and the choices are those of a plain dict."""
    crowd = [(10 + i, 0.001 * i, 500, timedelta(0), "a") for i in range(300)]
    others = [(1000 + i, 0.5 + 0.01 * i, 600 + i, timedelta(0), "b") for i in range(5)]
    index, meta = world(crowd + others)
    counting = _ReadCounting(meta)
    for calibration in (None, BLEND):
        extra = {} if calibration is None else {"calibration": calibration}
        assert relate(ME, toward(0), NOW, index, counting, **extra) == relate(
            ME, toward(0), NOW, index, meta, **extra
        )
    assert (
        counting.reads == [50, 200, 305] * 2
    )  # each fetch, growing until the index (305 others) is exhausted
