"""Editors' and operators' commands: review, publish, reject, topics, explain, keys, tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..catalog import Audience
from .base import (
    ConfigOpt,
    EditorOpt,
    JsonOpt,
    app,
    clean_errors,
    desk,
    emit,
    out,
    plural,
    show_rows,
)


@app.command()
@clean_errors
def review(limit: int = 20, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List articles waiting for an editor (the review queue)."""
    with desk(config) as nd:
        page = nd.editorial.queue(limit=limit)
    rows = [
        {"id": a.id, "quality": a.quality, "heat": a.heat, "topics": list(a.topics), "title": a.title}
        for a in page.items
    ]
    if not rows and not as_json:
        out.print("review queue is empty: no article is waiting for an editor")
        return
    show_rows(rows, ("id", "quality", "heat", "topics", "title"), as_json)


@app.command()
@clean_errors
def publish(article_id: int, reason: str = "", editor: EditorOpt = "cli", config: ConfigOpt = None) -> None:
    """Publish an article."""
    with desk(config) as nd:
        changed = nd.editorial.publish(article_id, actor=f"editor:{editor}", reason=reason)
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
        changed = nd.editorial.reject(article_id, actor=f"editor:{editor}", reason=reason)
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
        article = nd.editorial.set_topics(article_id, topics, actor=f"editor:{editor}")
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
        result = nd.training.train_topics(path)
    out.print(
        f"trained on {plural(result['examples'], 'example')}, {plural(result['topics'], 'topic')}, nearest-example vote"
        f" weight {result['vote_weight']:g} (chosen by cross-validation) -> {result['path']}",
        highlight=False,
    )


@app.command()
@clean_errors
def explain(key: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Why an article has its topics, quality and heat."""
    with desk(config) as nd:
        data = nd.catalog.explain(key, Audience.TRUSTED)
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
    with desk(config) as nd:
        text = nd.keys.decrypt_record(path)
    sys.stdout.write(text + "\n")


key_app = typer.Typer(no_args_is_help=True, help="The encryption key ring.")


app.add_typer(key_app, name="key")


@key_app.command("rotate")
@clean_errors
def key_rotate(config: ConfigOpt = None) -> None:
    """Add a new key and re-encrypt every payload with it (safe to interrupt and run again)."""
    with desk(config) as nd:
        result = nd.keys.rotate()
    out.print(
        f"active key {result['active_key']}; re-encrypted {plural(result['reencrypted'], 'payload')};"
        f" keys {', '.join(result['keys'])}",
        highlight=False,
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
        token_id, token = nd.tokens.create(name, scope)
    if not emit({"id": token_id, "scope": scope, "token": token}, as_json):
        out.print(f"token {token_id} ({scope}): {token}", highlight=False)


@token_app.command("list")
@clean_errors
def token_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    with desk(config) as nd:
        rows = nd.tokens.list()
    show_rows(rows, ("id", "name", "scope", "created_at", "revoked_at", "last_used_at"), as_json)


@token_app.command("revoke")
@clean_errors
def token_revoke(token_id: int, config: ConfigOpt = None) -> None:
    with desk(config) as nd:
        done = nd.tokens.revoke(token_id)
    out.print(f"token {token_id}: {'revoked' if done else 'not found or already revoked'}")
