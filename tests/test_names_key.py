"""The names sketch keyed with a key derived from the store's sealing key (left open by issue #15).

The sketch (``similarity.article_names``) holds hashes of an article's name stems and numbers, stored beside
the sealed text. Unkeyed (CRC-32), anyone with the database could hash a dictionary of candidate names and
every number up to a million and read back what a sealed article mentions. Keyed (BLAKE2b with a subkey
of the active sealing key), the same attack finds nothing, while two articles with the same names still
match under one key. Rotation makes the sketches again; a sketch under another key, an unkeyed one and a
missing one count as no names until made again, never as a match.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.enrich import related
from newsdesk.enrich.similarity import (
    BLEND,
    SKETCH_FORMAT,
    SketchKey,
    article_names,
    hash_tokens,
    name_tokens,
    names_for_key,
    names_from_bytes,
    names_to_bytes,
    read_sketch,
    sketch_header,
    stored_overlap,
)
from newsdesk.enrich.vectors import ExactIndex
from newsdesk.errors import CryptoError
from newsdesk.model import Article, Provider
from newsdesk.reembed import RESKETCH_PASS_KEY, Resketcher
from newsdesk.secure import AAD_LABEL, NAMES_CONTEXT, KeyRing, create_key_file, generate_key
from newsdesk.store import Store
from tests.conftest import quiet_env

KEY = SketchKey(bytes(range(32)))
OTHER = SketchKey(bytes(range(1, 33)))
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

SECRET = "Auditor Quentin Marlowe paid 48,213 euros to Harbourcorp in 2026."
SAME_NAMES = "Harbourcorp took 48213 euros in 2026 from Auditor Quentin Marlowe."


@functools.cache
def dictionary() -> dict[str, set[str]]:
    """What someone holding the database alone can try: every number from 10 to 199,999 and the stems
    of the names they suspect, hashed without our key (CRC-32, as the sketch was, and plain BLAKE2b)."""
    tokens = {f"#{n}" for n in range(10, 200_000)} | {"quen", "marl", "harb", "audi", "euro"}
    crc = {int(h) for h in hash_tokens(tokens, cap=len(tokens))}
    unkeyed = SketchKey(bytes(32))  # an all-zero key: the best an attacker without ours can guess
    return {
        "crc": {str(h) for h in crc},
        "zero key": {str(h) for h in hash_tokens(tokens, cap=len(tokens), key=unkeyed)},
    }


def recovered(sketch: np.ndarray) -> dict[str, int]:
    """How many of the sketch's hashes each unkeyed dictionary finds."""
    found = {str(int(h)) for h in sketch}
    return {name: len(found & hashes) for name, hashes in dictionary().items()}


# ------------------------------------------------------------------------------- the sketch itself


def test_an_unkeyed_hash_of_the_right_words_finds_nothing_in_a_keyed_sketch() -> None:
    """The attack works on the unkeyed sketch (all six tokens read back) and finds none of a keyed one:
    the hashes read from the stored bytes are a keyed PRF's, which no dictionary reaches without the key."""
    assert name_tokens(SECRET) == {"audi", "quen", "marl", "harb", "#48213", "#2026"}
    assert recovered(article_names(SECRET))["crc"] == 6  # the hole: CRC-32 of the candidates
    stored = names_to_bytes(article_names(SECRET, key=KEY), KEY)
    sketch = read_sketch(stored)
    assert sketch is not None and sketch.tag == KEY.tag and sketch.names.size == 6
    assert recovered(sketch.names) == {"crc": 0, "zero key": 0}


def test_two_articles_with_the_same_names_match_under_one_key_and_never_across_keys() -> None:
    first, second = (names_to_bytes(article_names(t, key=KEY), KEY) for t in (SECRET, SAME_NAMES))
    assert stored_overlap(read_sketch(first), read_sketch(second)) == 1.0
    other = names_to_bytes(article_names(SAME_NAMES, key=OTHER), OTHER)
    assert stored_overlap(read_sketch(first), read_sketch(other)) == 0.0  # same names, another key
    legacy = names_to_bytes(article_names(SAME_NAMES))
    assert stored_overlap(read_sketch(first), read_sketch(legacy)) == 0.0  # unkeyed: another function
    assert stored_overlap(read_sketch(legacy), read_sketch(legacy)) == 1.0  # old sketches among themselves
    assert stored_overlap(read_sketch(first), None) == 0.0


