"""``newsdesk source …``: add (with feed discovery), list, remove, sync, OPML, ratings."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import NewsdeskError
from ..model import Source, SourceKind
from ..sourcing import source_for
from .base import (
    ConfigOpt,
    JsonOpt,
    clean_errors,
    desk,
    emit,
    err,
    out,
    plural,
    show_rows,
    source_app,
)


@source_app.command("add")
@clean_errors
def source_add(
    url: str,
    kind: Annotated[SourceKind | None, typer.Option(help="feed, sitemap or page (default: discover)")] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    category: Annotated[str | None, typer.Option(help="Default category of its articles")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="Topic every article gets (repeatable)")] = None,
    allow_loopback: Annotated[bool, typer.Option(help="Allow private/loopback addresses")] = False,
    pick: Annotated[int | None, typer.Option(help="Add the Nth discovered feed (1-based)")] = None,
    add_all: Annotated[bool, typer.Option("--all", help="Add every discovered feed")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a source. Given a site or page URL, finds its feeds (links, common paths) and offers them."""
    defaults: dict[str, Any] = {
        "name": name,
        "category": category,
        "topics": tuple(topic or ()),
        "allow_loopback": allow_loopback,
    }
    with desk(config) as nd:
        if kind is not None:
            chosen = [Source(url=url, kind=kind, **defaults)]
        else:
            found = asyncio.run(nd.sources.discover(url, allow_loopback=allow_loopback))
            chosen = [
                source_for(f, found_on=url, **dict(defaults))
                for f in _choose(found, url, pick, add_all, as_json)
            ]
        added = [nd.sources.add(s) for s in chosen]
    rows = [{"id": a.id, "url": a.url, "kind": a.kind.value} for a in added]
    if not emit(rows, as_json):
        for row in rows:
            out.print(f"added source {row['id']}: {row['url']} ({row['kind']})", highlight=False)


def _choose(found: list[Any], url: str, pick: int | None, add_all: bool, as_json: bool) -> list[Any]:
    if not found:
        raise NewsdeskError(f"no feed or sitemap found at {url}; add it as a single page with --kind page")
    if len(found) == 1 or add_all:
        return found
    if pick is not None:
        if not 1 <= pick <= len(found):
            raise NewsdeskError(f"--pick must be 1..{len(found)}")
        return [found[pick - 1]]
    for i, feed in enumerate(found, 1):
        err.print(f"  {i}. {feed.url} ({feed.kind}) {feed.title or ''}", highlight=False)
    if as_json or not sys.stdin.isatty():
        raise NewsdeskError(f"{len(found)} feeds found: choose one with --pick N, or --all")
    return [found[typer.prompt("add which", type=int) - 1]]


@source_app.command("list")
@clean_errors
def source_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List sources with their health: last success, errors, next poll."""
    with desk(config) as nd:
        sources = nd.sources.list()
    rows = [_source_row(s) for s in sources]
    show_rows(
        rows, ("id", "kind", "name", "url", "last_success", "error_count", "last_error", "next_poll"), as_json
    )


def _source_row(s: Source) -> dict[str, Any]:
    h = s.health
    return {
        "id": s.id,
        "kind": s.kind.value,
        "name": s.name,
        "url": s.url,
        "category": s.category,
        "site_url": s.site_url,
        "last_success": h.last_success_at,
        "error_count": h.error_count,
        "last_error": h.last_error,
        "next_poll": h.next_poll_at,
    }


@source_app.command("remove")
@clean_errors
def source_remove(key: str, config: ConfigOpt = None) -> None:
    """Remove a source by id or URL (its articles stay)."""
    with desk(config) as nd:
        removed = nd.sources.remove(int(key) if key.isdigit() else key)
    out.print(f"removed source {removed.id}: {removed.url}", highlight=False)


@source_app.command("sync")
@clean_errors
def source_sync(
    path: Annotated[Path | None, typer.Argument(help="sources.yaml (default: the setting)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add the sources listed in sources.yaml that are not known yet."""
    with desk(config) as nd:
        result = nd.sources.sync_file(path)
    out.print(f"added {plural(len(result.added), 'source')}, {result.known} already known", highlight=False)


@source_app.command("import-opml")
@clean_errors
def source_import_opml(path: Path, config: ConfigOpt = None) -> None:
    """Add the feeds an OPML file lists."""
    with desk(config) as nd:
        added, skipped = nd.sources.import_opml(path)
    out.print(f"added {plural(len(added), 'source')}, skipped {len(skipped)}", highlight=False)
    for line in skipped:
        err.print(f"  skipped {line}", highlight=False)


@source_app.command("export-opml")
@clean_errors
def source_export_opml(
    path: Annotated[Path | None, typer.Argument(help="File to write (default: stdout)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the sources as OPML."""
    with desk(config) as nd:
        data = nd.sources.export_opml()
    if path is None:
        sys.stdout.write(data.decode())
    else:
        path.write_bytes(data)
        out.print(f"wrote {path}")


@source_app.command("import-ratings")
@clean_errors
def source_import_ratings(path: Path, config: ConfigOpt = None) -> None:
    """Set source reputations (quality prior) from a CSV with domain,score columns in 0-1."""
    with desk(config) as nd:
        rated, problems = nd.sources.import_ratings(path)
    out.print(f"rated {plural(rated, 'source')}; skipped {plural(len(problems), 'row')}", highlight=False)
    for line in problems[:20]:
        err.print(f"  {line}", highlight=False)


# --- source rating (issue 15): the quality prior each domain gets, and where it comes from ---------


@source_app.command("rating")
@clean_errors
def source_rating(
    domains: Annotated[list[str], typer.Argument(help="Domains or URLs, e.g. news.example.com")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the 0-1 rating the quality score uses for each domain and its origin: imported, shipped,
    parent-domain (a rated parent, in the imported or shipped table) or neutral."""
    from dataclasses import asdict

    with desk(config) as nd:
        rows = [asdict(r) for r in nd.sources.ratings(domains)]
    show_rows(rows, ("domain", "value", "origin", "matched", "table"), as_json)
