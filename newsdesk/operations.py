"""Occasional operations behind CLI and API commands: feed discovery, OPML, ratings, topic training,
key rotation, feed files and score explanations. Each is a short composition of stage functions over the
facade's store; none holds state.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FetchError, NewsdeskError, ParseError
from .fetch.client import Fetcher
from .fetch.policy import FetchResult
from .ingestor import fetch_policy
from .model import Article, Source, SourceKind, is_http_url
from .publish.feeds import FeedInfo, render_atom, render_json_feed, render_rss
from .secure import load_key_file, reencrypt
from .sources.discover import KIND_SITEMAP, DiscoveredFeed, candidate_urls, discover_feeds
from .sources.feeds import parse_feed
from .sources.opml import parse_opml, write_opml
from .sources.sitemaps import parse_sitemap
from .store import ArticleQuery
from .store.tables import LABEL_CHARS, SOURCE_NAME_CHARS

if TYPE_CHECKING:
    from .app import Newsdesk

log = logging.getLogger(__name__)

MAX_PROBES = 8
"""Candidate feeds fetched at most per URL. Sites declare 1-3 feeds; the conventional-location list has 13
entries per prefix, and probing them all through the per-host politeness delay (0.5 s) would keep an
editor waiting for seconds — the first eight cover WordPress, Ghost, Hugo, Jekyll and JSON Feed."""


# ------------------------------------------------------------------------------------------ discovery


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A feed or sitemap: where it is, what kind of source it makes, and its title. ``unconfirmed`` holds
    the page's declaration of a feed that could not be fetched and parsed now (the title is then the link's).
    """

    url: str
    kind: SourceKind
    title: str | None
    unconfirmed: DiscoveredFeed | None = None

    @property
    def confirmed(self) -> bool:
        return self.unconfirmed is None


async def discover(nd: Newsdesk, url: str, *, allow_loopback: bool = False) -> list[DiscoveredFeed]:
    """Every feed ``url`` offers (:func:`find_feeds`), through a fetcher of the desk's policy."""
    async with Fetcher(fetch_policy(nd.settings, nd.resolve)) as fetcher:
        found = await find_feeds(url, fetcher, allow_private=allow_loopback)
    return [f.unconfirmed or DiscoveredFeed(f.url, f.title, f.kind.value) for f in found]


async def find_feeds(
    url: str, fetcher: Fetcher, *, allow_private: bool = False, first: bool = False
) -> list[FoundFeed]:
    """What ``url`` offers, in order: itself when it is a feed or sitemap, else the feeds its page
    declares or links, else the conventional feed paths of the site that answer with a feed. At most
    :data:`MAX_PROBES` candidates are fetched, at once; linked feeds are fetched to take their own titles
    (a link's text is often just the file name, "feed.xml"), and a declared one that cannot be confirmed
    now stays in the list, unconfirmed — the page did declare it. With ``first``, candidates are fetched
    one by one and the list ends at the first confirmed feed: what a form that adds one source needs.
    A :class:`~newsdesk.errors.FetchError` for ``url`` itself propagates."""
    page = await fetcher.get(url, allow_private=allow_private, expect="any")
    itself = classify(page)
    if itself is not None:
        return [itself]
    declared = discover_feeds(page.text or "", page.url)
    if declared:
        candidates = [(d.url, d.kind == KIND_SITEMAP) for d in declared]
    else:
        candidates = [(u, "sitemap" in u) for u in candidate_urls(page.url) if u != page.url]
    checked = await _probe_all(candidates[:MAX_PROBES], fetcher, allow_private, first)
    if not declared:
        return [f for f in checked if f is not None]
    return [_titled(d, f) for d, f in zip(declared, checked, strict=False)] + [
        _titled(d, None) for d in declared[len(checked) :] if not first
    ]


async def _probe_all(
    candidates: list[tuple[str, bool]], fetcher: Fetcher, allow_private: bool, first: bool
) -> list[FoundFeed | None]:
    """Each candidate confirmed or None, in order; with ``first``, one by one up to the first confirmed."""
    if not first:
        return list(await asyncio.gather(*(probe(u, fetcher, allow_private, s) for u, s in candidates)))
    checked: list[FoundFeed | None] = []
    for candidate, sitemap_first in candidates:
        checked.append(await probe(candidate, fetcher, allow_private, sitemap_first))
        if checked[-1] is not None:
            break
    return checked


