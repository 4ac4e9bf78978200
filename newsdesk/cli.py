"""The ``newsdesk`` command: a thin Typer layer over :class:`newsdesk.app.Newsdesk`.

Each command parses its options, makes one or two facade calls and prints the result (a table, or JSON
with ``--json``). Every :class:`NewsdeskError` becomes one line on stderr and exit code 1 — never a
traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .app import Newsdesk, demo_sources
from .config import Settings, describe, load_settings
from .errors import NewsdeskError
from .model import Source, SourceKind
from .pipeline import RunSummary

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="newsdesk — sources in, curated records out."
)
source_app = typer.Typer(no_args_is_help=True, help="Manage sources.")
app.add_typer(source_app, name="source")
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default ./newsdesk.toml).")
]


def clean_errors(func: F) -> F:
    """One clear line and exit code 1 for every newsdesk error."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NewsdeskError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def settings_from(config: Path | None) -> Settings:
    return load_settings(config)


@contextmanager
def desk(config: Path | None, **kwargs: Any) -> Iterator[Newsdesk]:
    with Newsdesk(settings_from(config), **kwargs) as nd:
        yield nd


def emit(data: Any, as_json: bool) -> bool:
    """Print ``data`` as JSON when asked; True when printed."""
    if as_json:
        out.print_json(json.dumps(data, default=str))
    return as_json


# ------------------------------------------------------------------------------------------ commands


@app.command()
@clean_errors
def init(config: ConfigOpt = None) -> None:
    """Create the data folder, database (migrations) and key file."""
    with desk(config) as nd:
        for key, value in nd.init().items():
            out.print(f"{key:10} {value}", highlight=False)


@app.command("config")
@clean_errors
def show_config(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Print the effective settings and where each came from."""
    rows = describe(settings_from(config))
    if emit([dict(zip(("name", "value", "origin", "help"), r, strict=True)) for r in rows], as_json):
        return
    table = Table("setting", "value", "from", "help", show_lines=False)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@source_app.command("add")
@clean_errors
def source_add(
    url: str,
    kind: Annotated[SourceKind, typer.Option(help="feed, sitemap or page")] = SourceKind.FEED,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    category: Annotated[str | None, typer.Option(help="Default category of its articles")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="Topic every article gets (repeatable)")] = None,
    allow_loopback: Annotated[bool, typer.Option(help="Allow private/loopback addresses")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a source by URL."""
    source = Source(url=url, kind=kind, name=name, category=category, topics=tuple(topic or ()),
                    allow_loopback=allow_loopback)  # fmt: skip
    with desk(config) as nd:
        added = nd.add_source(source)
    if not emit({"id": added.id, "url": added.url, "kind": added.kind.value}, as_json):
        out.print(f"added source {added.id}: {added.url} ({added.kind.value})", highlight=False)


@source_app.command("list")
@clean_errors
def source_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List sources with their health: last success, errors, next poll."""
    with desk(config) as nd:
        sources = nd.list_sources()
    rows = [_source_row(s) for s in sources]
    if emit(rows, as_json):
        return
    table = Table("id", "kind", "name", "url", "last success", "errors", "last error", "next poll")
    for r in rows:
        table.add_row(*(str(r[k] if r[k] is not None else "") for k in
                        ("id", "kind", "name", "url", "last_success", "error_count", "last_error", "next_poll")))  # fmt: skip
    out.print(table)


def _source_row(s: Source) -> dict[str, Any]:
    h = s.health
    return {"id": s.id, "kind": s.kind.value, "name": s.name, "url": s.url,
            "last_success": h.last_success_at, "error_count": h.error_count,
            "last_error": h.last_error, "next_poll": h.next_poll_at}  # fmt: skip


@source_app.command("remove")
@clean_errors
def source_remove(key: str, config: ConfigOpt = None) -> None:
    """Remove a source by id or URL (its articles stay)."""
    with desk(config) as nd:
        removed = nd.remove_source(int(key) if key.isdigit() else key)
    out.print(f"removed source {removed.id}: {removed.url}", highlight=False)


@source_app.command("sync")
@clean_errors
def source_sync(
    path: Annotated[Path | None, typer.Argument(help="sources.yaml (default: the setting)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add the sources listed in sources.yaml that are not known yet."""
    with desk(config) as nd:
        result = nd.sync_sources_file(path)
    out.print(f"added {len(result.added)}, already known {result.known}")


@app.command()
@clean_errors
def run(
    watch: Annotated[bool, typer.Option("--watch", help="Keep polling what is due.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One pass over the due sources (ingest, enrich, publish); --watch keeps going."""
    with desk(config) as nd:
        if nd.settings.sources_file.exists():
            nd.sync_sources_file()
        if watch:
            import asyncio

            asyncio.run(nd.watch())
            return
        with progress_bar(quiet=as_json) as hook:
            summary = nd.run(progress=hook)
    if not emit(summary.as_dict(), as_json):
        print_summary(summary)


@contextmanager
def progress_bar(*, quiet: bool = False) -> Iterator[Any]:
    if quiet or not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield hook


def print_summary(summary: RunSummary) -> None:
    table = Table("", "", show_header=False, box=None)
    data = summary.as_dict()
    errors = data.pop("errors")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("errors", ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none")
    out.print(table)


@app.command()
@clean_errors
def export(
    folder: Annotated[Path | None, typer.Argument(help="Target folder (default: records_dir)")] = None,
    published_only: Annotated[bool, typer.Option("--published-only")] = False,
    topic: Annotated[list[str] | None, typer.Option(help="Only these topics (repeatable)")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write record files (incrementally: only changed ones are rewritten)."""
    with desk(config) as nd:
        target = folder or nd.settings.records_dir
        result = nd.export(target, published_only=published_only, topics=topic or ())
    if not emit(_export_dict(result), as_json):
        out.print(f"{target}: {_export_dict(result)}", highlight=False)


def _export_dict(result: Any) -> dict[str, Any]:
    return {k: getattr(result, k) for k in ("written", "unchanged", "removed", "total") if hasattr(result, k)}


@app.command()
@clean_errors
def show(key: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Print one article's record (by id or URL)."""
    with desk(config) as nd:
        article = nd.article(key)
        text = nd.record(key)
    if not emit({"id": article.id, "record": text}, as_json):
        out.print(text, highlight=False, markup=False, end="")


@app.command()
@clean_errors
def demo(
    serve: Annotated[bool, typer.Option(help="Keep serving after the run (Ctrl-C stops).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Serve the bundled demo news site on loopback, ingest it, and write records to ./records/."""
    from .demo import DemoSite

    settings = settings_from(config)
    with DemoSite() as site:
        out.print(f"demo site on http://127.0.0.1:{site.port} ({len(site.resolve_map())} sites)")
        with Newsdesk(settings, resolve=site.resolve_map()) as nd:
            nd.init()
            nd.ensure_sources(demo_sources(site.sources()))
            with progress_bar() as hook:
                summary = nd.run(sources=nd.list_sources(), progress=hook)
            print_summary(summary)
            result = nd.export(settings.records_dir)
            out.print(f"records: {settings.records_dir} {_export_dict(result)}", highlight=False)
            if serve:
                _serve_forever(nd)


def _serve_forever(nd: Newsdesk) -> None:
    import time

    out.print("serving; Ctrl-C to stop")
    while True:
        time.sleep(3600)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model never needs the hub
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    app()


if __name__ == "__main__":
    main()
