"""The sources a desk follows, the facade's ``nd.sources``: adding, changing, polling, pausing, renaming
and removing them; syncing ``sources.yaml``; OPML in and out; reputations from a ratings file; and feed
discovery for a URL someone pastes (:mod:`newsdesk.discovery`).

A change a running desk should see at once (a new source, a moved or resumed one, "poll now") wakes it
through :meth:`newsdesk.app.Newsdesk.nudge`. Discovery and the ratings tables are imported on use: the
light CLI commands (``source list``) must not load the fetch stack.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import load_sources
from .errors import NewsdeskError, SettingsError, ValidationError
from .model import Source, SourceKind, is_http_url, now
from .sources.discover import DiscoveredFeed
from .sources.opml import parse_opml, write_opml
from .store.tables import LABEL_CHARS, SOURCE_NAME_CHARS

if TYPE_CHECKING:
    from .app import Newsdesk
    from .discovery import FoundFeed as FoundFeed  # what find_feed returns, named for the edges
    from .enrich.quality import SourceRating

__all__ = ["LABEL_CHARS", "SOURCE_NAME_CHARS", "DiscoveredFeed", "SourceSync", "Sources", "source_for"]


@dataclass(frozen=True, slots=True)
class SourceSync:
    """What a sync added, and how many of the wanted sources the store knew already."""

    added: tuple[Source, ...]
    known: int


class Sources:
    """The desk's sources over one facade (see the module docstring)."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    # -------------------------------------------------------------------------------- reading

    def get(self, key: int | str) -> Source:
        """A source by id or URL; :class:`~newsdesk.errors.StorageError` when there is none."""
        return self.nd.store.get_source(key)

    def list(self) -> builtins.list[Source]:
        return self.nd.store.list_sources()

    # -------------------------------------------------------------------------------- changing

    def add(self, source: Source) -> Source:
        """Store a new source; a running desk polls it at once."""
        added = self.nd.store.add_source(source)
        self.nd.nudge()
        return added

    def update(self, source_id: int, source: Source, *, grant_loopback: bool = False) -> Source:
        """Change a source's fields (rename, pause, resume…); a running desk looks again at once. Moving
        a source clears ``allow_loopback`` unless ``grant_loopback`` (``Store.update_source``)."""
        updated = self.nd.store.update_source(source_id, source, grant_loopback=grant_loopback)
        self.nd.nudge()
        return updated

    def poll(self, key: int | str) -> Source:
        """ "Poll now": make the source due and wake a running desk (without one, the next run polls it).
        A paused source is refused: resuming it is the editor's explicit step."""
        source = self.get(key)
        if source.paused:
            raise ValidationError(f"source {source.id} is paused: resume it before polling it")
        assert source.id is not None  # a stored source has its id
        polled = self.nd.store.poll_soon(source.id, now())
        self.nd.nudge()
        return polled

    def pause(self, key: int | str, *, paused: bool = True) -> Source:
        """Pause (never due) or resume a source; its health and validators are kept."""
        source = self.get(key)
        assert source.id is not None
        return self.update(source.id, replace(source, paused=paused))

    def rename(self, key: int | str, name: str | None) -> Source:
        """Give a source its display name (``None``: show its URL); nothing else about it changes."""
        source = self.get(key)
        assert source.id is not None
        return self.update(source.id, replace(source, name=name))

    def remove(self, key: int | str) -> Source:
        """Remove a source; its articles stay (their source becomes unknown). A WebSub subscription it
        had is ended at the hub afterwards, best effort (:meth:`WebSub.unsubscribe`): the removal
        stands whatever the hub answers."""
        source = self.nd.store.get_source(key)
        assert source.id is not None
        subscription = self.nd.store.websub_subscription(source.id)
        removed = self.nd.store.remove_source(source.id)
        self.nd.websub.unsubscribe(removed, subscription)
        return removed

    def sync_file(self, path: Path | None = None) -> SourceSync:
        """Add the sources of ``sources.yaml`` (default: the ``sources_file`` setting) that the store does
        not know yet. A file that is not there is an error: syncing from a mistyped name must not look
        like a file that lists nothing new."""
        target = path or self.nd.settings.sources_file
        if not target.is_file():
            raise SettingsError(f"{target}: no such sources file")
        return self.ensure(load_sources(target))

    def ensure(self, wanted: Sequence[Source]) -> SourceSync:
        """Add those of ``wanted`` whose URL the store does not know (without waking the desk)."""
        known = {s.url for s in self.list()}
        added = tuple(self.nd.store.add_source(s) for s in wanted if s.url not in known)
        return SourceSync(added, len(wanted) - len(added))

    # ------------------------------------------------------------------------------- discovery

    async def discover(self, url: str, *, allow_loopback: bool = False) -> builtins.list[DiscoveredFeed]:
        """Every feed ``url`` offers (:func:`newsdesk.discovery.find_feeds`), through a fetcher of the
        desk's policy; one the page declares but that could not be confirmed is listed as declared."""
        from .discovery import find_feeds
        from .fetch.client import Fetcher
        from .ingestor import fetch_policy

        async with Fetcher(fetch_policy(self.nd.settings, self.nd.resolve)) as fetcher:
            found = await find_feeds(url, fetcher, allow_private=allow_loopback)
        return [f.unconfirmed or DiscoveredFeed(f.url, f.title, f.kind.value) for f in found]

    async def find_feed(self, url: str) -> FoundFeed:
        """The first confirmed feed or sitemap behind ``url`` (what a form that adds one source needs);
        :class:`~newsdesk.errors.SourceError` when there is none. Private addresses are refused."""
        from .discovery import find_feed
        from .fetch.client import Fetcher
        from .ingestor import fetch_policy

        async with Fetcher(fetch_policy(self.nd.settings, self.nd.resolve)) as fetcher:
            return await find_feed(url, fetcher)

    # ------------------------------------------------------------------------------------ OPML

    def import_opml(self, path: Path) -> tuple[builtins.list[Source], builtins.list[str]]:
        """Add the feeds an OPML file lists; returns what was added and one message per outline not added.
        A known feed takes the outline's title as its name (the name the user gave it in their reader);
        nothing else about it changes."""
        try:
            outlines = parse_opml(path.read_bytes())
        except OSError as e:
            raise NewsdeskError(f"{path}: cannot read: {e}") from e
        known = {s.url: s for s in self.list()}
        added, skipped = [], []
        for outline in outlines:
            if not outline.xml_url:
                skipped.append(f"{outline.title}: no feed URL")
                continue
            if outline.xml_url in known:
                renamed = self._take_title(known[outline.xml_url], outline.title)
                skipped.append(f"{outline.xml_url}: already known{renamed}")
                continue
            try:
                source = Source(
                    outline.xml_url,
                    name=outline.title,
                    category=(outline.category or "")[:LABEL_CHARS] or None,  # longer folder paths are cut
                    site_url=outline.html_url,
                )
                added.append(self.nd.store.add_source(source))
                known[outline.xml_url] = source
            except (ValueError, NewsdeskError) as e:
                skipped.append(f"{outline.xml_url}: {e}")
        return added, skipped

    def _take_title(self, source: Source, title: str | None) -> str:
        """Give a known source the name an OPML outline has for it; what to add to its "already known"."""
        name = (title or "")[:SOURCE_NAME_CHARS]
        if not name or source.id is None or (source.name == name and source.name_given):
            return ""
        self.update(source.id, replace(source, name=name, name_given=True))
        return f", renamed {source.name!r} to {name!r}"

    def export_opml(self) -> bytes:
        return write_opml(self.list(), "newsdesk sources")

    # --------------------------------------------------------------------------------- ratings

    def import_ratings(self, path: Path) -> tuple[int, builtins.list[str]]:
        """Set each source's reputation from a ``domain,score`` CSV (0-1). Returns (sources rated,
        problems). The most specific rating wins: the source's host, else its nearest rated parent
        domain (``news.example.com`` → ``example.com``), else its registered domain."""
        from .enrich.quality import load_ratings, reputation_for
        from .fetch.urls import host_of, registered_domain

        ratings, problems = load_ratings(path)
        rated = 0
        for source in self.list():
            score = reputation_for(host_of(source.url), ratings)
            if score is None:
                score = ratings.get(registered_domain(source.url))
            if score is not None and source.id is not None:
                self.nd.store.update_source(source.id, replace(source, reputation=score))
                rated += 1
        self.nd.store.set_meta("ratings", ratings)
        return rated, problems

    def ratings(self, domains: Sequence[str]) -> builtins.list[SourceRating]:
        """The 0-1 rating the quality score uses for each domain (or URL), with where it comes from:
        the imported table (:meth:`import_ratings`), the shipped one, a rated parent, or neutral."""
        from .enrich.quality import rating_for
        from .fetch.urls import host_of

        imported = self.nd.store.get_meta("ratings") or {}
        return [rating_for(host_of(d), imported) for d in domains]


def source_for(feed: DiscoveredFeed, *, found_on: str | None = None, **defaults: Any) -> Source:
    """The source for a discovered feed; the page it was ``found_on`` becomes its site URL. A ``name``
    in ``defaults`` is the user's; without one the discovered title stands in until the feed's own
    title replaces it on a poll (``Source.name_given``)."""
    kind = SourceKind.SITEMAP if feed.kind == "sitemap" else SourceKind.FEED
    site = found_on if found_on and found_on != feed.url and is_http_url(found_on) else None
    given = defaults.pop("name", None)
    return Source(
        url=feed.url, kind=kind, name=given or feed.title, name_given=bool(given), site_url=site, **defaults
    )