def _titled(declared: DiscoveredFeed, found: FoundFeed | None) -> FoundFeed:
    """A declared feed as confirmed (its own title, else the link's), or unconfirmed with the link's."""
    if found is not None:
        return dataclasses.replace(found, title=found.title or declared.title)
    kind = SourceKind.SITEMAP if declared.kind == KIND_SITEMAP else SourceKind.FEED
    return FoundFeed(declared.url, kind, declared.title, unconfirmed=declared)


async def probe(
    url: str, fetcher: Fetcher, allow_private: bool, sitemap_first: bool = False
) -> FoundFeed | None:
    """Fetch a candidate feed URL and confirm what it is; None when it is unreachable or not a feed."""
    try:
        result = await fetcher.get(url, allow_private=allow_private, expect="feed")
    except FetchError as e:
        log.info("feed candidate unreachable", extra={"url": url, "error_kind": e.kind})
        return None
    return classify(result, sitemap_first=sitemap_first)


def classify(result: FetchResult, *, sitemap_first: bool = False) -> FoundFeed | None:
    """The fetched body as a feed or a sitemap source, or None when it is neither (an HTML page)."""
    parsers = (_as_sitemap, _as_feed) if sitemap_first else (_as_feed, _as_sitemap)
    for parse in parsers:
        found = parse(result)
        if found is not None:
            return found
    return None


def _as_feed(result: FetchResult) -> FoundFeed | None:
    try:
        parsed = parse_feed(result.content, result.url, content_type=result.content_type)
    except ParseError:
        return None
    return FoundFeed(result.url, SourceKind.FEED, parsed.title)


def _as_sitemap(result: FetchResult) -> FoundFeed | None:
    try:
        parsed = parse_sitemap(result.content, result.url)
    except ParseError:
        return None
    if not parsed.entries and not parsed.children:
        return None
    return FoundFeed(result.url, SourceKind.SITEMAP, None)


def source_for(feed: DiscoveredFeed, *, found_on: str | None = None, **defaults: Any) -> Source:
    """The source for a discovered feed; the page it was ``found_on`` becomes its site URL. A ``name``
    in ``defaults`` is the user's; without one the discovered title stands in until the feed's own
    title replaces it on a poll (``Source.name_given``)."""
    kind = SourceKind.SITEMAP if feed.kind == "sitemap" else SourceKind.FEED
    site = found_on if found_on and found_on != feed.url and is_http_url(found_on) else None
    given = defaults.pop("name", None)
    return Source(url=feed.url, kind=kind, name=given or feed.title, name_given=bool(given), site_url=site,
                  **defaults)  # fmt: skip


# ---------------------------------------------------------------------------------------------- OPML


def import_opml(nd: Newsdesk, path: Path) -> tuple[list[Source], list[str]]:
    """Add the feeds an OPML file lists; returns what was added and one message per outline not added.
    A known feed takes the outline's title as its name (the name the user gave it in their reader);
    nothing else about it changes."""
    try:
        outlines = parse_opml(path.read_bytes())
    except OSError as e:
        raise NewsdeskError(f"{path}: cannot read: {e}") from e
    known = {s.url: s for s in nd.store.list_sources()}
    added, skipped = [], []
    for outline in outlines:
        if not outline.xml_url:
            skipped.append(f"{outline.title}: no feed URL")
            continue
        if outline.xml_url in known:
            skipped.append(
                f"{outline.xml_url}: already known{_rename(nd, known[outline.xml_url], outline.title)}"
            )
            continue
        try:
            source = Source(
                outline.xml_url,
                name=outline.title,
                category=(outline.category or "")[:LABEL_CHARS] or None,  # longer folder paths are cut
                site_url=outline.html_url,
            )
            added.append(nd.store.add_source(source))
            known[outline.xml_url] = source
        except (ValueError, NewsdeskError) as e:
            skipped.append(f"{outline.xml_url}: {e}")
    return added, skipped


