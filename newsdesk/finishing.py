"""The last stages of a run (their order and wiring: ``stages.py``): cache images, seal the full text,
apply the publish rules.

They run after enrichment on the articles of the run, and each is safe to run again: cached images are
skipped, decided articles are skipped. Texts are sealed when ingestion stores them; the seal stage here
only catches rows an older version left in the clear.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from . import events
from .config import Settings
from .errors import CryptoError
from .model import Article, Image, ReviewState
from .publish.rules import Action, Rule, decide, parse_rules
from .sources.sanitize import publishable_images
from .store import Store

if TYPE_CHECKING:  # Pillow and httpx load with the first image fetched, not with every CLI command;
    # cryptography with the first key ring read (a run with encryption off reads none)
    from .extract.images import ImageCache
    from .fetch.client import Fetcher
    from .secure import KeyRing

log = logging.getLogger(__name__)

IMAGES_PER_ARTICLE = 4  # the record shows a lead image or two; more would only fill the cache
CHUNK = 500  # articles loaded at once by the images and rules stages: a run of any size holds no more


def image_cache(settings: Settings) -> ImageCache:
    from .extract.images import ImageCache

    return ImageCache(
        settings.data_dir / "images",
        max_bytes=settings.image_cache_max_bytes,
        thumb_width=settings.thumbnail_width,
    )


def key_ring(settings: Settings) -> KeyRing:
    """The key ring from ``secret_key`` (one key) or the key file (several, after rotations)."""
    from .secure import KeyRing, load_key_file

    if settings.secret_key:
        return KeyRing.from_secret(settings.secret_key)
    path = settings.key_path
    if not path.exists():
        raise CryptoError(f"no key: set NEWSDESK_SECRET_KEY or run `newsdesk init` to create {path}")
    return load_key_file(path)


async def cache_images(
    store: Store, cache: ImageCache, fetcher: Fetcher, ids: Sequence[int], *, run_id: int | None = None
) -> dict[str, int]:
    """Download the images of ``ids`` that are not cached yet; failures stay on the image as its error,
    except an SVG (by content type or sniffed bytes), which leaves the article's images."""
    allow = {s.id: s.allow_loopback for s in store.list_sources()}
    counts = {"images_cached": 0, "images_failed": 0}

    async def one(article: Article) -> None:
        fresh: list[Image] = []
        for image in article.images[:IMAGES_PER_ARTICLE]:
            if image.is_cached or image.error:
                fresh.append(image)
                continue
            got = await cache.cache(image.url, fetcher, allow_private=allow.get(article.source_id, False))
            counts["images_cached" if got.is_cached else "images_failed"] += 1
            if got.error:
                store.record_event(
                    "image",
                    got.error,
                    source_id=article.source_id,
                    article_id=article.id,
                    url=image.url,
                    run_id=run_id,
                    level="warning",
                )
            fresh.append(got)
        kept = publishable_images(fresh)  # an image the cache found to be SVG is dropped, not kept
        if kept != article.images[:IMAGES_PER_ARTICLE]:
            store.save_article(article.replace(images=kept))

    for chunk in _chunks(ids):
        articles = store.get_articles(chunk).values()
        await asyncio.gather(*(one(a) for a in articles if a.images))
    return counts


def seal_texts(store: Store, ring: KeyRing) -> dict[str, int]:
    """Seal the texts still stored in the clear (``secured`` + key id, text dropped).

    Ingestion seals each text before its row is written, so this finds only leftovers: rows stored with
    encryption off, or by a version that sealed after enrichment (a crash, or a missing key, left them
    in the clear). Re-sealing onto a new key is ``key rotate``'s job (:func:`newsdesk.secure.reencrypt`).
    """
    sealed = 0
    for article in store.iter_clear_texts():  # a row with both holds its latest text in the clear
        box = ring.encrypt(article.text)
        store.save_article(article.replace(secured=box.secured, key_id=box.key_id, text=""))
        sealed += 1
    return {"sealed": sealed}


def compiled_rules(settings: Settings) -> tuple[tuple[Rule, Action], ...]:
    return parse_rules(settings.publish_rules)


def apply_rules(
    store: Store,
    rules: Sequence[tuple[Rule, Action]],
    ids: Sequence[int],
    at: datetime,
    *,
    ring: KeyRing | None = None,
) -> dict[str, int]:
    """Publish or reject what a rule decides; the rest waits in the review queue. With ``ring``, a
    sealed article's rules see its text (``words``, ``text`` fields): the stored row holds none."""
    counts = {"published_by_rule": 0, "rejected_by_rule": 0}
    if not rules:
        return counts
    for chunk in _chunks(ids):
        for article in store.get_articles(chunk).values():
            counted = _apply(store, rules, article, at, ring)
            if counted:
                counts[counted] += 1
    return counts


def _apply(
    store: Store, rules: Sequence[tuple[Rule, Action]], article: Article, at: datetime, ring: KeyRing | None
) -> str:
    """Decide one pending article by the rules; the count it adds to (``""``: none)."""
    if article.review_state is not ReviewState.PENDING or article.id is None:
        return ""
    decision = decide(rules, _readable(article, ring), at)
    if decision is None:
        return ""
    state = ReviewState.PUBLISHED if decision.published else ReviewState.REJECTED
    action, actor = decision.action.value, f"rule: {decision.reason}"
    article_now = events.article_payload(article.replace(review_state=state))
    payload = {"article": article_now, "actor": actor, "reason": decision.reason}
    event = events.event(action, payload)  # queued with the decision: one transaction (the outbox)
    decided = store.decide(
        article.id,
        state,
        expect=ReviewState.PENDING,
        action=action,
        actor=actor,
        reason=decision.reason,
        event=event,
    )
    return f"{state.value}_by_rule" if decided is not None else ""


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _readable(article: Article, ring: KeyRing | None) -> Article:
    """The article with its full text in hand, for deciding only (never saved)."""
    if ring is None or article.secured is None or article.text:
        return article
    return article.replace(text=decrypt_text(article, ring))


def decrypt_text(article: Article, ring: KeyRing) -> str:
    """The article's full text, from the clear column or its sealed payload."""
    if article.secured is None:
        return article.text
    if not article.key_id:
        raise CryptoError("the payload has no key id")
    return ring.decrypt(article.secured, article.key_id)


__all__ = [
    "apply_rules",
    "cache_images",
    "compiled_rules",
    "decrypt_text",
    "image_cache",
    "key_ring",
    "seal_texts",
]
