"""Secured payloads: AES-256-GCM with a key ring, so keys can be rotated without losing old records.

A record's ``secured`` field is ``"<base64 ciphertext+tag>;<base64 nonce>"``; the article row stores the
id of the key that sealed it next to it (``Article.key_id``). The pieces:

- :class:`KeyRing` holds several 256-bit keys by key id, one of them *active*. New payloads are sealed
  with the active key; any key still in the ring can open the payloads it sealed.
- A ring comes from ``NEWSDESK_SECRET_KEY``-style material (:meth:`KeyRing.from_secret`: base64 of 32
  bytes, key id derived from the key) or from a key file (:func:`load_key_file`, :func:`create_key_file`):
  ``{"active": id, "keys": {id: base64}}``, mode 0600.
- Rotation is three steps, each safe to interrupt: :meth:`KeyRing.rotate` adds a fresh active key (old keys
  stay, so nothing becomes unreadable); :func:`reencrypt` re-seals the rows still on an old key (the store
  commits row by row, so running it again resumes where it stopped); :meth:`KeyRing.retire` drops an old
  key once no row uses it (it refuses the active key).

Associated data: every payload is authenticated together with ``b"newsdesk/secured/v1:" + key_id``. That
binds the payload to the key id it is filed under: a payload presented under another key id fails
authentication even if that id maps to the same key bytes, and the label keeps payloads of other software
that happen to share a key from opening as ours. The key id is not secret; it only names the key.

Derived keys: :meth:`KeyRing.derive` gives a subkey of the active key for another use (HKDF-SHA256 with
the use's context): the names sketch's hashes are keyed with one (``NAMES_CONTEXT``,
``newsdesk.enrich.similarity.SketchKey``), so a database alone cannot be searched for which names and
numbers a sealed article mentions. A rotation changes the subkey with the key.

Every failure — unknown key id, wrong key, tampered or malformed payload, unreadable key file — raises
:class:`~newsdesk.errors.CryptoError` with a one-line reason; decryption never returns garbage.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from newsdesk.errors import CryptoError
from newsdesk.flock import locked_beside
from newsdesk.unpacked import synced_folder

log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the standard 96-bit GCM nonce (NIST SP 800-38D §8.2.2, random construction)
TAG_BYTES = 16  # AESGCM appends a full 128-bit tag
KEY_ID_HEX = 8  # key id = first 8 hex digits of sha256(key): short, stable, not secret
AAD_LABEL = b"newsdesk/secured/v1:"
NAMES_CONTEXT = b"newsdesk/names-sketch/v1"  # KeyRing.derive's context for the names sketch's key
KEY_FILE_MODE = 0o600
SEPARATOR = ";"

_draw_nonce: Callable[[int], bytes] = secrets.token_bytes


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed payload: the record's ``secured`` string and the id of the key that sealed it."""

    secured: str
    key_id: str


@contextlib.contextmanager
def held_nonce(nonce: bytes) -> Iterator[None]:
    """Seal every payload under ``nonce`` until the block ends, in every thread of this process.

    Only for tests that compare sealed records byte for byte (tests/test_demo_export_golden.py): with a
    fixed key and a fixed nonce the ``secured`` field is a function of the text. Never in the product:
    two texts sealed under one key and one nonce give away their XOR and the key's authentication.
    """
    global _draw_nonce
    if len(nonce) != NONCE_BYTES:
        raise CryptoError(f"a nonce is {NONCE_BYTES} bytes, got {len(nonce)}")
    previous, _draw_nonce = _draw_nonce, lambda size: nonce
    try:
        yield
    finally:
        _draw_nonce = previous


