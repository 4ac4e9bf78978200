"""Near-duplicate detection: signatures, the LSH index and the earliest-match rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from newsdesk.enrich import bandtable, dedupe
from newsdesk.errors import EnrichmentError

VOCABULARY = [f"w{i}" for i in range(3000)]


def article(seed: int, words: int = 300) -> str:
    """A random 'article': paragraphs of sentences from a 3,000-word vocabulary."""
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(words // 60):
        sentences = [" ".join(rng.choices(VOCABULARY, k=12)).capitalize() + "." for _ in range(5)]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def with_typos(text: str, every: int = 40) -> str:
    words = text.split(" ")
    for i in range(0, len(words), every):
        words[i] = words[i][::-1] + "x"
    return " ".join(words)


def test_identical_texts_match_and_distinct_texts_do_not() -> None:
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(article(1)))
    index.add(2, dedupe.signature(article(2)))
    hits = index.query(dedupe.signature(article(1)))
    assert hits == [(1, 1.0)]
    assert index.query(dedupe.signature(article(3))) == []
    assert len(index) == 2


def test_lightly_edited_copies_match_their_original() -> None:
    original = article(7)
    paragraphs = original.split("\n\n")
    copies = [
        "A new headline for it\n\n" + original,
        "\n\n".join(paragraphs[:2] + paragraphs[3:]),  # a dropped paragraph
        with_typos(original),
        "Completely new opening sentence here. " + original.split(". ", 1)[1],
    ]
    index = dedupe.NearDuplicateIndex()
    index.add(10, dedupe.signature(original))
    for copy in copies:
        hits = index.query(dedupe.signature(copy))
        assert [key for key, _ in hits] == [10]
        assert hits[0][1] >= dedupe.THRESHOLD


def test_formatting_does_not_change_the_signature() -> None:
    text = article(3)
    noisy = "  " + text.upper().replace(".", " !!! ").replace(" ", "  \t") + "\n"
    assert np.array_equal(dedupe.signature(text), dedupe.signature(noisy))


def test_unicode_forms_normalise_alike() -> None:
    assert dedupe.normalise("Ｃａｆé, “quoted” — text!") == dedupe.normalise("cafe\u0301 quoted text")


def test_title_only_texts_never_match() -> None:
    title = "Central bank raises interest rates again"
    sig = dedupe.signature(title)
    assert sig.size == 0
    index = dedupe.NearDuplicateIndex()
    index.add(1, sig)
    assert len(index) == 0
    assert index.query(dedupe.signature(title)) == []


def test_empty_text_gives_an_empty_signature() -> None:
    assert dedupe.signature("").size == 0
    assert dedupe.signature("   \n\t ").size == 0
    assert dedupe.jaccard(dedupe.signature(""), dedupe.signature("")) == 0.0


def test_text_without_spaces_in_another_script_is_shingled_by_character() -> None:
    rng = random.Random(5)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 400)]
    chinese = "".join(rng.choices(chars, k=300))
    other = "".join(rng.choices(chars, k=300))
    sig = dedupe.signature(chinese)
    assert dedupe.hashes(sig).size == dedupe.NUM_PERM
    index = dedupe.NearDuplicateIndex()
    index.add(1, sig)
    assert [k for k, _ in index.query(dedupe.signature(chinese[:-10] + "。"))] == [1]
    assert index.query(dedupe.signature(other)) == []


def test_cyrillic_text_works_like_any_spaced_script() -> None:
    rng = random.Random(9)
    words = ["".join(rng.choices("абвгдежзиклмнопрстуф", k=6)) for _ in range(500)]
    text = " ".join(rng.choices(words, k=200))
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(text))
    assert index.query(dedupe.signature(text.upper())) == [(1, 1.0)]


def test_a_2mb_text_is_cut_to_bounded_work() -> None:
    huge = article(11, words=600) * 600
    assert len(huge) > 2_000_000
    assert len(dedupe.tokens(huge)) <= dedupe.MAX_TOKENS
    sig = dedupe.signature(huge)
    assert dedupe.hashes(sig).size == dedupe.NUM_PERM
    # only the first MAX_CHARS characters count: the same prefix gives the same signature
    assert np.array_equal(sig, dedupe.signature(huge[: dedupe.MAX_CHARS] + "tail that is never read"))


def test_signature_round_trips_through_bytes() -> None:
    sig = dedupe.signature(article(4))
    assert sig.dtype == np.uint64
    assert np.array_equal(dedupe.signature_from_bytes(sig.tobytes()), sig)
    with pytest.raises(EnrichmentError):
        dedupe.signature_from_bytes(b"123")


def test_query_orders_best_first_then_by_id() -> None:
    original = article(21)
    index = dedupe.NearDuplicateIndex()
    index.add(5, dedupe.signature(with_typos(original, every=15)))
    index.add(3, dedupe.signature(original))
    index.add(4, dedupe.signature(original))
    hits = index.query(dedupe.signature(original))
    assert [k for k, _ in hits] == [3, 4, 5]
    assert hits[0][1] == hits[1][1] == 1.0 > hits[2][1]


def test_re_adding_an_id_replaces_its_signature() -> None:
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(article(1)))
    index.add(1, dedupe.signature(article(2)))
    assert len(index) == 1
    assert index.query(dedupe.signature(article(1))) == []
    assert index.query(dedupe.signature(article(2))) == [(1, 1.0)]


def test_find_near_duplicate_names_the_earliest_article() -> None:
    text = article(30)
    index = dedupe.NearDuplicateIndex()
    for key in (7, 8, 9):
        index.add(key, dedupe.signature(text))
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    seen = {7: t0 + timedelta(hours=2), 8: t0, 9: t0 + timedelta(hours=1)}
    found = dedupe.find_near_duplicate(dedupe.signature(with_typos(text)), index, first_seen=seen)
    assert found is not None and found.article_id == 8
    assert dedupe.THRESHOLD <= found.similarity < 1.0
    by_id = dedupe.find_near_duplicate(dedupe.signature(text), index, exclude=7)
    assert by_id == dedupe.NearDuplicate(article_id=8, similarity=1.0)
    assert dedupe.find_near_duplicate(dedupe.signature(article(31)), index) is None


def test_wrong_signature_size_and_bad_threshold_are_errors() -> None:
    index = dedupe.NearDuplicateIndex(num_perm=64)
    with pytest.raises(EnrichmentError):
        index.add(1, dedupe.signature(article(1)))
    with pytest.raises(EnrichmentError):
        dedupe.NearDuplicateIndex(threshold=0.0)
    small = dedupe.signature(article(1), num_perm=64)
    index.add(1, small)
    assert index.query(small) == [(1, 1.0)]


def commentary(quoted: str, own_seed: int, own_words: int) -> str:
    """A commentary: paragraphs of its own around a passage it quotes verbatim."""
    own = article(own_seed, words=own_words).split("\n\n")
    half = len(own) // 2
    return "\n\n".join([*own[:half], f'"{quoted}"', *own[half:]])


def test_a_commentary_quoting_an_article_is_not_its_copy() -> None:
    original = article(40, words=600)
    reply = commentary(original, own_seed=41, own_words=600)  # the whole article, and as many own words
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(original))
    inside, contains = dedupe.containment(dedupe.signature(reply), dedupe.signature(original))
    assert contains > 0.95 and inside < 0.55
    assert dedupe.jaccard(dedupe.signature(reply), dedupe.signature(original)) >= dedupe.THRESHOLD
    assert index.query(dedupe.signature(reply)) == []


def test_an_abridged_copy_is_contained_in_its_original_and_folds() -> None:
    original = article(42, words=600)
    paragraphs = original.split("\n\n")
    abridged = "\n\n".join(paragraphs[:-2])  # the last fifth dropped
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(original))
    inside, contains = dedupe.containment(dedupe.signature(abridged), dedupe.signature(original))
    assert inside > 0.95 and 0.7 < contains < 0.9
    assert [key for key, _ in index.query(dedupe.signature(abridged))] == [1]


def test_quoted_mail_lines_are_not_the_replys_own_text() -> None:
    original = article(43)
    quoted = "\n".join(f"> {line}" for line in original.split("\n"))
    own = article(44, words=120)
    reply = f"{own}\n\nOn Tue, 4 May 2004 at 10:12, Ann Example\n<ann@example.org> wrote:\n{quoted}\n"
    assert np.array_equal(dedupe.signature(reply), dedupe.signature(own))
    assert dedupe.strip_quoted(reply).strip() == own
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature(original))
    assert index.query(dedupe.signature(reply)) == []


def test_the_signature_carries_its_shingle_count() -> None:
    text = "one two three four five six seven eight nine ten " * 3
    sig = dedupe.signature(text, min_tokens=5)
    assert dedupe.shingle_count(sig) == 10  # ten distinct 3-word runs in a repeating cycle of ten words
    legacy = dedupe.hashes(dedupe.signature(article(45, words=600)))
    assert 500 < dedupe.shingle_count(legacy) < 700  # estimated: 598 distinct shingles
    with pytest.raises(EnrichmentError):
        dedupe.signature(text, num_perm=63)


def test_stored_signatures_without_the_count_still_match() -> None:
    original = article(46, words=600)
    legacy = dedupe.hashes(dedupe.signature(original))
    index = dedupe.NearDuplicateIndex()
    index.add(1, dedupe.signature_from_bytes(legacy.tobytes()))
    assert [key for key, _ in index.query(dedupe.signature(with_typos(original)))] == [1]
    assert index.query(dedupe.signature(commentary(original, own_seed=47, own_words=600))) == []


def harsh_copy(original: str, intro_seed: int) -> str:
    """The harshest syndication edit: a new headline and first paragraph, the last paragraph dropped,
    typos throughout."""
    paragraphs = original.split("\n\n")
    new_intro = article(intro_seed, words=60).split("\n\n")[0]
    return with_typos("\n\n".join(["A new headline", new_intro, *paragraphs[1:-1]]), every=25)


def test_own_share_counts_long_runs_of_new_words_only() -> None:
    original = article(50, words=600)
    assert dedupe.own_share(original, original) == 0.0
    assert dedupe.own_share(with_typos(original, every=10), original) == 0.0  # typos: short gaps
    reply = commentary(original, own_seed=51, own_words=600)
    assert 0.45 < dedupe.own_share(reply, original) < 0.55  # its own half, in whole paragraphs
    assert dedupe.own_share(original, reply) == 0.0  # the article is all inside the commentary
    assert dedupe.own_share("", original) == 0.0


def test_the_text_check_keeps_a_harsh_copy_and_drops_a_quote() -> None:
    original = article(52, words=300)
    copy = harsh_copy(original, intro_seed=53)
    reply = commentary(original, own_seed=54, own_words=200)  # two thirds quoted, one third its own
    texts = {1: original}
    index = dedupe.NearDuplicateIndex(containment=dedupe.CONTAINMENT_FLOOR)
    index.add(1, dedupe.signature(original))
    assert dedupe.is_copy(copy, original) and not dedupe.is_copy(reply, original)
    found = dedupe.find_near_duplicate(dedupe.signature(copy), index, text=copy, text_of=texts.get)
    assert found is not None and found.article_id == 1
    assert dedupe.find_near_duplicate(dedupe.signature(reply), index, text=reply, text_of=texts.get) is None


def test_without_the_earlier_text_the_signature_rule_decides() -> None:
    original = article(55, words=600)
    reply = commentary(original, own_seed=56, own_words=360)  # 6 paragraphs its own, 10 quoted
    index = dedupe.NearDuplicateIndex(containment=dedupe.CONTAINMENT_FLOOR)
    index.add(1, dedupe.signature(original))
    sig = dedupe.signature(reply)
    inside = dedupe.containment(sig, dedupe.signature(original))[0]
    assert inside >= dedupe.CONTAINMENT_THRESHOLD  # the estimate alone would call it a copy
    sealed = dedupe.find_near_duplicate(sig, index, text=reply, text_of=lambda _: None)
    assert sealed is not None
    assert dedupe.own_share(reply, original) > dedupe.OWN_SHARE
    assert dedupe.find_near_duplicate(sig, index, text=reply, text_of=lambda _: original) is None


def _shared_band_signatures(count: int, seed: int) -> list[dedupe.Signature]:
    """Random signatures in which about one band in ten takes its values from a pool of 40 shared ones,
    so that many pairs share a band or two (the index's candidates) and most pairs none."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2**63, (40, 2), dtype=np.uint64)
    out = []
    for _ in range(count):
        values = rng.integers(0, 2**63, dedupe.NUM_PERM, dtype=np.uint64)
        for band in np.flatnonzero(rng.random(dedupe.NUM_PERM // 2) < 0.1):
            values[2 * band : 2 * band + 2] = pool[rng.integers(0, len(pool))]
        out.append(np.append(values, np.uint64(200)))
    return out


def _bands(index: dedupe.NearDuplicateIndex, sig: dedupe.Signature) -> list[int]:
    """The keys of ``sig``'s LSH bands, as the index makes them (a 32-bit hash of a band's values, so two
    bands may share a key by chance: the index's candidates include those, and so does the reference)."""
    return index._band_keys(sig).tolist()


@pytest.mark.parametrize("in_file", [False, True], ids=["memory", "file"])
def test_candidates_equal_a_plain_reference_across_merges_and_replacements(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_file: bool
) -> None:
    """Thousands of adds (a tenth of them re-adding an id, some empty) into an index whose runs are
    made every 8 signatures and merged 16 entries at a time, the runs of 64 entries or more in a file
    with a fence every 5 (when ``in_file``): after each step its candidates, length and membership are
    those of a plain dict of band key -> ids."""
    monkeypatch.setattr(bandtable, "MERGE_EVERY", 8)
    monkeypatch.setattr(bandtable, "MERGE_CHUNK", 16)
    monkeypatch.setattr(bandtable, "FILE_ENTRIES", 64)
    monkeypatch.setattr(bandtable, "FENCE", 5)
    index = dedupe.NearDuplicateIndex(folder=tmp_path if in_file else None)
    assert index.rows == 2  # the pool shares bands of two values
    sigs = _shared_band_signatures(3_000, seed=1)
    reference: dict[int, set[int]] = {}
    held: dict[int, dedupe.Signature] = {}
    rng = random.Random(2)
    for step, sig in enumerate(sigs):
        article_id = rng.choice(list(held)) if held and rng.random() < 0.1 else 1_000 + step
        if step % 250 == 7:
            index.add(article_id, np.zeros(0, dtype=np.uint64))  # skipped: it neither adds nor replaces
        else:
            if article_id in held:
                for band in _bands(index, held[article_id]):
                    reference[band].discard(article_id)
            for band in _bands(index, sig):
                reference.setdefault(band, set()).add(article_id)
            held[article_id] = sig
            index.add(article_id, sig)
        if step % 97 == 0 or step == len(sigs) - 1:
            for query in [sig, *rng.sample(sigs, 5)]:
                expected = set().union(*(reference.get(band, set()) for band in _bands(index, query)))
                assert index.candidates(query) == expected
            assert len(index) == len(held)
    assert all(article_id in index for article_id in held) and 999 not in index and "x" not in index
    assert sum(len(index.candidates(sig)) for sig in held.values()) > 10 * len(held)  # bands are shared
    runs = index._table.runs()
    assert len(runs) >= 3 and any(size > 16 for size, _ in runs)  # made and merged
    assert any(filed for _, filed in runs) == in_file


def test_a_replaced_id_counts_once_and_answers_with_its_new_signature() -> None:
    index = dedupe.NearDuplicateIndex()
    first, second = dedupe.signature(article(60)), dedupe.signature(article(61))
    for article_id in range(1, 200):
        index.add(article_id, dedupe.signature(article(1000 + article_id)))
    index.add(5, first)
    index.add(5, second)
    assert len(index) == 199 and 5 in index and 200 not in index
    assert index.candidates(first) == set() and index.candidates(second) == {5}
    assert index.signature_of(5) is second
    assert index.query(second) == [(5, 1.0)]


@pytest.mark.parametrize("in_file", [False, True], ids=["memory", "file"])
def test_merging_runs_a_chunk_at_a_time_equals_sorting_them_whole(tmp_path: Path, in_file: bool) -> None:
    rng = np.random.default_rng(3)
    for older_size, newer_size, chunk in [(0, 5, 2), (40, 40, 7), (500, 60, 16), (60, 500, 16), (3, 1, 64)]:
        older = np.sort(rng.integers(0, 50, older_size).astype(np.uint64))  # many equal values
        newer = np.sort(rng.integers(0, 50, newer_size).astype(np.uint64))
        size = older_size + newer_size
        out = bandtable._FileWriter(tmp_path, size, 3) if in_file else bandtable._MemoryWriter(size)
        run = bandtable._merge(bandtable._MemoryRun(older.copy()), bandtable._MemoryRun(newer), out, chunk)
        assert np.array_equal(run.read(0, size), np.sort(np.concatenate([older, newer])))
