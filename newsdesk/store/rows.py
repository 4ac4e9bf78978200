"""Conversions between model objects and table rows. Nothing else in newsdesk knows column names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping

from ..model import (
    Alternate,
    Article,
    Image,
    Provider,
    Reason,
    ReviewState,
    Source,
    SourceHealth,
    SourceKind,
    Story,
    TopicScore,
    now,
    utc,
)


def _dt(value: Any) -> Any:
    return utc(value) if value is not None else None


def source_row(source: Source) -> dict[str, Any]:
    return {
        "url": source.url,
        "kind": source.kind.value,
        "name": source.name,
        "name_given": source.name_given,
        "category": source.category,
        "type": source.type,
        "topics": list(source.topics),
        "poll_min_s": source.poll_min_s,
        "poll_max_s": source.poll_max_s,
        "allow_loopback": source.allow_loopback,
        "reputation": source.reputation,
        "site_url": source.site_url,
        "paused": source.paused,
    }


def health_row(health: SourceHealth) -> dict[str, Any]:
    return {
        "last_polled_at": health.last_polled_at,
        "last_success_at": health.last_success_at,
        "error_count": health.error_count,
        "last_error": health.last_error,
        "last_error_kind": health.last_error_kind,
        "next_poll_at": health.next_poll_at,
        "etag": health.etag,
        "last_modified": health.last_modified,
        "interval_s": health.interval_s,
        "body_hash": health.body_hash,
    }


def source_from_row(row: RowMapping) -> Source:
    health = SourceHealth(
        last_polled_at=_dt(row["last_polled_at"]),
        last_success_at=_dt(row["last_success_at"]),
        error_count=row["error_count"],
        last_error=row["last_error"],
        last_error_kind=row["last_error_kind"],
        next_poll_at=_dt(row["next_poll_at"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        interval_s=row["interval_s"],
        body_hash=row["body_hash"],
    )
    return Source(
        id=row["id"],
        url=row["url"],
        kind=SourceKind(row["kind"]),
        name=row["name"],
        name_given=row["name_given"],
        category=row["category"],
        type=row["type"],
        topics=tuple(row["topics"] or ()),
        poll_min_s=row["poll_min_s"],
        poll_max_s=row["poll_max_s"],
        allow_loopback=row["allow_loopback"],
        reputation=row["reputation"],
        site_url=row["site_url"],
        paused=bool(row["paused"]),
        health=health,
    )


def _image_json(image: Image) -> dict[str, Any]:
    return {
        "url": image.url,
        "width": image.width,
        "height": image.height,
        "is_cached": image.is_cached,
        "sha256": image.sha256,
        "error": image.error,
    }


def _reasons_json(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{"name": r.name, "value": r.value, "detail": r.detail} for r in reasons]


def search_text(article: Article, *, full_text: bool) -> str:
    """What full-text search indexes: title, excerpt, topics, provider — the text only when allowed."""
    parts = [article.title, article.excerpt, " ".join(article.topics), article.provider.name]
    if full_text and article.text:
        parts.append(article.text)
    return "\n".join(p for p in parts if p)


def review_columns(state: ReviewState) -> dict[str, Any]:
    """The editorial state's columns: the one place the store writes them. ``review_state`` is the truth;
    the ``published`` column is its copy, kept because the public read models and the reader APIs filter
    on it (``WHERE published``) and the record format names it."""
    return {"review_state": state.value, "published": state is ReviewState.PUBLISHED}


def article_row(article: Article, *, full_text_index: bool) -> dict[str, Any]:
    """The row for ``article`` without ``id``, the timestamps the store owns, and the editorial state
    (``published``/``review_state`` change only through ``Store.set_review_state``, so a pipeline
    saving a stale copy can never undo an editor's decision)."""
    return {
        "canonical_url": article.web_url,
        "original_url": article.original_url,
        "source_id": article.source_id,
        "category": article.category,
        "title": article.title,
        "excerpt": article.excerpt,
        "published_at": article.published_at,
        "type": article.type,
        "quality": article.quality,
        "heat": article.heat,
        "provider_name": article.provider.name,
        "provider_domain": article.provider.domain,
        "topics": list(article.topics),
        "images": [_image_json(i) for i in article.images],
        "secured": article.secured,
        "key_id": article.key_id,
        "text": article.text or None,
        "content_hash": article.content_hash,
        "language": article.language,
        "author": article.author,
        "fetched_at": article.fetched_at,
        "story_id": article.story_id,
        "quality_reasons": _reasons_json(article.quality_reasons),
        "heat_reasons": _reasons_json(article.heat_reasons),
        "topic_scores": [
            {"name": t.name, "score": t.score, "signal": t.signal} for t in article.topic_scores
        ],
        "fetch_error": article.fetch_error,
        "search_text": search_text(article, full_text=full_text_index),
        "extra": dict(article.extra),
    }


def article_from_row(row: RowMapping) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        web_url=row["canonical_url"],
        original_url=row["original_url"],
        provider=Provider(row["provider_name"], row["provider_domain"]),
        category=row["category"],
        excerpt=row["excerpt"],
        published_at=_dt(row["published_at"]),
        type=row["type"],
        quality=row["quality"],
        heat=row["heat"],
        topics=tuple(row["topics"] or ()),
        images=tuple(_image_from_json(i) for i in row["images"] or ()),
        secured=row["secured"],
        source_id=row["source_id"],
        first_seen_at=_dt(row["first_seen_at"]),
        fetched_at=_dt(row["fetched_at"]),
        language=row["language"],
        author=row["author"],
        text=row["text"] or "",
        content_hash=row["content_hash"],
        story_id=row["story_id"],
        key_id=row["key_id"],
        quality_reasons=tuple(Reason(**r) for r in row["quality_reasons"] or ()),
        heat_reasons=tuple(Reason(**r) for r in row["heat_reasons"] or ()),
        topic_scores=tuple(TopicScore(**t) for t in row["topic_scores"] or ()),
        fetch_error=row["fetch_error"],
        review_state=ReviewState(row["review_state"]),
        extra=dict(row["extra"] or {}),
    )


def _image_from_json(data: Mapping[str, Any]) -> Image:
    return Image(
        url=data["url"],
        width=data.get("width"),
        height=data.get("height"),
        is_cached=bool(data.get("is_cached")),
        sha256=data.get("sha256"),
        error=data.get("error"),
    )


def alternate_from_row(row: RowMapping) -> Alternate:
    provider = None
    if row["provider_name"] and row["provider_domain"]:
        provider = Provider(row["provider_name"], row["provider_domain"])
    return Alternate(
        url=row["url"],
        source_id=row["source_id"],
        seen_at=utc(row["seen_at"]),
        reason=row["reason"],
        provider=provider,
    )


def story_from_row(row: RowMapping) -> Story:
    return Story(
        id=row["id"],
        title=row["title"],
        first_seen_at=utc(row["first_seen_at"]),
        last_seen_at=utc(row["last_seen_at"]),
        size=row["size"],
        providers=tuple(row["providers"] or ()),
        heat=row["heat"],
    )


def stamp() -> Any:
    return now()
