"""Tests for newsdesk.secure: sealing, tampering, key files and crash-safe rotation."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import stat
from pathlib import Path

import pytest

from newsdesk.errors import CryptoError
from newsdesk.secure import KeyRing, create_key_file, held_nonce, key_id_for, load_key_file, reencrypt

# 12-byte nonce → 16 base64 characters, no padding; ciphertext+tag is at least 16 bytes → 24 characters.
SECURED_RE = re.compile(r"^[A-Za-z0-9+/]{22,}={0,2};[A-Za-z0-9+/]{16}$")
TEXT = "Hong Kong's fintech cluster grows — €12bn raised; 香港金融科技 🚀"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_secret(base64.b64encode(bytes(range(32))).decode())


def _flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_held_nonce_makes_sealing_repeatable_and_only_inside_the_block(ring: KeyRing) -> None:
    with held_nonce(bytes(12)):
        first, second = ring.encrypt(TEXT), ring.encrypt(TEXT)
    assert first == second and first.secured.endswith(";" + base64.b64encode(bytes(12)).decode())
    assert ring.decrypt(first.secured, first.key_id) == TEXT
    assert ring.encrypt(TEXT) != ring.encrypt(TEXT)  # a fresh random nonce again
    with pytest.raises(CryptoError, match="12 bytes"), held_nonce(bytes(8)):
        pass


def test_round_trip_unicode(ring: KeyRing) -> None:
    sealed = ring.encrypt(TEXT)
    assert sealed.key_id == ring.active_id
    assert ring.decrypt(sealed.secured, sealed.key_id) == TEXT


def test_empty_text_round_trips(ring: KeyRing) -> None:
    sealed = ring.encrypt("")
    assert ring.decrypt(sealed.secured, sealed.key_id) == ""


def test_secured_shape_and_fresh_nonce(ring: KeyRing) -> None:
    first, second = ring.encrypt(TEXT), ring.encrypt(TEXT)
    assert SECURED_RE.match(first.secured)
    assert len(base64.b64decode(first.secured.split(";")[1])) == 12
    assert first.secured != second.secured  # a random nonce per payload


def test_derived_key_id(ring: KeyRing) -> None:
    assert ring.active_id == key_id_for(bytes(range(32)))
    assert re.fullmatch(r"[0-9a-f]{8}", ring.active_id)


@pytest.mark.parametrize("material", ["not base64!!", base64.b64encode(b"short").decode(), ""])
def test_bad_secret_material(material: str) -> None:
    with pytest.raises(CryptoError, match="key"):
        KeyRing.from_secret(material)


def test_flipped_ciphertext_byte_is_refused(ring: KeyRing) -> None:
    sealed = ring.encrypt(TEXT)
    ct, nonce = sealed.secured.split(";")
    with pytest.raises(CryptoError, match="does not authenticate"):
        ring.decrypt(f"{_flip(ct, 3)};{nonce}", sealed.key_id)


def test_flipped_nonce_byte_is_refused(ring: KeyRing) -> None:
    sealed = ring.encrypt(TEXT)
    ct, nonce = sealed.secured.split(";")
    with pytest.raises(CryptoError, match="does not authenticate"):
        ring.decrypt(f"{ct};{_flip(nonce, 0)}", sealed.key_id)


def test_swapped_key_id_is_refused(ring: KeyRing) -> None:
    """The key id is bound as associated data: even the same key bytes under another id fail."""
    key = bytes(range(32))
    twin = KeyRing({"aaaa0000": key, "bbbb1111": key}, "aaaa0000")
    sealed = twin.encrypt(TEXT)
    with pytest.raises(CryptoError, match="does not authenticate"):
        twin.decrypt(sealed.secured, "bbbb1111")


def test_wrong_key_is_refused(ring: KeyRing) -> None:
    other = KeyRing.from_secret(base64.b64encode(bytes(32)).decode())
    sealed = ring.encrypt(TEXT)
    impostor = KeyRing({ring.active_id: bytes(32)}, ring.active_id)
    with pytest.raises(CryptoError, match="does not authenticate"):
        impostor.decrypt(sealed.secured, sealed.key_id)
    with pytest.raises(CryptoError, match="unknown key id"):
        other.decrypt(sealed.secured, sealed.key_id)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("no-separator-here", "expected '<ciphertext>;<nonce>'"),
        ("a;b;c", "expected '<ciphertext>;<nonce>'"),
        ("@@@@;AAAAAAAAAAAAAAAA", "ciphertext is not valid base64"),
        ("AAAAAAAAAAAAAAAAAAAAAAAA;%%%%", "nonce is not valid base64"),
        ("AAAAAAAAAAAAAAAAAAAAAAAA;AAAAAAAAAAAAAAAAAAAAAA==", "nonce is 16 bytes"),
        ("AAAA;AAAAAAAAAAAAAAAA", "shorter than the GCM tag"),
        ("", "expected"),
    ],
)
def test_malformed_payloads(ring: KeyRing, payload: str, reason: str) -> None:
    with pytest.raises(CryptoError, match=re.escape(reason)):
        ring.decrypt(payload, ring.active_id)


def test_key_file_is_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["active"] == ring.active_id
    loaded = load_key_file(path)
    assert loaded.decrypt(ring.encrypt(TEXT).secured, ring.active_id) == TEXT


def test_key_file_mode_ignores_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_key_file(tmp_path / "keys.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("precious")
    with pytest.raises(CryptoError, match="refusing to overwrite"):
        create_key_file(path)
    assert path.read_text() == "precious"


def test_readable_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.json"
    create_key_file(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="newsdesk.secure"):
        load_key_file(path)
    assert any("group/others" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"keys": {}}', "key file must be"),
        ('{"active": "x", "keys": {"x": "AAAA"}}', "must be 32 bytes"),
        (
            '{"active": "y", "keys": {"x": "' + base64.b64encode(bytes(32)).decode() + '"}}',
            "not in the key ring",
        ),
    ],
)
def test_bad_key_files(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(CryptoError, match=reason):
        load_key_file(path)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="cannot read key file"):
        load_key_file(tmp_path / "absent.json")


def test_rotate_keeps_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = create_key_file(path)
    old = ring.encrypt(TEXT)
    new_id = ring.rotate(path)
    assert new_id == ring.active_id != old.key_id
    new = ring.encrypt("after rotation")
    assert new.key_id == new_id
    reloaded = load_key_file(path)
    assert reloaded.active_id == new_id
    assert reloaded.decrypt(old.secured, old.key_id) == TEXT
    assert reloaded.decrypt(new.secured, new.key_id) == "after rotation"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json", "keys.json.lock"]  # no temp left


def test_rotate_from_env_secret_writes_a_file(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "keys.json"
    old = ring.encrypt(TEXT)
    ring.rotate(path)
    assert load_key_file(path).decrypt(old.secured, old.key_id) == TEXT


def test_rotate_keeps_keys_added_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = create_key_file(path)
    stale = load_key_file(path)
    other_id = first.rotate(path)  # another process rotates; `stale` never saw that key
    stale.rotate(path)
    assert other_id in load_key_file(path).key_ids


def _store(ring: KeyRing, n: int) -> dict[int, tuple[str, str]]:
    rows = {}
    for row_id in range(n):
        sealed = ring.encrypt(f"article {row_id} — texte intégral")
        rows[row_id] = (sealed.secured, sealed.key_id)
    return rows


def test_reencrypt_resumes_after_interruption(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = create_key_file(path)
    rows = _store(ring, 10)
    old_id = ring.active_id
    new_id = ring.rotate(path)
    pending = ((rid, s, k) for rid, (s, k) in sorted(rows.items()))
    for rid, secured, key_id in itertools.islice(reencrypt(ring, pending), 4):  # crash after 4 commits
        rows[rid] = (secured, key_id)
    assert sum(k == new_id for _, k in rows.values()) == 4
    again = list(reencrypt(ring, ((rid, s, k) for rid, (s, k) in sorted(rows.items()))))
    assert [rid for rid, _, _ in again] == list(range(4, 10))  # already-moved rows are skipped
    for rid, secured, key_id in again:
        rows[rid] = (secured, key_id)
    assert {k for _, k in rows.values()} == {new_id}
    ring.retire(path, old_id)
    final = load_key_file(path)
    assert final.key_ids == (new_id,)
    assert [final.decrypt(s, k) for s, k in rows.values()] == [
        f"article {i} — texte intégral" for i in range(10)
    ]


def test_reencrypt_names_the_bad_row(ring: KeyRing, tmp_path: Path) -> None:
    ring.rotate(tmp_path / "keys.json")
    with pytest.raises(CryptoError, match="row 7"):
        list(reencrypt(ring, [(7, "garbage", "deadbeef")]))


def test_retire_rules(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = create_key_file(path)
    old_id = ring.active_id
    with pytest.raises(CryptoError, match="active key"):
        ring.retire(path, old_id)
    ring.rotate(path)
    with pytest.raises(CryptoError, match="unknown key id"):
        ring.retire(path, "00000000")
    ring.retire(path, old_id)
    assert old_id not in ring.key_ids
    assert old_id not in load_key_file(path).key_ids
    with pytest.raises(CryptoError, match="unknown key id"):
        ring.decrypt(ring.encrypt("x").secured, old_id)


def test_repr_hides_key_bytes(ring: KeyRing) -> None:
    assert base64.b64encode(bytes(range(32))).decode() not in repr(ring)
    assert ring.active_id in repr(ring)
