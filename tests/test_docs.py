"""The documentation cannot drift from the code: settings page, README command table, typed settings."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import click
import pytest
import typer.main

from newsdesk.cli import app
from newsdesk.config import SETTINGS, SettingValues, settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    """Every leaf command of the CLI, as it is typed ("source add", "token create")."""
    names: list[str] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


COMMANDS = _commands(typing.cast(click.Group, typer.main.get_command(app)))


def test_settings_page_is_generated_from_the_table() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert page == settings_markdown(), "docs/settings.md is stale: run `newsdesk config --markdown`"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    table = [
        line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("|")
    ]
    pattern = re.compile(rf"`(newsdesk )?{re.escape(command)}(?=[ `])")
    assert any(pattern.search(line) for line in table), f"`newsdesk {command}` is missing from README's table"


def test_typed_settings_match_the_table() -> None:
    hints = typing.get_type_hints(SettingValues, include_extras=False)
    declared = {s.name: s.type for s in SETTINGS}
    assert list(hints) == list(declared)
    for name, kind in declared.items():
        assert (typing.get_origin(hints[name]) or hints[name]) is kind, name
