"""What the desk writes for others to read, the facade's ``nd.outputs``: record files (``export``) and
feed files (RSS, Atom and JSON Feed of the published records, all and per topic), and the feed bytes the
API serves.

Both writers leave an unchanged file alone, so a site build or a web server watching the folder sees
only real changes. The feed renderers load with the first feed (lxml), not with every CLI command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .model import Article
from .publish.export import ExportSummary, export_records, summary_dict
from .record import format_datetime
from .store import ArticleQuery

if TYPE_CHECKING:
    from .app import Newsdesk
    from .publish.feeds import FeedInfo

__all__ = ["FEED_FORMATS", "ExportSummary", "Outputs", "format_datetime", "summary_dict"]

FEED_FORMATS = ("rss", "atom", "json")  # RSS 2.0, Atom (RFC 4287), JSON Feed 1.1
FEED_LANGUAGE = "en"
# articles whose related records an export reads at once: one query for their lists, each related
# article loaded once (181 records: 983 article loads and 181 queries before, 181 and a few after)
RELATED_CHUNK = 256


class Outputs:
    """Record and feed files over one facade (see the module docstring)."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    # ---------------------------------------------------------------------------------- records

    def export(
        self, folder: Path | None = None, *, published_only: bool = False, topics: Sequence[str] = ()
    ) -> ExportSummary:
        """Write one record file per selected article (incrementally) into ``folder``. When nothing
        has changed since the last export into it (same store state, same selection) no article is
        loaded at all: that export costs a small fraction of a full one (docs/benchmarks.md)."""
        store = self.nd.store
        target = folder or self.nd.settings.records_dir
        stamp = self._export_stamp(published_only, topics)  # before the articles: see export_records
        selected = (
            a
            for a in store.iter_articles()
            if a.id is not None
            and (not published_only or a.published)
            and (not topics or set(topics) & set(a.topics))
        )
        return export_records(self._with_related(selected), target, stamp=stamp)

    def _with_related(self, articles: Iterable[Article]) -> Iterator[Article]:
        """``articles`` with their related records, read :data:`RELATED_CHUNK` articles at a time
        (:meth:`~newsdesk.store.Store.related_refs_many`): lazily, so an export that finds its folder
        up to date reads none."""
        chunk: list[Article] = []
        for article in articles:
            chunk.append(article)
            if len(chunk) == RELATED_CHUNK:
                yield from self._related_of(chunk)
                chunk = []
        yield from self._related_of(chunk)

    def _related_of(self, articles: list[Article]) -> list[Article]:
        refs = self.nd.store.related_refs_many([a.id for a in articles if a.id is not None])
        return [a.replace(related=refs.get(a.id, ())) if a.id is not None else a for a in articles]

    def _export_stamp(self, published_only: bool, topics: Sequence[str]) -> str:
        """What the records of an export are made from, as one digest: the store's change stamp (every
        transaction writing an article, its topics, images, alternates, story, related articles or
        decisions moves it — enrichment, heat, related, rules and images write elsewhere than the
        article row, so a per-article ``updated_at`` would miss them), the selection, and the code
        version (the record format)."""
        state = [__version__, *map(str, self.nd.store.change_stamp()), published_only, sorted(topics)]
        return hashlib.sha256(json.dumps(state).encode("utf-8")).hexdigest()

    # ------------------------------------------------------------------------------------ feeds

    def published(self, topic: str | None, limit: int = 100) -> list[Article]:
        """The newest published articles (of ``topic`` when given)."""
        query = ArticleQuery(published=True, topic=topic, limit=limit)
        return list(self.nd.store.list_articles(query).items)

    def feed_info(
        self, topic: str | None, base_url: str, name: str, articles: Sequence[Article] = ()
    ) -> FeedInfo:
        """The head of a feed file. Its ``updated`` is the newest article's date (now when it has none),
        so the same articles render the same bytes and an unchanged feed file is not rewritten."""
        from .publish.feeds import FeedInfo

        title = f"newsdesk — {topic}" if topic else "newsdesk — all published"
        dates = [d for a in articles for d in (a.published_at, a.first_seen_at) if d is not None]
        return FeedInfo(
            title=title,
            site_url=base_url,
            feed_url=f"{base_url.rstrip('/')}/{name}",
            description=f"Published records{' on ' + topic if topic else ''}",
            language=FEED_LANGUAGE,
            updated=max(dates, default=datetime.now(UTC)),
            hub=self.nd.settings.websub_hub,
        )

    def render_feed(
        self,
        fmt: str,
        articles: Sequence[Article],
        *,
        title: str,
        site_url: str,
        feed_url: str,
        description: str,
        updated: datetime,
    ) -> bytes:
        """``articles`` as a feed document in ``fmt`` (one of :data:`FEED_FORMATS`); the feed declares
        the desk's WebSub hub when one is set."""
        from .publish.feeds import FeedInfo

        info = FeedInfo(
            title=title,
            site_url=site_url,
            feed_url=feed_url,
            description=description,
            language=FEED_LANGUAGE,
            updated=updated,
            hub=self.nd.settings.websub_hub,
        )
        return _render(fmt, articles, info)

    def write_feeds(self, folder: Path, base_url: str) -> list[Path]:
        """RSS, Atom and JSON Feed of all published records and of each topic that has any; the files
        actually (re)written."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        topics: list[str | None] = [None, *sorted(self.nd.store.topic_counts())]
        for topic in topics:
            articles = self.published(topic)
            if topic is not None and not articles:
                continue
            stem = "all" if topic is None else _slug(topic)
            for ext in FEED_FORMATS:
                name = f"{stem}.{ext}"
                data = _render(ext, articles, self.feed_info(topic, base_url, name, articles))
                if _replace_if_changed(folder / name, data):
                    written.append(folder / name)
        return written


def _render(fmt: str, articles: Sequence[Article], info: FeedInfo) -> bytes:
    from .publish.feeds import render_atom, render_json_feed, render_rss

    renderers = {"rss": render_rss, "atom": render_atom, "json": render_json_feed}
    return renderers[fmt](articles, info)


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
