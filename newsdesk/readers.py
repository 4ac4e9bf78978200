"""Users and app passwords for reader apps, and each user's read/starred state: the facade's ``nd.readers``,
behind :mod:`newsdesk.readerapi`, the users page and ``newsdesk user`` (the edges call this, never the
store).

An app password is generated here (never chosen), shown once, and stored only as things that cannot
be turned back into it::

    password ─┬─ scrypt(salt) ──────────────────────────► password_hash   (ClientLogin checks it)
              ├─ md5("name:password") = Fever api_key ─ sha256 ─► fever_hash  (Fever sends the api_key)
              └─ HMAC-SHA256(password, name) = auth ─── sha256 ─► greader_hash (GoogleLogin auth=name/auth)

Fever defines its key as md5("name:password"), so a Fever client proves nothing more than knowing that
md5; we keep only its SHA-256, so a copy of the database is no key. The Google Reader token is derived
from the password at ClientLogin, so every device logging in with one password gets the same token and
nothing needs storing per login. Deleting the app password ends both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import NewsdeskError
from .readerfeeds import TOPIC_FEED_BASE, Feed, FeedModel, source_feeds, topic_feeds
from .store.tables import USER_NAME_CHARS
from .store.users import USER_ROLES, ItemFilter, ReaderItem

if TYPE_CHECKING:
    from .app import Newsdesk

__all__ = [
    "TOPIC_FEED_BASE",
    "USER_NAME_CHARS",
    "USER_ROLES",
    "Feed",
    "FeedModel",
    "ItemFilter",
    "ReaderItem",
    "ReaderUser",
    "Readers",
    "action_token",
    "fever_key",
]

PASSWORD_BYTES = 24  # 192 bits from secrets: no guessing attack reaches it, whatever the hash
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""The scrypt paper's parameters for interactive logins: 16 MiB and a fraction of a second a hash
(docs/benchmarks.md). A generated 192-bit password gains nothing from a slower hash; ClientLogin runs it once
per device sign-in, and the Fever and Google Reader requests after that never do."""
SCRYPT_MAXMEM = 64 * 1024 * 1024  # hashlib's default cap (32 MiB) is too close to 128·N·r
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
"""User names: no ':' (Fever joins name and password with it), no '/' (the Google Reader token is
``name/secret``), no spaces (apps trim them)."""
FEVER_KEY = re.compile(r"[0-9a-f]{32}")
ACTION_TOKEN_CHARS = 57  # Google Reader's T token length, which some clients check


@dataclass(frozen=True, slots=True)
class ReaderUser:
    """Who a reader-app request comes from."""

    id: int
    name: str
    role: str
    password_id: int

    @property
    def is_editor(self) -> bool:
        return self.role == "editor"


