"""The store's reader-app side: users, their app passwords, and each user's read/starred flags.

An editor's flags are kept under a ``users`` row too (:meth:`UsersMixin.editor_user_id`, role
``editor``), so one model of "read" and "starred" serves reader apps and the editor's reading tools.

Reader apps (``newsdesk.readerapi``) only ever see published records, so every item query here starts
from ``articles.published`` and a flag can only be set on a published article: nothing a reader app
sends can touch or reveal anything else. A user's state is one row per article they touched
(``reader_states``); no row means unread and not starred.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..errors import StorageError
from ..model import Article, now, utc
from . import rows
from . import tables as t
from .base import StoreBase, _chunks, _dialect_insert, _inserted_id
from .listing import shared_conditions

PASSWORD_TOUCH_INTERVAL = timedelta(minutes=1)  # as TOKEN_TOUCH_INTERVAL: not a write per request
USER_ROLES = ("reader", "editor")
EDITOR_PREFIX = "~"  # user names cannot start with it (readerapi.users.NAME_PATTERN): no clash possible
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")  # = readerapi.users.NAME_PATTERN


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which published articles a reader-app stream holds; every field narrows it (None: no limit).

    ``first_topic`` is a reader's topic feed (the article's most specific topic), ``topic`` a label
    (the article has that topic at all), ``source_id`` an editor's source feed. ``after_id`` /
    ``before_id`` bound the id (Fever's since_id/max_id, continuations); ``changed_after`` /
    ``changed_before`` bound ``updated_at`` (the Google Reader item timestamp)."""

    topic: str | None = None
    first_topic: str | None = None
    source_id: int | None = None
    read: bool | None = None
    starred: bool | None = None
    ids: tuple[int, ...] | None = None
    after_id: int | None = None
    before_id: int | None = None
    changed_after: datetime | None = None
    changed_before: datetime | None = None
    no_topic: bool = False  # a reader's catch-all feed: articles without topics
    no_source: bool = False  # an editor's catch-all feed: articles whose source was removed


@dataclass(frozen=True, slots=True)
class ReaderItem:
    """A published article as one user sees it in a reader app."""

    article: Article
    read: bool
    starred: bool
    changed_at: datetime  # the article's updated_at: publishing moves it (the Google Reader timestamp)