def generate_key() -> bytes:
    """A fresh random 256-bit key from the OS CSPRNG."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def key_id_for(key: bytes) -> str:
    """The derived key id: the first 8 hex digits of ``sha256(key)``."""
    return hashlib.sha256(key).hexdigest()[:KEY_ID_HEX]


def _decode_key(material: str, where: str) -> bytes:
    try:
        key = base64.b64decode(material.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise CryptoError(f"{where}: key is not valid base64") from e
    if len(key) != KEY_BYTES:
        raise CryptoError(f"{where}: key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CryptoError(f"malformed secured payload: {what} is not valid base64") from e


def _aad(key_id: str) -> bytes:
    return AAD_LABEL + key_id.encode("utf-8")


def split_secured(secured: str) -> tuple[bytes, bytes]:
    """``(ciphertext_with_tag, nonce)`` from a ``secured`` string, or CryptoError if it is malformed."""
    if secured.count(SEPARATOR) != 1:
        raise CryptoError("malformed secured payload: expected '<ciphertext>;<nonce>'")
    ct_text, nonce_text = secured.split(SEPARATOR)
    ciphertext, nonce = _unb64(ct_text, "ciphertext"), _unb64(nonce_text, "nonce")
    if len(nonce) != NONCE_BYTES:
        raise CryptoError(f"malformed secured payload: nonce is {len(nonce)} bytes, expected {NONCE_BYTES}")
    if len(ciphertext) < TAG_BYTES:
        raise CryptoError("malformed secured payload: ciphertext is shorter than the GCM tag")
    return ciphertext, nonce


class KeyRing:
    """Keys by key id, one active. Seals with the active key; opens with whichever key the id names.

    The ring is the only holder of key bytes; it never logs them and its ``repr`` shows ids only.
    :meth:`rotate` and :meth:`retire` change the ring only after the key file was written.
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise CryptoError(f"active key id {active!r} is not in the key ring")
        for key_id, key in keys.items():
            if not key_id or len(key) != KEY_BYTES:
                raise CryptoError(f"key {key_id!r}: a key must have an id and be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._active = active

    @classmethod
    def from_secret(cls, material: str) -> KeyRing:
        """A one-key ring from ``NEWSDESK_SECRET_KEY``-style material: base64 of 32 random bytes."""
        key = _decode_key(material, "secret key")
        key_id = key_id_for(key)
        return cls({key_id: key}, key_id)

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active!r}, key_ids={self.key_ids!r})"

    @property
    def active_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def derive(self, context: bytes) -> bytes:
        """A 32-byte subkey of the active key for another use than sealing, named by ``context``
        (HKDF-SHA256, RFC 5869: the context is HKDF's ``info``, so each use gets an independent key and
        none of them is the sealing key). The names sketch is keyed this way (``NAMES_CONTEXT``); a
        rotation changes every subkey with the key it derives from."""
        if not context or context.startswith(AAD_LABEL):
            raise CryptoError("a derived key needs a context of its own (not the sealing label)")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=context)
        return hkdf.derive(self._keys[self._active])

    def encrypt(self, text: str) -> Sealed:
        """Seal ``text`` with the active key under a fresh random nonce."""
        nonce = _draw_nonce(NONCE_BYTES)
        sealed = AESGCM(self._keys[self._active]).encrypt(nonce, text.encode("utf-8"), _aad(self._active))
        return Sealed(secured=f"{_b64(sealed)}{SEPARATOR}{_b64(nonce)}", key_id=self._active)

    def decrypt(self, secured: str, key_id: str) -> str:
        """Open a payload sealed under ``key_id``; CryptoError if it cannot be authenticated."""
        key = self._keys.get(key_id)
        if key is None:
            known = ", ".join(self.key_ids)
            raise CryptoError(f"unknown key id {key_id!r} (the ring has {known}); reload the key file?")
        ciphertext, nonce = split_secured(secured)
        try:
            plain = AESGCM(key).decrypt(nonce, ciphertext, _aad(key_id))
        except InvalidTag as e:
            raise CryptoError(f"secured payload does not authenticate under key {key_id!r}") from e
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError as e:  # only if someone sealed non-UTF-8 bytes with our key
            raise CryptoError("secured payload is not UTF-8 text") from e

    def rotate(self, path: Path) -> str:
        """Add a fresh key, make it active, keep every old key; write ``path`` atomically. Returns the new id.

        Keys already in the file (e.g. added by another process since this ring was loaded) are kept too,
        so concurrent rotations cannot drop a key that payloads depend on.
        """
        key = generate_key()
        new_id = key_id_for(key)
        with locked_beside(path):  # <path>.lock: rotations and retirements take turns
            keys = {**_merge_on_disk(path, self._keys), new_id: key}
            _write_key_file(path, keys, new_id)
        self._keys, self._active = keys, new_id
        log.info("key rotated", extra={"path": str(path), "key_id": new_id, "keys": len(keys)})
        return new_id

    def retire(self, path: Path, key_id: str) -> None:
        """Drop ``key_id`` from the ring and ``path``. Refuses the active key and unknown ids.

        The caller must first make sure no stored payload is still on ``key_id`` (run :func:`reencrypt`
        to completion): payloads under a retired key can no longer be opened.
        """
        if key_id == self._active:
            raise CryptoError(f"refusing to retire the active key {key_id!r}; rotate first")
        with locked_beside(path):
            keys = _merge_on_disk(path, self._keys)
            if key_id not in keys:
                raise CryptoError(f"cannot retire unknown key id {key_id!r}")
            del keys[key_id]
            _write_key_file(path, keys, self._active)
        self._keys = keys
        log.info("key retired", extra={"path": str(path), "key_id": key_id, "keys": len(keys)})

    def _as_json(self) -> str:
        return _key_file_json(self._keys, self._active)


