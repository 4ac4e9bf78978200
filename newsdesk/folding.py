"""Folding a near-copy into its original: which of the two keeps the article, and what moves.

Enrichment finds that a new article copies a stored one (``enrich/dedupe.py``). Which one arrived first
is an accident of polling; the record should show the original. The rule, :func:`original_of`:

1. an article whose page names the other as its canonical copy (``<link rel=canonical>`` or ``og:url``
   on another site, kept by the decider as ``extra["canonical"]``) is the copy;
2. else the one published first is the original (no publication time: first seen);
3. a tie keeps the one stored first.

An exact copy (the same text) folds at ingestion, before either is enriched: :func:`retake` applies
the same rule there. The fold (:func:`fold`) always keeps the stored row — its id, story, scores,
topics, related articles and review state, the things editors and readers may already have acted on —
and deletes the new row. When the new article is the original, the kept row takes its identity (URL,
source, provider, headline, dates, text, images) and the stored article's URL becomes an alternate;
otherwise the new article's URL does. The deleted row's alternates and editors' decisions move to the
kept row, and so does its review state when the kept row has none yet. Both arrival orders thus end
with the same record.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from .model import Alternate, Article, now
from .store import Store

log = logging.getLogger(__name__)

REASON = "near-duplicate"
_LATEST = datetime.max.replace(tzinfo=UTC)


def original_of(stored: Article, new: Article) -> Article:
    """Which of two near-copies is the original (see the module docstring for the rule)."""
    if _names(new, stored):
        return stored
    if _names(stored, new):
        return new
    return new if _when(new) < _when(stored) else stored


def _names(page: Article, other: Article) -> bool:
    """Whether ``page`` says ``other`` is the canonical copy of it."""
    claim = page.extra.get("canonical")
    return isinstance(claim, str) and claim in (other.web_url, other.original_url)


def _when(article: Article) -> datetime:
    return article.published_at or article.first_seen_at or _LATEST


def sighting(article: Article, reason: str = REASON) -> Alternate:
    """``article`` as an alternate of the article it folds into."""
    return Alternate(
        article.web_url, article.source_id, article.first_seen_at or now(), reason, article.provider
    )


def retake(store: Store, stored: Article, original: Article, reason: str = "same-content") -> bool:
    """At ingestion, ``original`` (not stored: its text is ``stored``'s) turns out to be the original
    of ``stored``: the stored row takes its identity and the stored URL becomes an alternate. False
    (nothing done) when ``original`` is not the original by :func:`original_of`."""
    if stored.id is None or original_of(stored, original) is not original:
        return False
    store.fold_article(None, stored.id, [sighting(stored, reason)], identity=original)
    log.info("original arrived late", extra={"article_id": stored.id, "url": original.web_url})
    return True


def fold(store: Store, new: Article, stored_id: int) -> Article | None:
    """Fold ``new`` (being enriched) and the stored article ``stored_id`` it nearly copies into one
    article, kept under ``stored_id``; that article as stored now, or None when ``stored_id`` is gone
    (folded or deleted since)."""
    stored = store.get_articles([stored_id]).get(stored_id)
    if stored is None or new.id is None or stored.id is None:
        return None
    if original_of(stored, new) is new:
        store.fold_article(new.id, stored.id, [sighting(stored)], identity=new)
        log.info("original arrived late", extra={"article_id": stored.id, "url": new.web_url})
    else:
        store.fold_article(new.id, stored.id, [sighting(new)])
    return store.get_articles([stored.id]).get(stored.id)


__all__ = ["REASON", "fold", "original_of", "retake", "sighting"]