def _rename(nd: Newsdesk, source: Source, title: str | None) -> str:
    """Give a known source the name an OPML outline has for it; what to add to its "already known"."""
    name = (title or "")[:SOURCE_NAME_CHARS]
    if not name or source.id is None or (source.name == name and source.name_given):
        return ""
    nd.update_source(source.id, _with(source, name=name, name_given=True))
    return f", renamed {source.name!r} to {name!r}"


def export_opml(nd: Newsdesk) -> bytes:
    return write_opml(nd.store.list_sources(), "newsdesk sources")


# ------------------------------------------------------------------------------------------- ratings


def import_ratings(nd: Newsdesk, path: Path) -> tuple[int, list[str]]:
    """Set each source's reputation from a ``domain,score`` CSV (0-1). Returns (sources rated, problems).
    The most specific rating wins: the source's host, else its nearest rated parent domain
    (``news.example.com`` → ``example.com``), else its registered domain."""
    from .enrich.quality import load_ratings, reputation_for
    from .fetch.urls import host_of, registered_domain

    ratings, problems = load_ratings(path)
    rated = 0
    for source in nd.store.list_sources():
        score = reputation_for(host_of(source.url), ratings)
        if score is None:
            score = ratings.get(registered_domain(source.url))
        if score is not None and source.id is not None:
            nd.store.update_source(source.id, _with(source, reputation=score))
            rated += 1
    nd.store.set_meta("ratings", ratings)
    return rated, problems


def _with(source: Source, **changes: Any) -> Source:
    from dataclasses import replace

    return replace(source, **changes)


# ------------------------------------------------------------------------------------ topic training


def train_topics(nd: Newsdesk, path: Path) -> dict[str, Any]:
    """Train the supervised topic model from a labelled CSV (``title,text,topics`` with topics separated
    by ``;``) plus every editor topic correction in the store."""
    from .enrich.supervised import LabelledExample, save_model, train_supervised
    from .enricher import TOPIC_MODEL_FILE, Enricher, embed_text

    rows = _labelled_rows(path) if path else []
    rows += _editor_examples(nd)
    if not rows:
        raise NewsdeskError("no labelled examples: give a CSV with title,text,topics columns")
    taxonomy = nd.taxonomy
    known = {t.name for t in taxonomy.topics}
    unknown = sorted({t for _, _, topics in rows for t in topics} - known)
    if unknown:
        raise NewsdeskError(f"labels not in the taxonomy: {', '.join(unknown[:10])}")
    embedder = Enricher(nd.settings, nd.store, taxonomy).embedder
    vectors = embedder.embed([embed_text(_stub(title, text), text) for title, text, _ in rows])
    examples = [
        LabelledExample(t, x, v, tuple(taxonomy.with_ancestors(list(tp))))
        for (t, x, tp), v in zip(rows, vectors, strict=True)
    ]
    model = train_supervised(examples)
    save_model(model, nd.settings.data_dir / TOPIC_MODEL_FILE)
    return {
        "examples": len(examples),
        "topics": len(model.topics),
        "vote_weight": model.knn_weight,
        "path": str(nd.settings.data_dir / TOPIC_MODEL_FILE),
    }


def _stub(title: str, text: str) -> Article:
    """A minimal article, so training embeds exactly the text enrichment embeds."""
    from .model import Provider

    return Article(title=title or "untitled", web_url="https://training.invalid/", original_url="https://training.invalid/",
                   provider=Provider("training", "training.invalid"), excerpt=text[:200])  # fmt: skip


def _labelled_rows(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"title", "topics"} <= set(reader.fieldnames):
                raise NewsdeskError(f"{path}: needs title and topics columns (text optional)")
            return [(r["title"], r.get("text") or "", tuple(t.strip() for t in r["topics"].split(";") if t.strip()))
                    for r in reader if r.get("title")]  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise NewsdeskError(f"{path}: cannot read labelled examples: {e}") from e


def _editor_examples(nd: Newsdesk) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for article in nd.store.iter_articles():
        if any(s.signal == "editor" for s in article.topic_scores):
            out.append((article.title, article.excerpt, article.topics))
    return out


# ------------------------------------------------------------------------------------------- keys