class Readers:
    """Users, app passwords and reader state (see the module docstring for what is stored)."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    # ------------------------------------------------------------------------------------ users

    def add_user(self, name: str, role: str = "reader") -> int:
        if not NAME_PATTERN.fullmatch(name) or len(name) > USER_NAME_CHARS:
            raise NewsdeskError(
                f"user name must be 1–{USER_NAME_CHARS} letters, digits or . _ @ + -, got {name!r}"
            )
        if role not in USER_ROLES:
            raise NewsdeskError(f"role must be one of {', '.join(USER_ROLES)}, got {role!r}")
        return self.nd.store.add_user(name, role)

    def list_users(self) -> list[dict[str, Any]]:
        return self.nd.store.list_users()

    def exists(self, name: str) -> bool:
        return self.nd.store.find_user(name) is not None

    def remove_user(self, name: str) -> None:
        if not self.nd.store.remove_user(name):
            raise NewsdeskError(f"no such user: {name}")

    def new_app_password(self, name: str, label: str = "") -> tuple[int, str]:
        """A new app password for ``name``: ``(id, password)``, the password shown this once."""
        user = self._user(name)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        password_id = self.nd.store.add_app_password(
            int(user["id"]),
            label.strip()[:200],
            password_hash=_scrypt(password),
            fever_hash=_sha256(fever_key(name, password)),
            greader_hash=_sha256(_greader_secret(name, password)),
        )
        return password_id, password

    def app_passwords(self, name: str) -> list[dict[str, Any]]:
        """The user's app passwords for display: id, label, created and last used (no hashes)."""
        keep = ("id", "label", "created_at", "last_used_at")
        return [{k: p[k] for k in keep} for p in self.nd.store.app_passwords(int(self._user(name)["id"]))]

    def revoke_app_password(self, name: str, password_id: int) -> None:
        if not self.nd.store.revoke_app_password(int(self._user(name)["id"]), password_id):
            raise NewsdeskError(f"user {name} has no app password {password_id}")

    def _user(self, name: str) -> dict[str, Any]:
        user = self.nd.store.find_user(name)
        if user is None:
            raise NewsdeskError(f"no such user: {name}")
        return user

    # --------------------------------------------------------------------------- authentication

    def client_login(self, name: str, password: str) -> str | None:
        """The Google Reader auth token for a right name and app password, else None."""
        user = self.nd.store.find_user(name) if NAME_PATTERN.fullmatch(name) else None
        stored = self.nd.store.app_passwords(int(user["id"])) if user else []
        if not stored:
            _scrypt(password)  # the same work whether or not the name exists
            return None
        if not any(_scrypt_matches(password, p["password_hash"]) for p in stored):
            return None
        return f"{name}/{_greader_secret(name, password)}"

    def by_greader_token(self, token: str) -> ReaderUser | None:
        name, _, secret = token.partition("/")
        if not secret or len(token) > 200:
            return None
        found = self.nd.store.user_by_credential("greader", _sha256(secret))
        return _reader(found) if found and found["name"] == name else None

    def by_fever_key(self, api_key: str) -> ReaderUser | None:
        key = api_key.strip().lower()
        if not FEVER_KEY.fullmatch(key):
            return None
        return _reader(self.nd.store.user_by_credential("fever", _sha256(key)))

    # ----------------------------------------------------------------------------- reader state

    def items(
        self, user: ReaderUser, where: ItemFilter, *, limit: int, oldest_first: bool = False
    ) -> list[ReaderItem]:
        return self.nd.store.reader_items(user.id, where, limit=limit, oldest_first=oldest_first)

    def item_ids(
        self, user: ReaderUser, where: ItemFilter, *, limit: int | None = None, oldest_first: bool = False
    ) -> list[tuple[int, datetime]]:
        return self.nd.store.reader_item_ids(user.id, where, limit=limit, oldest_first=oldest_first)

    def count(self, user: ReaderUser, where: ItemFilter) -> int:
        return self.nd.store.reader_count(user.id, where)

    def set_state(
        self, user: ReaderUser, ids: Sequence[int], *, read: bool | None = None, starred: bool | None = None
    ) -> int:
        return self.nd.store.set_reader_state(user.id, ids, read=read, starred=starred)

    def mark_read(self, user: ReaderUser, where: ItemFilter) -> int:
        return self.nd.store.mark_read(user.id, where)

    def feed_model(self, user: ReaderUser) -> FeedModel:
        """The feeds and folders ``user`` sees (:mod:`newsdesk.readerfeeds`): sources for editors, topics
        for readers."""
        store = self.nd.store
        if user.is_editor:
            return source_feeds(store.list_sources(), store.source_topics(), self.nd.taxonomy)
        return topic_feeds(self.nd.taxonomy, store.topic_totals(published_only=True))


def action_token(auth: str) -> str:
    """Google Reader's ``T`` token for a session: derived from its auth token, so nothing is stored."""
    return hashlib.sha256(b"newsdesk-greader-T:" + auth.encode()).hexdigest()[:ACTION_TOKEN_CHARS]


def fever_key(name: str, password: str) -> str:
    """Fever's api_key, as Fever defines it: md5 of ``name:password`` in hex."""
    return hashlib.md5(f"{name}:{password}".encode(), usedforsecurity=False).hexdigest()


def _reader(row: dict[str, Any] | None) -> ReaderUser | None:
    if row is None:
        return None
    return ReaderUser(int(row["id"]), str(row["name"]), str(row["role"]), int(row["password_id"]))


def _greader_secret(name: str, password: str) -> str:
    return hmac.new(password.encode(), f"newsdesk-greader:{name}".encode(), hashlib.sha256).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _scrypt(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _scrypt_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        again = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=SCRYPT_MAXMEM
        )
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(again.hex(), digest)
