"""Saved searches, alerts and email digests from the command line (``digest send`` is for cron)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .base import ConfigOpt, JsonOpt, app, clean_errors, desk, emit, out, show_rows

alert_app = typer.Typer(no_args_is_help=True, help="Saved searches and their alerts.")
digest_app = typer.Typer(no_args_is_help=True, help="Email digests of new alerts.")


app.add_typer(alert_app, name="alert")
app.add_typer(digest_app, name="digest")

ALERT_COLUMNS = ("id", "search", "title", "quality", "heat", "created_at", "seen_at", "mailed_at")


@alert_app.command("save")
@clean_errors
def alert_save(
    name: str,
    user: Annotated[str, typer.Option(help="The editor (a user) it belongs to.")],
    q: Annotated[str, typer.Option(help="Query text.")] = "",
    mode: Annotated[str, typer.Option(help="text | semantic | hybrid")] = "text",
    topic: Annotated[list[str] | None, typer.Option(help="Topic (any of them); repeatable.")] = None,
    source: Annotated[int | None, typer.Option(help="Only this source id.")] = None,
    language: Annotated[str | None, typer.Option(help="Language code, e.g. en.")] = None,
    min_quality: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    min_heat: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    digest: Annotated[str, typer.Option(help="off | hourly | daily | weekly")] = "off",
    email: Annotated[str | None, typer.Option(help="Where the digest goes.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Save a search; new matching articles become alerts."""
    query: dict[str, Any] = {
        "q": q,
        "mode": mode,
        "topics": topic or [],
        "source_id": source,
        "language": language,
        "min_quality": min_quality,
        "min_heat": min_heat,
    }
    with desk(config) as nd:
        search_id = nd.alerts.save(user, name, query, digest=digest, email=email)
    out.print(f"saved search {search_id}: {name}", highlight=False)


@alert_app.command("searches")
@clean_errors
def alert_searches(
    user: Annotated[str | None, typer.Option()] = None, config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """Saved searches with their digest settings."""
    with desk(config) as nd:
        rows = nd.alerts.list(user=user)
    show_rows(rows, ("id", "user", "name", "query", "digest", "email", "last_digest_at"), as_json)


@alert_app.command("remove")
@clean_errors
def alert_remove(search_id: int, config: ConfigOpt = None) -> None:
    """Remove a saved search and its alerts."""
    with desk(config) as nd:
        nd.alerts.remove(search_id)
    out.print(f"saved search {search_id}: removed", highlight=False)


@alert_app.command("list")
@clean_errors
def alert_list(
    user: Annotated[str | None, typer.Option()] = None,
    search: Annotated[int | None, typer.Option(help="Only this saved search.")] = None,
    unseen: Annotated[bool, typer.Option(help="Only alerts not marked seen.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    with desk(config) as nd:
        rows = nd.alerts.alerts(user=user, search_id=search, unseen=unseen, limit=limit)
    show_rows(rows, ALERT_COLUMNS, as_json)


@alert_app.command("seen")
@clean_errors
def alert_seen(alert_ids: list[int], config: ConfigOpt = None) -> None:
    """Mark alerts as seen."""
    with desk(config) as nd:
        changed = nd.alerts.mark_seen(alert_ids)
    out.print(f"{changed} alert(s) marked seen", highlight=False)


@digest_app.command("send")
@clean_errors
def digest_send(
    due: Annotated[
        bool, typer.Option("--due", help="Only digests whose period has passed (for cron).")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Email the digests of saved searches with unmailed alerts (all of them, or with --due the due ones)."""
    with desk(config) as nd:
        if not nd.settings.smtp_host:
            out.print("smtp_host is not set: no digests sent", highlight=False)
            return
        counts = nd.alerts.send_digests(force=not due)
    if not emit(counts, as_json):
        out.print(
            f"{counts['digests']} digest(s), {counts['alerts_mailed']} alert(s) mailed", highlight=False
        )
