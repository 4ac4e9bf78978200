"""The store's operations records: runs, the events (errors, notices) they log, API tokens, the
key-value ``meta`` table, and the change stamp the desk watches.

None of these is news content; they say what newsdesk did and who may ask it to do more. A token is
stored as its hash only; the secret is shown once, when it is made (``newsdesk.editorial``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Text, and_, cast, insert, select, update

from ..model import now, utc
from . import tables as t
from .articles import ids_after
from .base import StoreBase, _dialect_insert, _inserted_id, local_bumps

FINISHED_THROUGH = "finished_through"  # meta key: the highest article id the later stages have seen

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)  # how stale a token's last_used_at may get


class OperationsMixin(StoreBase):
    """Runs, events, tokens and meta. A method here is one transaction, as everywhere."""

    # ------------------------------------------------------------------------------ runs and events

    def record_event(
        self,
        kind: str,
        message: str,
        *,
        source_id: int | None = None,
        article_id: int | None = None,
        url: str | None = None,
        run_id: int | None = None,
        level: str = "error",
    ) -> None:
        row = {
            "kind": kind,
            "message": message[:4000],
            "source_id": source_id,
            "article_id": article_id,
            "url": url,
            "run_id": run_id,
            "level": level,
            "at": now(),
        }
        with self._begin() as c:
            c.execute(insert(t.events).values(**row))

    def events(
        self, *, source_id: int | None = None, run_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(t.events)
        if source_id is not None:
            query = query.where(t.events.c.source_id == source_id)
        if run_id is not None:
            query = query.where(t.events.c.run_id == run_id)
        with self._read() as c:
            return [dict(r) for r in c.execute(query.order_by(t.events.c.id.desc()).limit(limit)).mappings()]

    def start_run(self) -> int:
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.runs).values(started_at=now(), stats={})))

    def finish_run(self, run_id: int, stats: dict[str, Any]) -> None:
        with self._begin() as c:
            c.execute(update(t.runs).where(t.runs.c.id == run_id).values(finished_at=now(), stats=stats))

    # -------------------------------------------------------------------------------------- tokens

    def create_token(self, name: str, scope: str, token_hash: str) -> int:
        with self._begin() as c:
            values = {"name": name, "scope": scope, "token_hash": token_hash, "created_at": now()}
            return _inserted_id(c.execute(insert(t.tokens).values(**values)))

    def find_token(self, token_hash: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this hash; marks it used."""
        query = select(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
        with self._read() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            return None
        last = row["last_used_at"]
        if last is None or now() - utc(last) > TOKEN_TOUCH_INTERVAL:  # not a write per request
            with self._begin() as c:
                c.execute(update(t.tokens).where(t.tokens.c.id == row["id"]).values(last_used_at=now()))
        return dict(row)

    def list_tokens(self) -> list[dict[str, Any]]:
        query = select(
            t.tokens.c.id,
            t.tokens.c.name,
            t.tokens.c.scope,
            t.tokens.c.created_at,
            t.tokens.c.revoked_at,
            t.tokens.c.last_used_at,
        )
        with self._read() as c:
            return [dict(r) for r in c.execute(query.order_by(t.tokens.c.id)).mappings()]

    def revoke_token(self, token_id: int) -> bool:
        live = and_(t.tokens.c.id == token_id, t.tokens.c.revoked_at.is_(None))
        with self._begin() as c:
            return bool(c.execute(update(t.tokens).where(live).values(revoked_at=now())).rowcount)

    # ---------------------------------------------------------------------------------------- meta

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._read() as c:
            row = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._begin() as c:
            if c.execute(update(t.meta).where(t.meta.c.key == key).values(value=value)).rowcount == 0:
                c.execute(insert(t.meta).values(key=key, value=value))

    def pending_ids(self, *, unenriched: bool) -> list[int]:
        """The articles the stages after ingestion have not seen: those stored since the last
        :meth:`mark_finished_through` (the ``finished_through`` mark in ``meta``: "new since" is a range
        on the primary key, never a scan) and, with ``unenriched`` (enrichment on), those not enriched."""
        since = int(self.get_meta(FINISHED_THROUGH, 0) or 0)
        with self._read() as c:
            return sorted(ids_after(c, since, unenriched=unenriched))

    def mark_finished_through(self, article_id: int) -> None:
        """The later stages have seen every article up to ``article_id``; the mark never moves back.

        One statement (insert, or raise the stored mark only when it is lower): a read followed by a
        write let two finishers that ran at once leave the lower of their marks, and the range between
        went to the later stages a second time (issue 13)."""
        upsert = _dialect_insert(self.dialect)(t.meta).values(key=FINISHED_THROUGH, value=article_id)
        stored = cast(cast(t.meta.c.value, Text), Integer)
        raise_only = upsert.on_conflict_do_update(
            index_elements=[t.meta.c.key],
            set_={"value": upsert.excluded.value},
            where=stored < cast(cast(upsert.excluded.value, Text), Integer),
        )
        with self._begin() as c:
            c.execute(raise_only)

    def local_bumps(self) -> int:
        """Stamp-moving transactions committed by this process (``base.local_bumps``): when it moves,
        :meth:`change_stamp` has moved too."""
        return local_bumps()

    def change_stamp(self) -> tuple[Any, ...]:
        """A value that moves whenever a record, a list or a page could read differently: the sequence
        number every transaction writing an article, its topics, images, story, related or decisions
        bumps as it commits (``store.base``). One primary-key read, the same in every process on
        the database; the desk compares it to decide whether to rewrite outputs, the API keys its
        response cache on it."""
        with self._read() as c:
            return (c.execute(select(t.change_stamp.c.seq).where(t.change_stamp.c.id == 1)).scalar_one(),)
