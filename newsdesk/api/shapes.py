"""Domain objects → JSON-ready dicts in the record's camelCase shape (pure functions, no I/O).

The keys and their order follow ``record.py`` (``category``, ``title``, …, ``secured``) so an API client
and a record file reader see the same names. Dates are ISO-8601 UTC with a ``Z`` suffix, as in records.
Text is returned as data, never as markup: a title holding ``<script>`` comes back as that string inside
JSON, and JSON is the only media type these dicts are served as.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..catalog import TopicNode, slug
from ..model import Alternate, Article, Image, Provider, Reason, RelatedRef, Source, Story, TopicScore
from ..record import format_datetime

API_PREFIX = "/api/v1"


def when(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def provider(value: Provider) -> dict[str, Any]:
    return {"name": value.name, "domain": value.domain}


def image(value: Image) -> dict[str, Any]:
    cached = f"{API_PREFIX}/images/{value.sha256}" if value.is_cached and value.sha256 else None
    return {"url": value.url, "width": value.width, "height": value.height, "isCached": value.is_cached,
            "cachedUrl": cached}  # fmt: skip


def article_item(a: Article) -> dict[str, Any]:
    """The list shape: record keys plus ``id`` and ``reviewState``."""
    return {
        "id": a.id,
        "category": a.category,
        "title": a.title,
        "excerpt": a.excerpt,
        "publishedDateTime": when(a.published_at),
        "originalUrl": a.original_url,
        "webUrl": a.web_url,
        "type": a.type,
        "quality": a.quality,
        "heat": a.heat,
        "published": a.published,
        "provider": provider(a.provider),
        "topics": list(a.topics),
        "images": [image(i) for i in a.images],
        "secured": a.secured,
        "reviewState": a.review_state,
    }


def related(ref: RelatedRef) -> dict[str, Any]:
    return {
        "id": ref.article_id,
        "title": ref.title,
        "excerpt": ref.excerpt,
        "publishedDateTime": when(ref.published_at),
        "webUrl": ref.web_url,
        "type": ref.type,
        "provider": provider(ref.provider),
        "quality": ref.quality,
        "images": [image(i) for i in ref.images],
        "similarity": ref.similarity,
    }


def topic_score(t: TopicScore) -> dict[str, Any]:
    return {"name": t.name, "score": t.score, "signal": t.signal}


def reason(r: Reason) -> dict[str, Any]:
    return {"name": r.name, "value": r.value, "detail": r.detail}


def alternate(alt: Alternate) -> dict[str, Any]:
    return {
        "url": alt.url,
        "sourceId": alt.source_id,
        "seenAt": when(alt.seen_at),
        "reason": alt.reason,
        "provider": provider(alt.provider) if alt.provider else None,
    }


def decision(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored decision row (``Store.decisions``) on the wire."""
    return {
        "id": row["id"],
        "action": row["action"],
        "actor": row["actor"],
        "reason": row["reason"] or "",
        "at": when(row["at"]),
        "data": dict(row["data"] or {}),
    }


def article_detail(
    a: Article, alternates: list[Alternate], decisions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The full record (with ``related``) and every reason behind its scores and state."""
    return article_item(a) | {
        "related": [related(r) for r in a.related],
        "topicScores": [topic_score(t) for t in a.topic_scores],
        "qualityReasons": [reason(r) for r in a.quality_reasons],
        "heatReasons": [reason(r) for r in a.heat_reasons],
        "alternates": [alternate(x) for x in alternates],
        "decisions": [decision(d) for d in decisions],
        "storyId": a.story_id,
        "sourceId": a.source_id,
        "language": a.language,
        "author": a.author,
        "firstSeenAt": when(a.first_seen_at),
        "fetchedAt": when(a.fetched_at),
        "fetchError": a.fetch_error,
    }


def story(s: Story) -> dict[str, Any]:
    return {
        "id": s.id,
        "title": s.title,
        "firstSeenAt": when(s.first_seen_at),
        "lastSeenAt": when(s.last_seen_at),
        "size": s.size,
        "providers": list(s.providers),
        "heat": s.heat,
    }


def topic_node(node: TopicNode, feed_prefix: str) -> dict[str, Any]:
    """A topic with its count, its RSS feed under ``feed_prefix`` and its children, recursively."""
    return {
        "name": node.topic.name,
        "description": node.topic.description,
        "count": node.count,
        "feed": f"{feed_prefix}/{slug(node.topic.name)}.rss",
        "children": [topic_node(child, feed_prefix) for child in node.children],
    }


def source(s: Source) -> dict[str, Any]:
    h = s.health
    return {
        "id": s.id,
        "url": s.url,
        "kind": s.kind.value,
        "name": s.name,
        "category": s.category,
        "type": s.type,
        "topics": list(s.topics),
        "pollMinS": s.poll_min_s,
        "pollMaxS": s.poll_max_s,
        "allowLoopback": s.allow_loopback,
        "reputation": s.reputation,
        "siteUrl": s.site_url,
        "paused": s.paused,
        "health": {
            "lastPolledAt": when(h.last_polled_at),
            "lastSuccessAt": when(h.last_success_at),
            "errorCount": h.error_count,
            "lastError": h.last_error,
            "lastErrorKind": h.last_error_kind,
            "nextPollAt": when(h.next_poll_at),
            "intervalS": h.interval_s,
        },
    }