def test_stored_bytes_say_which_key_made_them() -> None:
    """A keyed sketch is :data:`SKETCH_FORMAT`, the key's tag, then the hashes: one byte over a multiple
    of four, so it never reads as an unkeyed one (a multiple of four). Asked for another key's hashes, the
    reader gives none; bytes of no known shape are no sketch rather than an error mid-run."""
    names = article_names(SECRET, key=KEY)
    stored = names_to_bytes(names, KEY)
    assert stored.startswith(SKETCH_FORMAT + KEY.tag) and len(stored) % 4 == 1
    assert stored.startswith(sketch_header(KEY))
    assert np.array_equal(names_from_bytes(stored, KEY), names)
    assert names_from_bytes(stored, OTHER).size == 0 and names_from_bytes(stored).size == 0
    assert names_from_bytes(names_to_bytes(article_names(SECRET)), KEY).size == 0
    assert names_to_bytes(article_names("no names here"), KEY) == sketch_header(KEY)  # known empty
    assert read_sketch(sketch_header(KEY)) is not None  # ...which is not "none known"
    assert read_sketch(b"\x02" + stored[1:]) is None and read_sketch(stored[:-2]) is None
    assert read_sketch(None) is None


def test_a_story_state_keeps_its_names_only_under_the_key_that_made_them() -> None:
    hashes = [int(h) for h in article_names(SECRET, key=KEY)]
    assert names_for_key(hashes, KEY.label, KEY).tolist() == hashes
    assert names_for_key(hashes, KEY.label, OTHER).size == 0
    assert names_for_key(hashes, None, KEY).size == 0  # a state saved before keying
    assert names_for_key(hashes, None, None).tolist() == hashes  # encryption off: unkeyed throughout


def test_the_keyed_hash_keeps_the_width_so_collisions_do_not_rise() -> None:
    """300,000 distinct tokens: as many distinct 32-bit hashes, up to the birthday collisions a
    32-bit hash must have (n² / 2³³ ≈ 10), as CRC-32 — the keyed hash renames buckets, no more."""
    tokens = {f"#{n}" for n in range(300_000)}
    expected = len(tokens) ** 2 / 2**33
    for key in (None, KEY, OTHER):
        hashes = hash_tokens(tokens, cap=len(tokens), key=key)
        assert len(tokens) - hashes.size <= 3 * expected, key
        assert int(hashes[-1]) > 2**32 - 2**20  # the whole width is used


def test_a_sketch_key_is_a_derived_subkey_and_says_so_when_wrong() -> None:
    key = generate_key()
    ring = KeyRing({"k1": key}, "k1")
    derived = ring.derive(NAMES_CONTEXT)
    assert len(derived) == 32 and derived != key and derived == ring.derive(NAMES_CONTEXT)
    assert derived != ring.derive(b"newsdesk/another-use/v1")
    assert (
        SketchKey(derived).tag != SketchKey(KeyRing({"k2": generate_key()}, "k2").derive(NAMES_CONTEXT)).tag
    )
    assert derived.hex() not in repr(SketchKey(derived)) and "secret" not in repr(SketchKey(derived))
    with pytest.raises(CryptoError, match="context of its own"):
        ring.derive(AAD_LABEL + b"k1")
    with pytest.raises(ValueError, match="32 bytes, got 16"):
        SketchKey(bytes(16))


def test_related_articles_score_shared_names_only_under_one_key() -> None:
    """The related stage reads both sketches from the store: the same names add the names weight under
    one key, nothing when the candidate's sketch is of another key (before it is made again)."""
    own, candidate = np.array([[1.0, 0.0, 0.0], [0.5, 0.75**0.5, 0.0]], dtype=np.float32)
    index = ExactIndex(3)
    index.add([2], candidate[None, :])
    keyed = names_to_bytes(article_names(SECRET, key=KEY), KEY)

    def score(names: bytes) -> float:
        meta = {1: related.RelatedMeta(None, T0, "a.example", "en", keyed)}
        meta[2] = related.RelatedMeta(None, T0, "b.example", "en", names)
        (choice,) = related.relate(1, own, T0, index, meta, k=1, calibration=BLEND)
        return choice.similarity

    assert score(names_to_bytes(article_names(SAME_NAMES, key=KEY), KEY)) == pytest.approx(
        0.5 + BLEND.names_weight
    )
    assert score(names_to_bytes(article_names(SAME_NAMES, key=OTHER), OTHER)) == pytest.approx(0.5)
    assert score(names_to_bytes(article_names(SAME_NAMES))) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------ in the store


def saved(store: Store, n: int, title: str, text: str, names: bytes | None, *, signature: bool = True) -> int:
    """An article stored as the fold leaves it: its signature and (when given) its names sketch."""
    url = f"https://news{n}.example.com/{n}"
    found = Article(
        title, url, url, Provider(f"News {n}", f"news{n}.example.com"), text=text, published_at=T0
    )
    article_id = store.save_article(found).id
    assert article_id is not None
    if signature:
        store.save_minhash(article_id, b"\x00" * 8, names=names)
    return article_id


