"""What every command shares: the Typer apps, settings, one-line errors, JSON or table output."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ..app import Newsdesk
from ..config import Settings, load_settings
from ..errors import NewsdeskError

if TYPE_CHECKING:  # the pipeline imports the extraction stack; `newsdesk --help` must not pay for it
    from rich.console import Console

    from ..app import RunSummary
    from ..outputs import ExportSummary

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="newsdesk — sources in, curated records out."
)


source_app = typer.Typer(no_args_is_help=True, help="Manage sources.")


app.add_typer(source_app, name="source")


class LazyConsole:
    """A rich ``Console`` made at its first use: a command whose output is JSON for a script (``run
    --json`` from cron, a cold 304 poll) never imports rich's console, ≈ 15–20 CPU-ms of its start."""

    def __init__(self, **options: Any) -> None:
        self._options = options

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(**self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


# soft_wrap: a printed line is never broken at the terminal width (a URL split in two no longer works);
# tables still fit the width.
out = LazyConsole(soft_wrap=True)


err = LazyConsole(stderr=True, soft_wrap=True)


F = TypeVar("F", bound=Callable[..., Any])


DEMO_RULES = ["reject: quality < 25", 'publish: quality >= 60 and heat >= 0 and "AI" in topics']


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default ./newsdesk.toml).")
]


def clean_errors(func: F) -> F:
    """One clear line and exit code 1 for every newsdesk error, and for every filesystem failure (a
    folder that cannot be written, a file in the way, a full disk) that no lower layer turned into one."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NewsdeskError as e:
            fail(str(e))
        except OSError as e:
            fail(os_error_line(e))
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def fail(message: str) -> NoReturn:
    """Print ``message`` as the one error line on stderr and exit 1. A message on several lines (a
    publish rule's error shows the rule and a caret under the fault) is joined into one: a log line or a
    cron mail keeps it whole. Caret lines only make sense under the line above, so they go."""
    parts = [line.strip() for line in message.splitlines() if line.strip().strip("^~")]
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(': '.join(parts))}", highlight=False)
    raise typer.Exit(1) from None


def os_error_line(error: OSError) -> str:
    """``path: reason`` for an OSError (``[Errno 13] Permission denied: '/x'`` is noise around those two)."""
    reason = error.strerror or str(error) or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 source``, ``2 sources``, ``0 sources`` (``many`` for irregular plurals)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


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
    from rich.table import Table  # here: a command that prints JSON or nothing does not load it

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
    if as_json and sys.stdout.isatty():
        out.print_json(json.dumps(data, default=str))  # coloured for a reader
    elif as_json:  # the same text, uncoloured, without rich for a script
        sys.stdout.write(json.dumps(data, default=str, indent=2, ensure_ascii=False) + "\n")
    return as_json


@contextmanager
def progress_bar(*, quiet: bool = False, plain: bool = False) -> Iterator[Any]:
    """A progress hook for :meth:`Newsdesk.run`: a live bar per stage on a terminal; elsewhere, with
    ``plain``, a line on stderr as each stage starts and ends (a log stays readable); else nothing
    (``run`` from cron stays quiet)."""
    if quiet or not sys.stderr.isatty():
        yield StageLines() if plain and not quiet else None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err.console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield hook


class StageLines:
    """A progress hook that prints ``stage: started`` and ``stage: done (8 of 8, 1.2 s)`` on stderr, once
    each per stage: progress for output that is not a terminal."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._finished: set[str] = set()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._started:
            self._started[stage] = time.perf_counter()
            err.print(f"{stage}: started", highlight=False)
        if total and done >= total and stage not in self._finished:
            self._finished.add(stage)
            took = f"{time.perf_counter() - self._started[stage]:.1f} s"
            counted = f"{done} of {total}, " if total > 1 else ""  # a one-step stage has nothing to count
            err.print(f"{stage}: done ({counted}{took})", highlight=False)


def export_line(folder: Path, summary: ExportSummary) -> str:
    """What an export did, in words: ``records/: 3 records written, 55 unchanged, 0 removed (58 in all)``."""
    return (
        f"{folder}: {plural(summary.written, 'record')} written, {summary.unchanged} unchanged, "
        f"{summary.removed} removed ({summary.total} in all)"
    )


def print_summary(summary: RunSummary) -> None:
    from rich.table import Table  # see show_rows

    table = Table("", "", show_header=False, box=None)
    data = summary.as_dict()
    errors = data.pop("errors")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("errors", ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none")
    out.print(table)


EditorOpt = Annotated[str, typer.Option("--as", help="Who decides (stored with the decision)")]
