"""Reader-app users and their app passwords (the Google Reader and Fever APIs sign in with them)."""

from __future__ import annotations

from typing import Annotated

import typer

from .base import ConfigOpt, JsonOpt, app, clean_errors, desk, emit, out, show_rows

user_app = typer.Typer(no_args_is_help=True, help="Reader-app users and app passwords.")


app.add_typer(user_app, name="user")


@user_app.command("add")
@clean_errors
def user_add(
    name: str,
    role: Annotated[
        str, typer.Option(help="reader (topics as feeds) or editor (also each source)")
    ] = "reader",
    config: ConfigOpt = None,
) -> None:
    """Add a user who reads the published records in a reader app."""
    with desk(config) as nd:
        user_id = nd.readers.add_user(name, role)
    out.print(f"user {user_id}: {name} ({role}); next: newsdesk user app-password {name}", highlight=False)


@user_app.command("app-password")
@clean_errors
def user_app_password(
    name: str,
    label: Annotated[str, typer.Option(help="Which device or app it is for")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an app password for NAME (shown once; only hashes are stored)."""
    with desk(config) as nd:
        password_id, password = nd.readers.new_app_password(name, label)
    if not emit({"id": password_id, "user": name, "password": password}, as_json):
        out.print(f"app password {password_id} for {name}: {password}", highlight=False)


@user_app.command("list")
@clean_errors
def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Users, their role and app passwords."""
    with desk(config) as nd:
        rows = nd.readers.list_users()
    show_rows(rows, ("id", "name", "role", "app_passwords", "created_at", "last_used_at"), as_json)


@user_app.command("remove")
@clean_errors
def user_remove(name: str, config: ConfigOpt = None) -> None:
    """Remove a user with their app passwords and read/starred state."""
    with desk(config) as nd:
        nd.readers.remove_user(name)
    out.print(f"user {name}: removed", highlight=False)
