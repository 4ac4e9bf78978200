"""The store's editorial side: an article's review state and the decision log editors write.

The review state (``articles.review_state``, with ``published`` its copy) changes only here, by
compare-and-set when the caller names the state it expects: two editors acting at once, one wins. Each
decision is one row; an undo is a decision too, naming the one it reverts (``data["undoes"]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, select, update

from ..model import ReviewState, now
from . import rows
from . import tables as t
from .base import StoreBase, _inserted_id, note_change
from .webhooks import queue_event_rows

if TYPE_CHECKING:
    from ..events import Event


class EditorialMixin(StoreBase):
    """Review states and decisions. A method here is one transaction, as everywhere."""

    def set_review_state(
        self, article_id: int, state: ReviewState, *, expect: ReviewState | None = None
    ) -> bool:
        """Move an article to ``state`` (and ``published`` with it); with ``expect``, only from that state —
        two editors publishing at once: one wins, the other learns it was already done."""
        values = rows.review_columns(ReviewState(state)) | {"updated_at": now()}
        condition = t.articles.c.id == article_id
        if expect is not None:
            condition = and_(condition, t.articles.c.review_state == ReviewState(expect).value)
        with self._begin() as c:
            note_change(
                c, articles=[article_id], lists=state != ReviewState.PUBLISHED
            )  # it may leave the set
            return bool(c.execute(update(t.articles).where(condition).values(**values)).rowcount)

    def decide(
        self,
        article_id: int,
        state: ReviewState,
        *,
        expect: ReviewState,
        action: str,
        actor: str,
        reason: str = "",
        event: Event | None = None,
    ) -> int | None:
        """A decision as one transaction: the compare-and-set from ``expect`` to ``state``, its log
        entry (``data["from"]`` lets an undo put it back) and its webhook event (the outbox) commit
        together or not at all. The decision's id, or None when the article was no longer in ``expect``."""
        values = rows.review_columns(ReviewState(state)) | {"updated_at": now()}
        condition = and_(
            t.articles.c.id == article_id, t.articles.c.review_state == ReviewState(expect).value
        )
        with self._begin() as c:
            if not c.execute(update(t.articles).where(condition).values(**values)).rowcount:
                return None
            note_change(
                c, articles=[article_id], lists=state != ReviewState.PUBLISHED
            )  # it may leave the set
            entry = {
                "article_id": article_id,
                "action": action,
                "actor": actor,
                "reason": reason,
                "at": now(),
                "data": {"from": ReviewState(expect).value},
            }
            decision_id = _inserted_id(c.execute(insert(t.decisions).values(**entry)))
            if event is not None:
                queue_event_rows(c, event)
            return decision_id

    def record_decision(
        self, article_id: int, action: str, actor: str, reason: str = "", data: dict[str, Any] | None = None
    ) -> int:
        """Log a decision; its id (an undo names the decision it reverts)."""
        with self._begin() as c:
            note_change(c, articles=[article_id])
            return _inserted_id(
                c.execute(
                    insert(t.decisions).values(
                        article_id=article_id,
                        action=action,
                        actor=actor,
                        reason=reason,
                        at=now(),
                        data=data or {},
                    )
                )
            )

    def decisions(self, article_id: int) -> list[dict[str, Any]]:
        query = select(t.decisions).where(t.decisions.c.article_id == article_id).order_by(t.decisions.c.id)
        with self._read() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def decision(self, decision_id: int) -> dict[str, Any] | None:
        with self._read() as c:
            row = c.execute(select(t.decisions).where(t.decisions.c.id == decision_id)).mappings().first()
        return dict(row) if row else None

    def undoing(self, decision_id: int, article_id: int) -> dict[str, Any] | None:
        """The ``undo`` decision that reverted ``decision_id``, if any (looked for among the article's)."""
        d = t.decisions
        query = select(d).where(d.c.article_id == article_id, d.c.action == "undo").order_by(d.c.id)
        with self._read() as c:
            for row in c.execute(query).mappings():
                if (row["data"] or {}).get("undoes") == decision_id:
                    return dict(row)
        return None
