"""The encryption key ring, the facade's ``nd.keys``: rotating it, opening the full texts sealed with it
(an article's in the store, a record file's ``secured`` field), and the names sketch's key derived from it.

Rotation re-seals every payload onto the new key and then makes every names sketch again under the new
key's sketch key (``reembed.Resketcher``: the text is open anyway), so after ``newsdesk key rotate`` no
sealed text and no article's sketch depends on the old key (the states of stories nothing joins again
keep their old-key names: ``docs/embeddings.md``). Sketches the rotation did not reach (it was
interrupted; a desk enriched under the old key meanwhile) count as no names until the enricher's
re-embed turn makes them again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NewsdeskError
from .finishing import decrypt_text
from .model import Article
from .secure import NAMES_CONTEXT, KeyRing, load_key_file, reencrypt

if TYPE_CHECKING:
    from .app import Newsdesk
    from .enrich.similarity import SketchKey


class Keys:
    """What can be done with the desk's keys (``encrypt`` setting, ``key_path`` or ``secret_key``)."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def rotate(self) -> dict[str, Any]:
        """Add a fresh key, make it active, re-encrypt every payload onto it, row by row, then make every
        names sketch again under the new key (with encryption on; ``sketches``: how many).

        Crash-safe: old keys stay in the ring, each row is committed with its new key id, and running it
        again after an interruption re-encrypts only the rows still on an old key. A sketch not yet made
        again counts as no names meanwhile (weaker, never a wrong match).
        """
        if self.nd.settings.secret_key:
            raise NewsdeskError("the key comes from NEWSDESK_SECRET_KEY: rotate it there, or use a key file")
        path = self.nd.settings.key_path
        ring = load_key_file(path)
        if not self._pending_rows(ring.active_id):
            ring.rotate(path)
            ring = load_key_file(path)
        done = 0
        for article_id, secured, key_id in reencrypt(ring, self._pending_rows(ring.active_id)):
            self.nd.store.update_secured(article_id, secured, key_id)
            done += 1
        sketches = self._resketch(ring) if self.nd.settings.encrypt else 0
        return {
            "active_key": ring.active_id,
            "reencrypted": done,
            "sketches": sketches,
            "keys": list(ring.key_ids),
        }

    def sketch_key(self) -> SketchKey | None:
        """The key the names sketch's hashes are made with: derived from the active sealing key
        (``KeyRing.derive``, its own context) when texts are sealed; ``None`` with encryption off, where
        the text itself is stored in the clear and the sketch stays unkeyed (CRC-32)."""
        if not self.nd.settings.encrypt:
            return None
        return sketch_key_of(self.nd.key_ring)

    def _resketch(self, ring: KeyRing) -> int:
        """Every sketch not made under ``ring``'s sketch key, made again (texts opened with ``ring``)."""
        from .reembed import Resketcher

        resketcher = Resketcher(self.nd.store, lambda article: article.text or decrypt_text(article, ring))
        return resketcher.run(sketch_key_of(ring))

    def _pending_rows(self, active: str) -> list[tuple[int, str, str]]:
        return [(i, s, k) for i, s, k in self.nd.store.secured_payloads() if k != active]

    def open_text(self, article: Article) -> str:
        """The article's full text in clear: its clear column, or its sealed payload opened with the
        ring (a :class:`~newsdesk.errors.CryptoError` when the key is missing or does not fit)."""
        if article.secured is None:
            return article.text
        return decrypt_text(article, self.nd.key_ring)

    def decrypt_record(self, path: Path) -> str:
        """The full text sealed in a record file's ``secured`` field. The key id comes from the store
        when it holds the same payload; else every key in the ring is tried (a record has no key id)."""
        from .record import read_record

        article = read_record(path)
        if not article.secured:
            raise NewsdeskError(f"{path}: the record has no secured payload")
        ring = self.nd.key_ring
        stored = self.nd.store.find_article(article.web_url)
        key_id = stored.key_id if stored is not None and stored.secured == article.secured else None
        return _decrypt_any(ring, article.secured, key_id)


def sketch_key_of(ring: KeyRing) -> SketchKey:
    """The names sketch's key of a ring's active key."""
    from .enrich.similarity import SketchKey  # numpy: not for commands that only read records

    return SketchKey(ring.derive(NAMES_CONTEXT))


def _decrypt_any(ring: KeyRing, secured: str, key_id: str | None) -> str:
    """With ``key_id`` when known; else each key of the ring in turn (the last failure when none fits)."""
    ids = [key_id] if key_id else list(ring.key_ids)
    last: NewsdeskError | None = None
    for candidate in ids:
        try:
            return str(ring.decrypt(secured, candidate))
        except NewsdeskError as e:
            last = e
    raise last or NewsdeskError("no key to try")
