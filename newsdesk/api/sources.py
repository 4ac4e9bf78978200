"""Source endpoints: list, add, read (with poll health), change and remove the places newsdesk polls.

A source that may reach loopback or private addresses (``allowLoopback``) switches the SSRF guard off for
its URLs, so only an admin token may create one or turn the flag on (403 otherwise). Changing where such
a source points (its ``url`` or ``kind``) clears the flag unless the same request, from an admin, sends
``allowLoopback: true`` again — the store enforces that (``Store.update_source``), not this module.
Reading sources needs a token: their URLs can carry feed credentials (``routes.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import HTTPException, Request

from ..errors import StorageError
from ..model import Source, is_http_url
from .auth import Principal
from .params import Ctx, SourceId
from .problems import FieldInvalid
from .schemas import SourceCreate, SourceList, SourceOut, SourcePatch

# Words of the model's ValueError messages (model.Source.__post_init__) → the wire field they concern.
_MESSAGE_FIELDS = (
    ("site_url", "siteUrl"),
    ("url", "url"),
    ("poll_min_s", "pollMinS"),
    ("reputation", "reputation"),
)


def list_sources(ctx: Ctx) -> SourceList:
    return SourceList.of(ctx.nd.sources.list())


def get_source(ctx: Ctx, source_id: SourceId) -> SourceOut:
    return SourceOut.of(ctx.nd.sources.get(source_id))


def create_source(request: Request, ctx: Ctx, body: SourceCreate) -> SourceOut:
    """Register a source; 409 when its URL is already registered."""
    values = body.model_dump(by_alias=False)
    _check(request, ctx, values)
    return SourceOut.of(ctx.nd.sources.add(_build(Source, values | {"name_given": bool(values["name"])})))


def update_source(request: Request, ctx: Ctx, source_id: SourceId, body: SourcePatch) -> SourceOut:
    """Change the fields sent (others keep their values); the poll health is left alone."""
    current = ctx.nd.sources.get(source_id)
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    if changes.get("url") is None:
        changes.pop("url", None)
    _check(request, ctx, changes)
    if "url" in changes and changes["url"] != current.url and _exists(ctx, changes["url"]):
        raise StorageError(f"source already exists: {changes['url']}")
    if "name" in changes:  # a name sent is chosen; null hands the name back to the feed's title
        changes["name_given"] = changes["name"] is not None
    updated = _build(lambda **v: dataclasses.replace(current, **v), changes)
    granted = bool(changes.get("allow_loopback"))  # only an admin gets past _check with it set
    return SourceOut.of(ctx.nd.sources.update(source_id, updated, grant_loopback=granted))


def poll_source(ctx: Ctx, source_id: SourceId) -> SourceOut:
    """Poll now: the source becomes due and the running desk is woken; 409 when it is paused."""
    if ctx.nd.sources.get(source_id).paused:
        raise HTTPException(409, "the source is paused: resume it (PATCH paused=false) to poll it")
    return SourceOut.of(ctx.nd.sources.poll(source_id))


def delete_source(ctx: Ctx, source_id: SourceId) -> SourceOut:
    """Remove a source; its articles stay (their ``sourceId`` becomes null)."""
    return SourceOut.of(ctx.nd.sources.remove(source_id))


def _check(request: Request, ctx: Ctx, values: dict[str, Any]) -> None:
    if "url" in values and not is_http_url(values["url"]):
        raise FieldInvalid("url", "must be an absolute http(s) URL with a host", "body")
    known = {t.name for t in ctx.nd.taxonomy.topics}
    for index, name in enumerate(values.get("topics") or ()):
        if name not in known:
            raise FieldInvalid(f"topics.{index}", f"unknown topic {name!r}", "body")
    who: Principal | None = getattr(request.state, "principal", None)
    if values.get("allow_loopback") and (who is None or not who.allows("admin")):
        raise HTTPException(403, "only an admin token may let a source reach loopback/private addresses")


def _build(factory: Any, values: dict[str, Any]) -> Source:
    """Make the Source; the model's own checks (URL, poll bounds, reputation) become a 422 naming the field."""
    values = dict(values)
    if "topics" in values:
        values["topics"] = tuple(values["topics"])
    try:
        built: Source = factory(**values)
    except ValueError as e:
        field = next((wire for word, wire in _MESSAGE_FIELDS if word in str(e)), "body")
        raise FieldInvalid(field, str(e), "body") from e
    return built


def _exists(ctx: Ctx, url: str) -> bool:
    try:
        ctx.nd.sources.get(url)
    except StorageError:
        return False
    return True
