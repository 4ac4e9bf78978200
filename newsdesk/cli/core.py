"""The main commands: init, config, run, export, show, demo, reembed, search, feeds, serve, worker,
schedule."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..app import Newsdesk, demo_sources
from ..config import describe, settings_markdown
from ..errors import NewsdeskError
from .base import (
    DEMO_RULES,
    ConfigOpt,
    JsonOpt,
    app,
    clean_errors,
    desk,
    emit,
    export_line,
    out,
    plural,
    print_summary,
    progress_bar,
    settings_from,
    show_rows,
)

if TYPE_CHECKING:
    from ..demo import DemoSite


@app.command()
@clean_errors
def init(config: ConfigOpt = None) -> None:
    """Create the data folder, database (migrations) and key file, build the embedding model's ONNX
    graph and embed the taxonomy's topics (so no run or server needs to)."""
    with desk(config) as nd:
        for key, value in nd.init(topics=True).items():
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
    from rich.table import Table  # here: the other commands do not print it (cli/base.py's show_rows)

    table = Table("setting", "value", "from", "help", show_lines=False)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@app.command()
@clean_errors
def run(
    watch: Annotated[bool, typer.Option("--watch", help="Keep polling what is due.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One pass over the due sources (ingest, enrich, publish); --watch keeps going."""
    with desk(config) as nd:
        nd.preflight()
        if nd.settings.sources_file.exists():
            nd.sources.sync_file()
        if watch:
            import asyncio

            asyncio.run(nd.watch())
            return
        with progress_bar(quiet=as_json) as hook:
            summary = nd.run(progress=hook)
    if not emit(summary.as_dict(), as_json):
        print_summary(summary)


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
    from ..outputs import summary_dict

    with desk(config) as nd:
        target = folder or nd.settings.records_dir
        result = nd.outputs.export(target, published_only=published_only, topics=topic or ())
    if not emit(summary_dict(result), as_json):
        out.print(export_line(target, result), highlight=False)


@app.command()
@clean_errors
def show(key: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Print one article's record (by id or URL), byte for byte the file `export` writes."""
    from ..catalog import Audience

    with desk(config) as nd:
        article = nd.catalog.article(key, Audience.TRUSTED)
        text = nd.catalog.record(key, Audience.TRUSTED)
    if not emit({"id": article.id, "record": text}, as_json):
        sys.stdout.write(text)  # not through rich: it would wrap long lines at the terminal width


@app.command()
@clean_errors
def demo(
    serve: Annotated[bool, typer.Option(help="Keep serving after the run (Ctrl-C stops).")] = False,
    host: Annotated[
        str | None, typer.Option(help="Address the UI listens on with --serve (default: api_host)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port the UI listens on with --serve (default: api_port)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the bundled demo news site on loopback, ingest it, and write records to ./records/."""
    from ..demo import DemoSite

    configured = settings_from(config)
    settings = configured if configured.publish_rules else configured.with_values(publish_rules=DEMO_RULES)
    Newsdesk(settings).preflight(key_may_be_created=True)
    if not configured.publish_rules:
        out.print(f"publish rules (demo default): {'; '.join(DEMO_RULES)}", highlight=False)
    if serve:  # the desk polls the demo feeds every few seconds while the timeline adds follow-ups
        from ..demo import DEMO_POLL_MAX_S, DEMO_POLL_MIN_S

        settings = settings.with_values(poll_min_interval=DEMO_POLL_MIN_S, poll_max_interval=DEMO_POLL_MAX_S)
    with DemoSite() as site:
        out.print(f"demo site on http://127.0.0.1:{site.port} ({plural(len(site.resolve_map()), 'site')})")
        with Newsdesk(settings, resolve=site.resolve_map()) as nd:
            nd.init()
            nd.sources.ensure(demo_sources(site.sources()))
            with progress_bar(plain=True) as hook:
                summary = nd.run(sources=nd.sources.list(), progress=hook)
            print_summary(summary)
            result = nd.outputs.export(settings.records_dir)
            out.print(export_line(settings.records_dir, result), highlight=False)
            if serve:
                _serve_demo(nd, site, host or settings.api_host, port or settings.api_port)


@app.command()
@clean_errors
def reembed(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Embed again every article whose stored vector another embedding model made (after changing
    embed_model), so it counts again in related articles, stories and search."""
    with desk(config) as nd:
        count = nd.reembed()
    if not emit({"reembedded": count}, as_json):
        out.print(f"re-embedded {plural(count, 'article')}", highlight=False)


@app.command()
@clean_errors
def search(query: str, limit: int = 20, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Full-text search over titles, excerpts, topics and providers."""
    from ..catalog import Audience

    with desk(config) as nd:
        hits = nd.catalog.search(query, "text", limit, Audience.TRUSTED)
    rows = [
        {
            "id": h.article.id,
            "score": round(h.score, 3),
            "title": h.article.title,
            "provider": h.article.provider.domain,
        }
        for h in hits
    ]
    show_rows(rows, ("id", "score", "title", "provider"), as_json)


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
        written = nd.outputs.write_feeds(folder, base_url)
    out.print(f"wrote {plural(len(written), 'feed file')} to {folder}", highlight=False)


@app.command()
@clean_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default: api_host)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api_port)")] = None,
    poll: Annotated[
        bool,
        typer.Option(
            help="Run the desk: poll, enrich, publish and keep outputs current (--no-poll: serve only)"
        ),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes answering requests (default: api_workers; 0 = one per CPU core); "
            "the desk runs once, in the process that supervises them"
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """The desk: serve the REST API (OpenAPI at /docs) and the web UI while polling sources continuously."""
    settings = settings_from(config)
    count = settings.api_workers if workers is None else workers
    with Newsdesk(settings) as nd:
        nd.preflight(key_may_be_created=True)
        nd.init()
        _serve(nd, host or settings.api_host, port or settings.api_port, poll=poll, workers=count)


@app.command()
@clean_errors
def worker(
    burst: Annotated[bool, typer.Option(help="Drain the queue, then exit")] = False,
    fork: Annotated[
        bool,
        typer.Option(
            help="Fork per job (a crashing job cannot stop the worker); --no-fork keeps the process pool "
            "and model warm between jobs, several times faster on small sources"
        ),
    ] = True,
    config: ConfigOpt = None,
) -> None:
    """Run a queue worker: poll the sources the scheduler queued (needs Redis and a shared database)."""
    from .. import queue

    settings = settings_from(config)
    with Newsdesk(settings) as nd:
        nd.preflight()
    out.print(f"worker on {settings.queue_name} at {settings.redis_url}", highlight=False)
    queue.run_worker([settings.queue_name], settings.redis_url, burst=burst, fork=fork)


@app.command()
@clean_errors
def schedule(
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 30.0,
    config: ConfigOpt = None,
) -> None:
    """Queue a job for every due source, every INTERVAL seconds (the scale-out scheduler)."""
    from .. import queue

    with desk(config) as nd:
        nd.init()
        out.print(f"scheduling into {nd.settings.queue_name} at {nd.settings.redis_url}", highlight=False)
        queue.schedule_forever(nd, nd.settings.redis_url, interval, queue_name=nd.settings.queue_name)


def _serve(nd: Newsdesk, host: str, port: int, *, poll: bool = True, workers: int = 1) -> None:
    try:
        from ..api.app import serve as serve_api
        from ..api.workers import worker_count
    except ImportError as e:
        raise NewsdeskError(f"the API is not available: {e}") from e
    from ..desk import Desk, targets_from

    running = Desk(nd, targets_from(nd)) if poll else None
    mode = "polling sources continuously" if poll else "read-only, not polling"
    count = worker_count(workers)
    processes = f", {count} worker processes" if count > 1 else ""
    out.print(f"serving on http://{host}:{port}/ (API docs at /docs), {mode}{processes}", highlight=False)
    serve_api(nd, host, port, desk=running, workers=count)


def _serve_demo(nd: Newsdesk, site: DemoSite, host: str, port: int) -> None:
    """Serve through the desk while the demo world's timeline releases follow-ups every few seconds."""
    from ..demo import Timeline

    timeline = Timeline(site.world.now, site.replace_world).start()
    out.print(f"the demo world publishes {len(timeline.entries)} follow-ups over the next minutes")
    try:
        _serve(nd, host, port)
    finally:
        timeline.stop()