def rotate_key(nd: Newsdesk) -> dict[str, Any]:
    """Add a fresh key, make it active, and re-encrypt every payload onto it, row by row.

    Crash-safe: old keys stay in the ring, each row is committed with its new key id, and running it
    again after an interruption re-encrypts only the rows still on an old key.
    """
    if nd.settings.secret_key:
        raise NewsdeskError("the key comes from NEWSDESK_SECRET_KEY: rotate it there, or use a key file")
    path = nd.settings.key_path
    ring = load_key_file(path)
    if not _pending_rows(nd, ring.active_id):
        ring.rotate(path)
        ring = load_key_file(path)
    done = 0
    for article_id, secured, key_id in reencrypt(ring, _pending_rows(nd, ring.active_id)):
        nd.store.update_secured(article_id, secured, key_id)
        done += 1
    return {"active_key": ring.active_id, "reencrypted": done, "keys": list(ring.key_ids)}


def _pending_rows(nd: Newsdesk, active: str) -> list[tuple[int, str, str]]:
    return [(i, s, k) for i, s, k in nd.store.secured_payloads() if k != active]


# ------------------------------------------------------------------------------------------- feeds


def feed_info(
    nd: Newsdesk, topic: str | None, base_url: str, name: str, articles: Sequence[Article] = ()
) -> FeedInfo:
    """The feed's head. Its ``updated`` is the newest article's date (now when it has none), so the
    same articles render the same bytes and an unchanged feed file is not rewritten."""
    title = f"newsdesk — {topic}" if topic else "newsdesk — all published"
    dates = [d for a in articles for d in (a.published_at, a.first_seen_at) if d is not None]
    return FeedInfo(title=title, site_url=base_url, feed_url=f"{base_url.rstrip('/')}/{name}",
                    description=f"Published records{' on ' + topic if topic else ''}", language="en",
                    updated=max(dates, default=datetime.now(UTC)), hub=nd.settings.websub_hub)  # fmt: skip


def published(nd: Newsdesk, topic: str | None, limit: int = 100) -> list[Article]:
    return list(nd.store.list_articles(ArticleQuery(published=True, topic=topic, limit=limit)).items)


RENDERERS = {"rss": render_rss, "atom": render_atom, "json": render_json_feed}


def write_feeds(nd: Newsdesk, folder: Path, base_url: str) -> list[Path]:
    """RSS, Atom and JSON Feed of all published records and of each topic that has any; the files
    actually (re)written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    topics: list[str | None] = [None, *sorted(nd.store.topic_counts())]
    for topic in topics:
        articles = published(nd, topic)
        if topic is not None and not articles:
            continue
        stem = "all" if topic is None else _slug(topic)
        for ext, render in RENDERERS.items():
            name = f"{stem}.{ext}"
            if _replace_if_changed(
                folder / name, render(articles, feed_info(nd, topic, base_url, name, articles))
            ):
                written.append(folder / name)
    return written


def _replace_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` through a temporary file and a rename, so a reader (a web server, a site
    build) never sees half a file; an identical file is left alone. Whether it was written."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return False
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return True


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


# ----------------------------------------------------------------------------------------- explain


def explain(nd: Newsdesk, key: int | str) -> dict[str, Any]:
    """Why an article has its topics, quality and heat: every stored reason."""
    article = nd.article(key)
    return {
        "id": article.id,
        "title": article.title,
        "quality": article.quality,
        "quality_reasons": [
            {"name": r.name, "points": round(r.value, 2), "detail": r.detail} for r in article.quality_reasons
        ],
        "heat": article.heat,
        "heat_reasons": [
            {"name": r.name, "points": round(r.value, 2), "detail": r.detail} for r in article.heat_reasons
        ],
        "topics": [
            {"topic": t.name, "score": round(t.score, 3), "signal": t.signal} for t in article.topic_scores
        ],
        "story_id": article.story_id,
        "related": [{"title": r.title, "similarity": round(r.similarity or 0, 3)} for r in article.related],
        "decisions": [
            {k: str(v) for k, v in d.items() if k in ("action", "actor", "reason", "at")}
            for d in nd.store.decisions(article.id or 0)
        ],
    }
