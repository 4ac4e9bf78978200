"""Editors' actions, the facade's ``nd.editorial``: the decisions people make, each stored with who, when
and why, and the review queue they make them from (with each editor's read and starred flags)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import events
from .errors import NewsdeskError
from .model import Article, ReviewState, TopicScore
from .store import ArticleQuery, Page
from .store.reading import SORTS, ReviewFilter, ReviewItem

if TYPE_CHECKING:
    from .app import Newsdesk

__all__ = [
    "BULK_ACTIONS",
    "SORTS",
    "Conflict",
    "Editorial",
    "NotFound",
    "Outcome",
    "ReviewFilter",
    "ReviewItem",
    "has_visible_text",
]


BULK_ACTIONS = {
    "publish": ReviewState.PUBLISHED,
    "reject": ReviewState.REJECTED,
}  # action -> the state it leaves


class NotFound(NewsdeskError):
    """An article or decision named in an editor's request does not exist."""


class Conflict(NewsdeskError):
    """The request lost a compare-and-set: someone decided the article since (or undid it already)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one decision of a bulk request (or an undo) did: whether it changed the article, the
    decision logged for it (the id an undo takes), and the review state the article is in now."""

    article_id: int
    changed: bool
    decision_id: int | None
    review_state: str


def has_visible_text(text: str) -> bool:
    """At least one character a person can see: not whitespace, not a control character."""
    return any(ch.isprintable() and not ch.isspace() for ch in text)


class Editorial:
    """Editors' actions. Every decision is stored with who, when and why, so the topic and quality
    models can learn from it; a concurrent second publish of the same article is reported, not doubled."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def queue(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self.nd.store.list_articles(
            ArticleQuery(review_state=ReviewState.PENDING, limit=limit, cursor=cursor)
        )

    def publish(self, article_id: int, *, actor: str, reason: str = "") -> bool:
        """True when this call published it; False when it was already published."""
        return self._move(article_id, ReviewState.PUBLISHED, "publish", actor, reason)

    def reject(self, article_id: int, *, actor: str, reason: str) -> bool:
        if not has_visible_text(reason):
            raise NewsdeskError("a rejection needs a reason")
        return self._move(article_id, ReviewState.REJECTED, "reject", actor, reason)

    def _move(self, article_id: int, state: ReviewState, action: str, actor: str, reason: str) -> bool:
        store = self.nd.store
        current = store.get_article(article_id)  # raises for an unknown id
        if current.review_state == state:
            return False
        return self._decide(current, state, action, actor, reason) is not None

    def _decide(
        self, current: Article, state: ReviewState, action: str, actor: str, reason: str
    ) -> int | None:
        """Move ``current`` to ``state`` with its log entry and webhook event in one transaction (the
        outbox: a crash after the commit cannot lose the event); the decision id, None if it lost the race."""
        assert current.id is not None
        article = events.article_payload(current.replace(review_state=state))
        event = events.event(action, {"article": article, "actor": actor, "reason": reason})
        return self.nd.store.decide(
            current.id,
            state,
            expect=current.review_state,
            action=action,
            actor=actor,
            reason=reason,
            event=event,
        )

    def decide_many(
        self, article_ids: Sequence[int], action: str, *, actor: str, reason: str = ""
    ) -> list[Outcome]:
        """Publish or reject a selection, one compare-and-set per article (so a concurrent decision on
        one of them is reported for that one, not lost). Every id must exist, else nothing is done."""
        if action not in BULK_ACTIONS:
            raise NewsdeskError(f"action must be one of {', '.join(BULK_ACTIONS)}, got {action!r}")
        if action == "reject" and not has_visible_text(reason):
            raise NewsdeskError("a rejection needs a reason")
        missing = sorted(set(article_ids) - self.nd.store.existing_article_ids(article_ids))
        if missing:
            raise NotFound(f"no such articles: {', '.join(map(str, missing[:20]))}")
        return [self._decide_one(i, action, actor, reason) for i in dict.fromkeys(article_ids)]

    def _decide_one(self, article_id: int, action: str, actor: str, reason: str) -> Outcome:
        state = BULK_ACTIONS[action]
        store = self.nd.store
        current = store.get_article(article_id)
        decision = (
            None if current.review_state == state else self._decide(current, state, action, actor, reason)
        )
        if decision is None:
            return Outcome(article_id, False, None, store.get_article(article_id).review_state)
        return Outcome(article_id, True, decision, state)

    def undo(self, decision_id: int, *, actor: str) -> Outcome:
        """Revert a publish or reject: the article goes back to the state it had before, if it is still
        in the state that decision left it (compare-and-set); the log keeps both the decision and an
        ``undo`` entry naming it. Raises :class:`NotFound`, or :class:`Conflict` when it was undone
        already or decided again since."""
        store = self.nd.store
        decision = store.decision(decision_id)
        if decision is None or decision["action"] not in BULK_ACTIONS:
            raise NotFound(f"no publish or reject decision {decision_id}")
        article_id = int(decision["article_id"])
        if store.undoing(decision_id, article_id) is not None:
            raise Conflict(f"decision {decision_id} was undone already")
        before = ReviewState((decision["data"] or {}).get("from", ReviewState.PENDING))
        after = BULK_ACTIONS[str(decision["action"])]
        if not store.set_review_state(article_id, before, expect=after):
            raise Conflict(f"article {article_id} was decided again since decision {decision_id}")
        undo_id = store.record_decision(
            article_id, "undo", actor, "", {"undoes": decision_id, "from": after, "to": before}
        )
        return Outcome(article_id, True, undo_id, before)

    def set_topics(self, article_id: int, topics: Sequence[str], *, actor: str, reason: str = "") -> Article:
        """Replace an article's topics (ancestors added); stored as an editor decision for training."""
        taxonomy = self.nd.taxonomy
        for name in topics:
            try:
                taxonomy.get(name)
            except KeyError:
                raise NewsdeskError(f"unknown topic {name!r} (not in the taxonomy)") from None
        store = self.nd.store
        article = store.get_article(article_id)
        full = taxonomy.with_ancestors(list(topics))
        scores = tuple(TopicScore(t, 1.0, "editor") for t in full)
        store.save_article(article.replace(topics=full, topic_scores=scores))
        store.record_decision(
            article_id, "topics", actor, reason, {"topics": list(full), "before": list(article.topics)}
        )
        return store.get_article(article_id)

    # ---------------------------------------------------------------------------- the review queue

    def review_items(
        self, editor: str, where: ReviewFilter, *, limit: int, offset: int = 0
    ) -> list[ReviewItem]:
        """A page of the review queue as ``where`` filters and sorts it, with ``editor``'s own flags."""
        store = self.nd.store
        return store.review_items(store.editor_user_id(editor), where, limit=limit, offset=offset)

    def set_flags(
        self,
        editor: str,
        article_ids: Sequence[int],
        *,
        read: bool | None = None,
        starred: bool | None = None,
    ) -> int:
        """Set ``editor``'s read or starred flag on the articles (for them only); how many changed."""
        store = self.nd.store
        return store.set_editor_state(store.editor_user_id(editor), article_ids, read=read, starred=starred)

    def decisions(self, article_id: int) -> list[dict[str, Any]]:
        """Every decision logged for the article, oldest first."""
        return self.nd.store.decisions(article_id)

    def decision(self, decision_id: int) -> dict[str, Any] | None:
        return self.nd.store.decision(decision_id)

    def undone(self, decision: dict[str, Any]) -> bool:
        """Whether ``decision`` (a row of :meth:`decision`) has been undone."""
        return self.nd.store.undoing(int(decision["id"]), int(decision["article_id"])) is not None