def reencrypt(ring: KeyRing, items: Iterable[tuple[int, str, str]]) -> Iterator[tuple[int, str, str]]:
    """Re-seal stored payloads onto the active key.

    ``items`` are ``(row_id, secured, key_id)``; yields ``(row_id, new_secured, new_key_id)`` for each row
    whose key id is not the active one, lazily, so the store can commit each row as it comes. Rows already
    on the active key are skipped: after an interruption, running it again over all rows finishes the job.
    A row that does not open raises CryptoError naming the row; nothing is yielded for it.
    """
    for row_id, secured, key_id in items:
        if key_id == ring.active_id:
            continue
        try:
            text = ring.decrypt(secured, key_id)
        except CryptoError as e:
            raise CryptoError(f"row {row_id}: {e}") from e
        sealed = ring.encrypt(text)
        yield row_id, sealed.secured, sealed.key_id


# --- key files ---------------------------------------------------------------------------------------


def create_key_file(path: Path) -> KeyRing:
    """Create a new key file at ``path`` holding one fresh active key, and return its ring.

    The file is created with ``O_EXCL`` and mode 0600 in the same system call, so it is never readable by
    others, not even for an instant; an existing file is never overwritten (CryptoError).
    """
    key = generate_key()
    ring = KeyRing({key_id_for(key): key}, key_id_for(key))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError as e:
        raise CryptoError(f"{path}: key file already exists; refusing to overwrite it") from e
    except OSError as e:
        raise CryptoError(f"{path}: cannot create key file: {e.strerror}") from e
    try:
        _write_fd(fd, ring._as_json())
    except OSError as e:
        path.unlink(missing_ok=True)  # ours: O_EXCL made it; never leave a half-written key file
        raise CryptoError(f"{path}: cannot write key file: {e.strerror}") from e
    synced_folder(path.parent)
    log.info("key file created", extra={"path": str(path), "key_id": ring.active_id})
    return ring


def load_key_file(path: Path) -> KeyRing:
    """Read a key file; warns (does not fail) when group or others may read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CryptoError(f"{path}: cannot read key file: {e.strerror}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "key file is accessible to group/others; chmod 600 it",
            extra={"path": str(path), "mode": oct(stat.S_IMODE(mode))},
        )
    return _parse_key_file(text, path)


def _parse_key_file(text: str, path: Path) -> KeyRing:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CryptoError(f"{path}: key file is not valid JSON ({e.msg}, line {e.lineno})") from e
    shape_ok = isinstance(data, dict) and isinstance(data.get("keys"), dict)
    if not shape_ok or not isinstance(data.get("active"), str):
        raise CryptoError(f'{path}: key file must be {{"active": id, "keys": {{id: base64}}}}')
    keys = {str(kid): _decode_key(str(text), f"{path}: key {kid!r}") for kid, text in data["keys"].items()}
    return KeyRing(keys, data["active"])


def _merge_on_disk(path: Path, keys: Mapping[str, bytes]) -> dict[str, bytes]:
    """``keys`` plus any key only the file at ``path`` has; a clash of id with different bytes is refused."""
    if not path.exists():
        return dict(keys)
    on_disk = load_key_file(path)._keys
    for key_id in on_disk.keys() & keys.keys():
        if on_disk[key_id] != keys[key_id]:
            raise CryptoError(f"{path}: key {key_id!r} in the file differs from the one in memory")
    return {**on_disk, **keys}


def _key_file_json(keys: Mapping[str, bytes], active: str) -> str:
    body = {"active": active, "keys": {kid: _b64(key) for kid, key in sorted(keys.items())}}
    return json.dumps(body, indent=2) + "\n"


def _write_key_file(path: Path, keys: Mapping[str, bytes], active: str) -> None:
    """Atomic replace: a 0600 temp file beside ``path``, fsync, rename, fsync the directory.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        _write_fd(fd, _key_file_json(keys, active))
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CryptoError(f"{path}: cannot write key file: {e.strerror}") from e
    synced_folder(path.parent)


def _write_fd(fd: int, text: str) -> None:
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), KEY_FILE_MODE)  # the umask may have removed bits; make it exactly 0600
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