class UsersMixin(StoreBase):
    """Users, app passwords and reader state. A method here is one transaction, as everywhere."""

    # ------------------------------------------------------------------------------------- users

    def add_user(self, name: str, role: str) -> int:
        """A new user; a taken name is a :class:`StorageError`."""
        with self._begin() as c:
            if c.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
                raise StorageError(f"user already exists: {name}")
            return _inserted_id(c.execute(insert(t.users).values(name=name, role=role, created_at=now())))

    def editor_user_id(self, token_name: str) -> int:
        """The id of the user row holding this editor's flags, made (role ``editor``) on first use."""
        name = editor_user_name(token_name)
        query = select(t.users.c.id).where(t.users.c.name == name)
        with self._read() as c:
            found = c.execute(query).scalar()
        if found is not None:
            return int(found)
        try:
            with self._begin() as c:
                c.execute(insert(t.users).values(name=name, role="editor", created_at=now()))
        except StorageError as e:  # two first requests of one editor at once: the other one made it
            if not isinstance(e.__cause__, IntegrityError):
                raise
        with self._read() as c:
            return int(c.execute(query).scalar_one())

    def find_user(self, name: str) -> dict[str, Any] | None:
        with self._read() as c:
            row = c.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
        return dict(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with how many app passwords they hold and when one was last used."""
        u, p = t.users, t.app_passwords
        query = (
            select(
                u, func.count(p.c.id).label("app_passwords"), func.max(p.c.last_used_at).label("last_used_at")
            )
            .select_from(u.outerjoin(p, p.c.user_id == u.c.id))
            .group_by(u.c.id, u.c.name, u.c.role, u.c.created_at)
            .order_by(u.c.id)
        )
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def remove_user(self, name: str) -> bool:
        """Remove a user with their app passwords and reader state (cascade)."""
        with self._begin() as c:
            user_id = c.execute(select(t.users.c.id).where(t.users.c.name == name)).scalar()
            if user_id is None:
                return False
            for table in (t.reader_states, t.app_passwords):  # explicit: SQLite may run without FK cascade
                c.execute(delete(table).where(table.c.user_id == user_id))
            c.execute(delete(t.users).where(t.users.c.id == user_id))
        return True

    # ----------------------------------------------------------------------------- app passwords

    def add_app_password(
        self, user_id: int, label: str, *, password_hash: str, fever_hash: str, greader_hash: str
    ) -> int:
        values = {
            "user_id": user_id,
            "label": label,
            "password_hash": password_hash,
            "fever_hash": fever_hash,
            "greader_hash": greader_hash,
            "created_at": now(),
        }
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.app_passwords).values(**values)))

    def app_passwords(self, user_id: int) -> list[dict[str, Any]]:
        """The user's app passwords (hashes included: for the verifier, never for display)."""
        query = (
            select(t.app_passwords).where(t.app_passwords.c.user_id == user_id).order_by(t.app_passwords.c.id)
        )
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def revoke_app_password(self, user_id: int, password_id: int) -> bool:
        p = t.app_passwords.c
        with self._begin() as c:
            return bool(
                c.execute(delete(t.app_passwords).where(p.id == password_id, p.user_id == user_id)).rowcount
            )

    def user_by_credential(self, kind: str, digest: str) -> dict[str, Any] | None:
        """The user (``id``, ``name``, ``role``, plus ``password_id``) whose app password has this
        ``fever`` or ``greader`` hash; marks the password used."""
        p, u = t.app_passwords, t.users
        column = {"fever": p.c.fever_hash, "greader": p.c.greader_hash}[kind]
        query = (
            select(u.c.id, u.c.name, u.c.role, p.c.id.label("password_id"), p.c.last_used_at)
            .join(p, p.c.user_id == u.c.id)
            .where(column == digest)
        )
        with self._read() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            return None
        self._touch_password(int(row["password_id"]), row["last_used_at"])
        return {k: row[k] for k in ("id", "name", "role", "password_id")}

    def _touch_password(self, password_id: int, last: datetime | None) -> None:
        if last is None or now() - utc(last) > PASSWORD_TOUCH_INTERVAL:
            with self._begin() as c:
                c.execute(
                    update(t.app_passwords)
                    .where(t.app_passwords.c.id == password_id)
                    .values(last_used_at=now())
                )

    # ------------------------------------------------------------------------------ reader state

    def reader_items(
        self, user_id: int, where: ItemFilter, *, limit: int, oldest_first: bool = False
    ) -> list[ReaderItem]:
        """Published articles matching ``where`` with this user's flags, newest id first (or oldest)."""
        s = t.reader_states
        query = _items(select(t.articles, s.c.is_read, s.c.starred), user_id, where)
        order = t.articles.c.id.asc() if oldest_first else t.articles.c.id.desc()
        with self._read() as c:
            found = c.execute(query.order_by(order).limit(limit)).mappings()
            return [
                ReaderItem(
                    rows.article_from_row(r), bool(r["is_read"]), bool(r["starred"]), utc(r["updated_at"])
                )
                for r in found
            ]

    def reader_item_ids(
        self, user_id: int, where: ItemFilter, *, limit: int | None = None, oldest_first: bool = False
    ) -> list[tuple[int, datetime]]:
        """``(article id, updated_at)`` of the matching published articles, without loading them."""
        a = t.articles
        query = _items(select(a.c.id, a.c.updated_at), user_id, where)
        query = query.order_by(a.c.id.asc() if oldest_first else a.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as c:
            return [(int(i), utc(at)) for i, at in c.execute(query)]

    def reader_count(self, user_id: int, where: ItemFilter) -> int:
        """How many published articles match ``where`` (one COUNT, nothing loaded)."""
        with self._read() as c:
            return int(c.execute(_items(select(func.count()), user_id, where)).scalar_one())

    def set_reader_state(
        self,
        user_id: int,
        article_ids: Sequence[int],
        *,
        read: bool | None = None,
        starred: bool | None = None,
    ) -> int:
        """Set the flags given on those of ``article_ids`` that are published; returns how many those
        were."""
        changes = _flag_changes(read, starred)
        a = t.articles
        done = 0
        with self._begin() as c:
            for chunk in _chunks(sorted(set(article_ids)), 500):
                shown = set(
                    c.execute(select(a.c.id).where(a.c.id.in_(chunk), a.c.published.is_(True))).scalars()
                )
                done += len(shown)
                _upsert_states(c, user_id, shown, changes)
        return done

    def mark_read(self, user_id: int, where: ItemFilter) -> int:
        """Mark every published article matching ``where`` read for this user, in one transaction; how
        many of them were unread."""
        a = t.articles
        unread = _items(select(a.c.id), user_id, where).where(*flag_conditions(False, None))
        changes = _flag_changes(True, None)
        with self._begin() as c:
            ids = list(c.execute(unread).scalars())
            for chunk in _chunks(ids, 500):
                _upsert_states(c, user_id, set(chunk), changes)
        return len(ids)

    def source_topics(self) -> dict[int, set[str]]:
        """The topics of each source's published articles (an editor's source feeds go in those folders)."""
        a, at = t.articles, t.article_topics
        query = (
            select(a.c.source_id, at.c.topic)
            .distinct()
            .join(at, at.c.article_id == a.c.id)
            .where(a.c.published.is_(True), a.c.source_id.is_not(None))
        )
        out: dict[int, set[str]] = {}
        with self._read() as c:
            for source_id, topic in c.execute(query):
                out.setdefault(int(source_id), set()).add(str(topic))
        return out


def editor_user_name(token_name: str) -> str:
    """The ``users`` name an editor's flags are kept under: the token's name when it is a valid user
    name (so the editor's reader-app account, if any, shares them), else a stable name derived from it
    that no person's account can take."""
    if _USER_NAME.fullmatch(token_name) and len(token_name) <= t.USER_NAME_CHARS:
        return token_name
    return EDITOR_PREFIX + hashlib.sha256(token_name.encode()).hexdigest()[:32]


def _upsert_states(c: Connection, user_id: int, article_ids: set[int], changes: dict[str, Any]) -> None:
    """Write ``changes`` on this user's rows of ``article_ids``, making the rows not there yet (unread,
    not starred, but for ``changes``). One INSERT … ON CONFLICT DO UPDATE: reading which rows exist
    and then inserting the others let two first writes of one row at once (the UI and a reader app,
    two editors' tabs) fail on the primary key."""
    if not article_ids:
        return
    s = t.reader_states
    upsert = _dialect_insert(c.dialect.name)(s)
    statement = upsert.on_conflict_do_update(
        index_elements=[s.c.user_id, s.c.article_id],
        set_={name: upsert.excluded[name] for name in changes},
    )
    base = {"user_id": user_id, "is_read": False, "starred": False}
    c.execute(statement, [base | changes | {"article_id": i} for i in sorted(article_ids)])


def _items(query: Any, user_id: int, where: ItemFilter) -> Any:
    """``query`` over published articles left-joined to this user's state, narrowed by ``where``."""
    a, s = t.articles, t.reader_states
    joined = a.outerjoin(s, and_(s.c.article_id == a.c.id, s.c.user_id == user_id))
    return query.select_from(joined).where(a.c.published.is_(True), *_conditions(where))


def _conditions(where: ItemFilter) -> list[ColumnElement[bool]]:
    a, at = t.articles, t.article_topics
    out = shared_conditions(
        topic=where.topic, source_id=where.source_id, min_quality=None, since=None, until=None
    )
    if where.first_topic is not None:
        first = and_(at.c.article_id == a.c.id, at.c.topic == where.first_topic, at.c.rank == 0)
        out.append(select(at.c.article_id).where(first).exists())
    out += flag_conditions(where.read, where.starred)
    if where.no_topic:
        out.append(~select(at.c.article_id).where(at.c.article_id == a.c.id).exists())
    if where.no_source:
        out.append(a.c.source_id.is_(None))
    if where.ids is not None:
        out.append(a.c.id.in_(list(where.ids)))
    out += _bounds(where)
    return out


def _bounds(where: ItemFilter) -> list[ColumnElement[bool]]:
    a = t.articles
    out: list[ColumnElement[bool]] = []
    if where.after_id is not None:
        out.append(a.c.id > where.after_id)
    if where.before_id is not None:
        out.append(a.c.id < where.before_id)
    if where.changed_after is not None:
        out.append(a.c.updated_at > where.changed_after)
    if where.changed_before is not None:
        out.append(a.c.updated_at <= where.changed_before)
    return out


def flag_conditions(read: bool | None, starred: bool | None) -> list[ColumnElement[bool]]:
    """Articles by this user's flags (None: either), over articles left-joined to ``reader_states``:
    no row is unread and not starred."""
    s = t.reader_states
    out: list[ColumnElement[bool]] = []
    if read is not None:
        out.append(s.c.is_read.is_(True) if read else or_(s.c.is_read.is_(None), s.c.is_read.is_(False)))
    if starred is not None:
        out.append(s.c.starred.is_(True) if starred else or_(s.c.starred.is_(None), s.c.starred.is_(False)))
    return out


def _flag_changes(read: bool | None, starred: bool | None) -> dict[str, Any]:
    """The ``reader_states`` columns a flag write sets: the flags given, and when."""
    changes: dict[str, Any] = {"updated_at": now()}
    if read is not None:
        changes["is_read"] = read
    if starred is not None:
        changes["starred"] = starred
    return changes
