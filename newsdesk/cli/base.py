"""What every command shares: the Typer apps, settings, one-line errors, JSON or table output."""

from __future__ import annotations

import functools
import json
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

from ..app import Newsdesk
from ..config import Settings, load_settings
from ..errors import NewsdeskError
from ..pipeline import RunSummary

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


EditorOpt = Annotated[str, typer.Option("--as", help="Who decides (stored with the decision)")]
