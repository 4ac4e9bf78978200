"""Non-JSON outputs: RSS / Atom / JSON Feed of published records, and cached images."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path as FilePath

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, Response

from ..catalog import Audience
from ..model import Article, now
from .params import Ctx, Viewer

FEEDS = {  # the formats of newsdesk.outputs.FEED_FORMATS, as served
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
ALL = "all"
FEED_MAX_AGE_S = 300  # = the shortest poll interval (settings.poll_min_interval default): nothing is newer
IMAGE_CACHE_CONTROL = "public, max-age=31536000, immutable"  # content-addressed: the bytes never change
PRIVATE_IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"  # see _cache_control
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
}


def get_feed(request: Request, ctx: Ctx, name: str) -> Response:
    """``{topic}.rss|.atom|.json`` — the topic by name or slug (``ai-in-finance``), or ``all``."""
    stem, _, ext = name.rpartition(".")
    if ext not in FEEDS or not stem:
        raise HTTPException(404, "feeds are <topic>.rss, <topic>.atom or <topic>.json")
    topic = None
    if stem != ALL:
        found = ctx.catalog.find_topic(stem)
        if found is None:
            raise HTTPException(404, f"no such topic: {stem}")
        topic = found.name
    articles = ctx.catalog.feed_articles(topic)
    body = ctx.nd.outputs.render_feed(
        ext,
        articles,
        title=f"newsdesk — {topic}" if topic else "newsdesk — all published articles",
        site_url=str(request.base_url),
        feed_url=str(request.url.replace(query=None)),
        description=f"Published articles on {topic}" if topic else "Every published article",
        updated=_newest(articles),
    )
    return Response(
        body, media_type=FEEDS[ext], headers={"Cache-Control": f"public, max-age={FEED_MAX_AGE_S}"}
    )


def _newest(articles: Sequence[Article]) -> datetime:
    """The feed's ``updated``: its newest article's date, or now for an empty feed."""
    dates = [d for a in articles if (d := a.published_at or a.first_seen_at) is not None]
    return max(dates) if dates else now()


def get_image(ctx: Ctx, viewer: Viewer, sha256: str) -> Response:
    """The cached original, by the SHA-256 of its bytes. Anonymous callers get only the images of
    published articles (any other hash is a 404, as for one the cache does not hold)."""
    return _image(ctx.catalog.image_file(sha256, viewer), sha256, viewer)


def get_thumbnail(ctx: Ctx, viewer: Viewer, sha256: str) -> Response:
    """The cached thumbnail (JPEG), by the SHA-256 of the original's bytes; visible as the original."""
    return _image(ctx.catalog.image_file(sha256, viewer, thumbnail=True), sha256, viewer)


def _image(path: FilePath | None, sha256: str, viewer: Audience) -> Response:
    # Only 64 lowercase hex digits ever reach the cache (which checks again before building a path).
    if path is None:
        raise HTTPException(404, "no cached image with this SHA-256")
    media_type = IMAGE_TYPES.get(path.suffix, "application/octet-stream")
    headers = {"Cache-Control": _cache_control(viewer), "ETag": f'"{sha256}"'}
    return FileResponse(path, media_type=media_type, headers=headers)


def _cache_control(viewer: Audience) -> str:
    """A token holder may be shown an unpublished article's image: a shared cache (proxy, CDN) must
    not keep that answer and hand it to anonymous callers, so only public answers are ``public``."""
    return IMAGE_CACHE_CONTROL if viewer.published_only else PRIVATE_IMAGE_CACHE_CONTROL