def test_the_store_finds_the_sketches_not_made_under_the_current_key(store: Store) -> None:
    missing = saved(store, 1, "One", SECRET, None)  # enriched before sketches were kept
    legacy = saved(store, 2, "Two", SECRET, names_to_bytes(article_names(SECRET)))
    other = saved(store, 3, "Three", SECRET, names_to_bytes(article_names(SECRET, key=OTHER), OTHER))
    saved(store, 4, "Four", SECRET, names_to_bytes(article_names(SECRET, key=KEY), KEY))
    saved(store, 5, "Five", SECRET, None, signature=False)  # not enriched yet: enrichment will sketch it
    header = sketch_header(KEY)
    assert store.stale_sketch_ids(header, 0, 10) == [missing, legacy, other]
    assert store.stale_sketch_ids(header, missing, 1) == [legacy]
    assert store.stale_sketch_ids(sketch_header(OTHER), 0, 10) == [missing, legacy, other + 1]


def test_stale_sketches_are_made_again_and_a_text_that_does_not_open_is_skipped(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [
        saved(store, n, f"Title {n}", f"{SECRET} Extra{n}", names_to_bytes(article_names(SECRET)))
        for n in range(3)
    ]
    locked = ids[1]

    def open_text(article: Article) -> str:
        if article.id == locked:
            raise CryptoError("unknown key id 'gone'")
        return article.text

    resketcher = Resketcher(store, open_text)
    with caplog.at_level(logging.WARNING, logger="newsdesk.reembed"):
        assert resketcher.run(KEY, 2, batch=1) == 1  # looked at two, one did not open
        assert resketcher.run(KEY) == 1  # the cursor goes on: the locked one is not asked again
    assert [r.article_id for r in caplog.records if r.getMessage() == "sealed text does not open"] == [locked]
    blobs = store.names_by_id(ids)
    for n in (0, 2):
        expected = article_names(f"Title {n}\n\n{SECRET} Extra{n}", key=KEY)
        assert np.array_equal(names_from_bytes(blobs[ids[n]], KEY), expected)
    assert names_from_bytes(blobs[locked], KEY).size == 0  # its unkeyed sketch: no names, not a match
    assert store.stale_sketch_ids(sketch_header(KEY), 0, 10) == [locked]
    assert resketcher.run(KEY) == 0  # remembered clean under this key
    assert store.get_meta(RESKETCH_PASS_KEY) == {"key": KEY.label, "after": store.last_article_id()}
    readable = Resketcher(store, lambda a: a.text)  # another process: the store says where the pass is
    assert readable.run(KEY) == 0
    assert readable.run(OTHER) == 3  # another key: every sketch again, the locked one's text now readable
    later = saved(store, 9, "Later", SECRET, names_to_bytes(article_names(SECRET)))  # an old process's
    assert Resketcher(store, lambda a: a.text).run(OTHER) == 1  # reads only what came after the mark
    assert names_from_bytes(store.names_by_id([later])[later], OTHER).size > 0


# ------------------------------------------------------------------------ a desk, end to end


def desk_settings(data_dir: Path, *, encrypt: bool) -> Newsdesk:
    env = quiet_env(
        data_dir,
        NEWSDESK_ENCRYPT="1" if encrypt else "0",
        NEWSDESK_ENRICH="1",
        NEWSDESK_EMBED_MODEL="bundled-minilm",
    )
    settings = load_settings(env=env, base_dir=data_dir)
    if encrypt:
        create_key_file(settings.key_path)
    return Newsdesk(settings)


@pytest.fixture
def sealed_desk(tmp_path: Path) -> Iterator[Newsdesk]:
    with desk_settings(tmp_path, encrypt=True) as nd:
        yield nd


def sealed(nd: Newsdesk, n: int, title: str, text: str) -> int:
    """An article stored as ingestion stores it with encryption on: its text sealed, none in the clear."""
    box = nd.key_ring.encrypt(text)
    url = f"https://news{n}.example.com/{n}"
    provider = Provider(f"News {n}", f"news{n}.example.com")
    found = Article(
        title,
        url,
        url,
        provider,
        secured=box.secured,
        key_id=box.key_id,
        published_at=T0 + timedelta(minutes=n),
    )
    article_id = nd.store.save_article(found).id
    assert article_id is not None
    return article_id


def story_state(nd: Newsdesk, article_id: int) -> dict[str, object]:
    story_id = nd.store.get_articles([article_id])[article_id].story_id
    assert story_id is not None
    ((_, _, state),) = nd.store.stories_by_id([story_id])
    return dict(state)


REPORTS = (
    ("Harbour ledger", SECRET),
    ("Quentin Marlowe questioned", SAME_NAMES),
    ("Marlowe in court", "Auditor Quentin Marlowe told the court Harbourcorp paid 48213 in 2026."),
)


def test_a_sealed_desk_keys_its_sketches_and_a_rotation_makes_them_again(sealed_desk: Newsdesk) -> None:
    nd = sealed_desk
    first, second = (sealed(nd, n, *REPORTS[n]) for n in (0, 1))
    nd.enricher.run([first, second])
    key = nd.keys.sketch_key()
    assert key is not None
    blobs = nd.store.names_by_id([first, second])
    for article_id, (title, text) in zip((first, second), REPORTS, strict=False):
        assert np.array_equal(
            names_from_bytes(blobs[article_id], key), article_names(f"{title}\n\n{text}", key=key)
        )
        sketch = read_sketch(blobs[article_id])
        assert sketch is not None and recovered(sketch.names) == {"crc": 0, "zero key": 0}
    assert stored_overlap(read_sketch(blobs[first]), read_sketch(blobs[second])) == 1.0
    assert story_state(nd, first)["names_key"] == key.label

    result = nd.keys.rotate()
    assert result["reencrypted"] == 2 and result["sketches"] == 2
    new = nd.keys.sketch_key()
    assert new is not None and new.tag != key.tag
    blobs = nd.store.names_by_id([first, second])
    assert names_from_bytes(blobs[first], key).size == 0  # nothing left under the old key
    assert np.array_equal(
        names_from_bytes(blobs[first], new), article_names(f"{REPORTS[0][0]}\n\n{SECRET}", key=new)
    )
    assert stored_overlap(read_sketch(blobs[first]), read_sketch(blobs[second])) == 1.0

    third = sealed(nd, 2, *REPORTS[2])  # enriched after the rotation: its sketch meets the remade ones
    nd.enricher.run([third])
    assert stored_overlap(read_sketch(nd.store.names_by_id([third])[third]), read_sketch(blobs[first])) == 1.0
    state = story_state(nd, third)
    assert state["names_key"] == new.label
    assert set(state["names"]) >= set(
        int(h) for h in names_from_bytes(nd.store.names_by_id([third])[third], new)
    )


def test_old_sketches_are_made_again_by_the_idle_turn_and_a_lost_key_is_a_clear_error(
    sealed_desk: Newsdesk, caplog: pytest.LogCaptureFixture
) -> None:
    """A store sketched before keying: its unkeyed sketches are made again by the turn that re-embeds
    (each run, the idle desk, ``newsdesk reembed``), from the opened text. A text whose key the ring
    lost is skipped with a warning (its sketch counts as none) and stops a rotation with the row named."""
    nd = sealed_desk
    old, lost = sealed(nd, 0, *REPORTS[0]), sealed(nd, 1, *REPORTS[1])
    for article_id, (_, text) in zip((old, lost), REPORTS, strict=False):
        nd.store.save_minhash(article_id, b"\x00" * 8, names=names_to_bytes(article_names(text)))
    nd.store.update_secured(lost, nd.store.get_articles([lost])[lost].secured or "", "gone0000")
    with caplog.at_level(logging.WARNING, logger="newsdesk.reembed"):
        nd.reembed(8)
    assert nd.enricher.counts["sketches_remade"] == 1
    assert any(r.getMessage() == "sealed text does not open" for r in caplog.records)
    key = nd.keys.sketch_key()
    assert key is not None
    blobs = nd.store.names_by_id([old, lost])
    assert np.array_equal(
        names_from_bytes(blobs[old], key), article_names(f"{REPORTS[0][0]}\n\n{SECRET}", key=key)
    )
    assert names_from_bytes(blobs[lost], key).size == 0
    with pytest.raises(CryptoError, match=f"row {lost}: unknown key id 'gone0000'"):
        nd.keys.rotate()


def test_a_desk_without_sealing_keeps_unkeyed_sketches(tmp_path: Path) -> None:
    """With encryption off the text is stored in the clear beside the sketch, so keying would hide
    nothing: no key is needed, and the sketch stays CRC-32, as before."""
    with desk_settings(tmp_path, encrypt=False) as nd:
        assert nd.keys.sketch_key() is None
        article_id = saved(nd.store, 0, REPORTS[0][0], SECRET, None, signature=False)
        nd.enricher.run([article_id])
        stored = nd.store.names_by_id([article_id])[article_id]
        assert stored == names_to_bytes(article_names(f"{REPORTS[0][0]}\n\n{SECRET}"))
        assert "names_key" not in story_state(nd, article_id)
