"""The ``newsdesk`` command: a thin Typer layer over :class:`newsdesk.app.Newsdesk`.

Each command parses its options, makes one or two facade calls and prints the result (a table, or JSON
with ``--json``). Every :class:`NewsdeskError` becomes one line on stderr and exit code 1 — never a
traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import operations
from .app import Editorial, Newsdesk, Tokens, demo_sources
from .config import Settings, describe, load_settings, settings_markdown
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

DEMO_RULES = ["reject: quality < 25", 'publish: quality >= 60 and heat >= 0 and "AI" in topics']
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


def show_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], as_json: bool) -> None:
    """Rows as JSON when asked, else as a table of ``columns`` (lists joined, times shortened)."""
    if emit(rows, as_json):
        return
    table = Table(*(c.replace("_", " ") for c in columns))
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


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
def show_config(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/settings.md")] = False,
) -> None:
    """Print the effective settings and where each came from."""
    if markdown:
        sys.stdout.write(settings_markdown())
        return
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
    defaults: dict[str, Any] = {"name": name, "category": category, "topics": tuple(topic or ()),
                                "allow_loopback": allow_loopback}  # fmt: skip
    with desk(config) as nd:
        if kind is not None:
            chosen = [Source(url=url, kind=kind, **defaults)]
        else:
            found = asyncio.run(operations.discover(nd, url, allow_loopback=allow_loopback))
            chosen = [
                operations.source_for(f, **dict(defaults))
                for f in _choose(found, url, pick, add_all, as_json)
            ]
        added = [nd.add_source(s) for s in chosen]
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
        sources = nd.list_sources()
    rows = [_source_row(s) for s in sources]
    show_rows(
        rows, ("id", "kind", "name", "url", "last_success", "error_count", "last_error", "next_poll"), as_json
    )


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
    if not settings.publish_rules:
        settings = settings.with_values(publish_rules=DEMO_RULES)
        out.print(f"publish rules (demo default): {'; '.join(DEMO_RULES)}", highlight=False)
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


@source_app.command("import-opml")
@clean_errors
def source_import_opml(path: Path, config: ConfigOpt = None) -> None:
    """Add the feeds an OPML file lists."""
    with desk(config) as nd:
        added, skipped = operations.import_opml(nd, path)
    out.print(f"added {len(added)} sources, skipped {len(skipped)}")
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
        data = operations.export_opml(nd)
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
        rated, problems = operations.import_ratings(nd, path)
    out.print(f"rated {rated} sources; {len(problems)} rows skipped")
    for line in problems[:20]:
        err.print(f"  {line}", highlight=False)


@app.command()
@clean_errors
def search(query: str, limit: int = 20, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Full-text search over titles, excerpts, topics and providers."""
    with desk(config) as nd:
        hits = nd.store.search(query, limit=limit)
    rows = [
        {"id": a.id, "score": round(score, 3), "title": a.title, "provider": a.provider.domain}
        for a, score in hits
    ]
    show_rows(rows, ("id", "score", "title", "provider"), as_json)


