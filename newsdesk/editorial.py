"""Editors' actions and API tokens: the decisions people make, each stored with who, when and why."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import events
from .errors import NewsdeskError
from .model import Article, ReviewState, TopicScore
from .store import ArticleQuery, Page

if TYPE_CHECKING:
    from .app import Newsdesk


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
        changed = store.set_review_state(article_id, state, expect=current.review_state)
        if changed:
            store.record_decision(article_id, action, actor, reason)
            payload = {"article": events.article_payload(store.get_article(article_id)), "actor": actor}
            events.emit(store, action, payload | {"reason": reason})
        return changed

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


class Tokens:
    """API bearer tokens: shown once at creation, stored only as a SHA-256 hash."""

    SCOPES = ("read", "write", "admin")

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def create(self, name: str, scope: str) -> tuple[int, str]:
        if scope not in self.SCOPES:
            raise NewsdeskError(f"scope must be one of {', '.join(self.SCOPES)}, got {scope!r}")
        token = "nd_" + secrets.token_urlsafe(32)
        return self.nd.store.create_token(name, scope, _hash_token(token)), token

    def verify(self, token: str) -> dict[str, Any] | None:
        return self.nd.store.find_token(_hash_token(token)) if token else None

    def revoke(self, token_id: int) -> bool:
        return self.nd.store.revoke_token(token_id)

    def list(self) -> list[dict[str, Any]]:
        return self.nd.store.list_tokens()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