@app.command()
@clean_errors
def review(limit: int = 20, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List articles waiting for an editor (the review queue)."""
    with desk(config) as nd:
        page = Editorial(nd).queue(limit=limit)
    rows = [
        {"id": a.id, "quality": a.quality, "heat": a.heat, "topics": list(a.topics), "title": a.title}
        for a in page.items
    ]
    show_rows(rows, ("id", "quality", "heat", "topics", "title"), as_json)


EditorOpt = Annotated[str, typer.Option("--as", help="Who decides (stored with the decision)")]


@app.command()
@clean_errors
def publish(article_id: int, reason: str = "", editor: EditorOpt = "cli", config: ConfigOpt = None) -> None:
    """Publish an article."""
    with desk(config) as nd:
        changed = Editorial(nd).publish(article_id, actor=f"editor:{editor}", reason=reason)
    out.print(f"article {article_id}: {'published' if changed else 'already published'}")


@app.command()
@clean_errors
def reject(
    article_id: int,
    reason: Annotated[str, typer.Option(help="Why (required)")],
    editor: EditorOpt = "cli",
    config: ConfigOpt = None,
) -> None:
    """Reject an article, with a reason."""
    with desk(config) as nd:
        changed = Editorial(nd).reject(article_id, actor=f"editor:{editor}", reason=reason)
    out.print(f"article {article_id}: {'rejected' if changed else 'already rejected'}")


topic_app = typer.Typer(no_args_is_help=True, help="Correct topics.")
app.add_typer(topic_app, name="topic")


@topic_app.command("set")
@clean_errors
def topic_set(
    article_id: int, topics: list[str], editor: EditorOpt = "cli", config: ConfigOpt = None
) -> None:
    """Replace an article's topics (ancestors are added); stored for the topic model to learn from."""
    with desk(config) as nd:
        article = Editorial(nd).set_topics(article_id, topics, actor=f"editor:{editor}")
    out.print(f"article {article_id}: {', '.join(article.topics)}")


topics_app = typer.Typer(no_args_is_help=True, help="The topic model.")
app.add_typer(topics_app, name="topics")


@topics_app.command("train")
@clean_errors
def topics_train(
    path: Annotated[Path, typer.Argument(help="CSV with title,text,topics (topics separated by ';')")],
    config: ConfigOpt = None,
) -> None:
    """Train the supervised topic model from labelled examples plus editor corrections."""
    with desk(config) as nd:
        result = operations.train_topics(nd, path)
    out.print(
        f"trained on {result['examples']} examples, {result['topics']} topics -> {result['path']}",
        highlight=False,
    )


@app.command()
@clean_errors
def explain(key: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Why an article has its topics, quality and heat."""
    with desk(config) as nd:
        data = operations.explain(nd, key)
    if emit(data, as_json):
        return
    out.print(f"[bold]{data['title']}[/bold] (id {data['id']}, story {data['story_id']})")
    out.print(f"quality {data['quality']}:")
    for r in data["quality_reasons"]:
        out.print(f"  {r['points']:+7.2f}  {r['name']:14} {r['detail']}", highlight=False)
    out.print(f"heat {data['heat']}:")
    for r in data["heat_reasons"]:
        out.print(f"  {r['points']:+7.2f}  {r['name']:14} {r['detail']}", highlight=False)
    out.print("topics:")
    for t in data["topics"]:
        out.print(f"  {t['score']:7.3f}  {t['topic']:20} by {t['signal']}", highlight=False)


@app.command()
@clean_errors
def decrypt(path: Path, config: ConfigOpt = None) -> None:
    """Print the full text sealed in a record file's `secured` field (needs the key)."""
    from .finishing import key_ring
    from .record import read_record

    article = read_record(path)
    if not article.secured:
        raise NewsdeskError(f"{path}: the record has no secured payload")
    settings = settings_from(config)
    ring = key_ring(settings)
    with Newsdesk(settings) as nd:
        stored = nd.store.find_article(article.web_url)
    key_id = stored.key_id if stored is not None and stored.secured == article.secured else None
    sys.stdout.write(_decrypt_any(ring, article.secured, key_id) + "\n")


def _decrypt_any(ring: Any, secured: str, key_id: str | None) -> str:
    """With the key id from the store; else try every key in the ring (a record file has no key id)."""
    ids = [key_id] if key_id else list(ring.key_ids)
    last: NewsdeskError | None = None
    for candidate in ids:
        try:
            return str(ring.decrypt(secured, candidate))
        except NewsdeskError as e:
            last = e
    raise last or NewsdeskError("no key to try")


key_app = typer.Typer(no_args_is_help=True, help="The encryption key ring.")
app.add_typer(key_app, name="key")


@key_app.command("rotate")
@clean_errors
def key_rotate(config: ConfigOpt = None) -> None:
    """Add a new key and re-encrypt every payload with it (safe to interrupt and run again)."""
    with desk(config) as nd:
        result = operations.rotate_key(nd)
    out.print(
        f"active key {result['active_key']}; re-encrypted {result['reencrypted']}; keys {', '.join(result['keys'])}"
    )


token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
app.add_typer(token_app, name="token")


@token_app.command("create")
@clean_errors
def token_create(
    name: str,
    scope: Annotated[str, typer.Option(help="read, write or admin")] = "read",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a bearer token (shown once; only its hash is stored)."""
    with desk(config) as nd:
        token_id, token = Tokens(nd).create(name, scope)
    if not emit({"id": token_id, "scope": scope, "token": token}, as_json):
        out.print(f"token {token_id} ({scope}): {token}", highlight=False)


@token_app.command("list")
@clean_errors
def token_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    with desk(config) as nd:
        rows = Tokens(nd).list()
    show_rows(rows, ("id", "name", "scope", "created_at", "revoked_at", "last_used_at"), as_json)


@token_app.command("revoke")
@clean_errors
def token_revoke(token_id: int, config: ConfigOpt = None) -> None:
    with desk(config) as nd:
        done = Tokens(nd).revoke(token_id)
    out.print(f"token {token_id}: {'revoked' if done else 'not found or already revoked'}")


@app.command()
@clean_errors
def feeds(
    folder: Path,
    base_url: Annotated[
        str, typer.Option(help="Where the feed files will be served")
    ] = "http://127.0.0.1:8000/feeds",
    config: ConfigOpt = None,
) -> None:
    """Write RSS, Atom and JSON Feed files of published records, all and per topic."""
    with desk(config) as nd:
        written = operations.write_feeds(nd, folder, base_url)
    out.print(f"wrote {len(written)} feed files to {folder}", highlight=False)


@app.command()
@clean_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default: api_host)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api_port)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the web UI."""
    settings = settings_from(config)
    with Newsdesk(settings) as nd:
        nd.init()
        _serve(nd, host or settings.api_host, port or settings.api_port)


@app.command()
@clean_errors
def worker(
    burst: Annotated[bool, typer.Option(help="Drain the queue, then exit")] = False,
    config: ConfigOpt = None,
) -> None:
    """Run a queue worker: poll the sources the scheduler queued (needs Redis and a shared database)."""
    from . import queue

    settings = settings_from(config)
    out.print(f"worker on {settings.queue_name} at {settings.redis_url}", highlight=False)
    queue.run_worker([settings.queue_name], settings.redis_url, burst=burst)


@app.command()
@clean_errors
def schedule(
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 30.0,
    config: ConfigOpt = None,
) -> None:
    """Queue a job for every due source, every INTERVAL seconds (the scale-out scheduler)."""
    from . import queue

    with desk(config) as nd:
        nd.init()
        out.print(f"scheduling into {nd.settings.queue_name} at {nd.settings.redis_url}", highlight=False)
        queue.schedule_forever(nd, nd.settings.redis_url, interval, queue_name=nd.settings.queue_name)


def _serve(nd: Newsdesk, host: str, port: int) -> None:
    try:
        from .api.app import serve as serve_api
    except ImportError as e:
        raise NewsdeskError(f"the API is not available: {e}") from e
    out.print(f"serving on http://{host}:{port}/ (API docs at /docs)")
    serve_api(nd, host, port)


def _serve_forever(nd: Newsdesk) -> None:
    settings = nd.settings
    _serve(nd, settings.api_host, settings.api_port)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model never needs the hub
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    app()


if __name__ == "__main__":
    main()
