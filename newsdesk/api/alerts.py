"""Saved searches and alerts for editors (write scope, reads included: a saved search carries an email
address and an editor's beat). The checks are the library's (:class:`newsdesk.alerts.Alerts`), the same
as the CLI's; a bad body is a 400/422 and nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import Field

from ..alerts import DIGESTS, MAX_QUERY, MAX_TOPICS, MODES
from ..readers import USER_NAME_CHARS
from .params import MAX_ID, Ctx
from .problems import FieldInvalid
from .schemas import MAX_NAME, NO_NUL, Wire, when

SearchId = Annotated[int, Path(ge=1, le=MAX_ID, description="The saved search's id.")]
MAX_PAGE = 500
MAX_SEEN = 500  # alert ids marked seen in one request


class SearchQuery(Wire):
    q: str = Field("", max_length=MAX_QUERY, pattern=NO_NUL)
    mode: str = Field("text", pattern="^(" + "|".join(MODES) + ")$")
    topics: list[Annotated[str, Field(max_length=MAX_NAME, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=MAX_TOPICS
    )
    source_id: int | None = Field(None, ge=1, le=MAX_ID)
    language: str | None = Field(None, max_length=16, pattern=r"^[A-Za-z-]+$")
    min_quality: int | None = Field(None, ge=0, le=100)
    min_heat: int | None = Field(None, ge=0, le=100)
    min_similarity: float = Field(0.4, ge=0.0, le=1.0)


class SavedSearchCreate(Wire):
    user: str = Field(
        ..., min_length=1, max_length=USER_NAME_CHARS, pattern=NO_NUL, description="The editor (a user)."
    )
    name: str = Field(..., min_length=1, max_length=200, pattern=NO_NUL)
    query: SearchQuery | None = Field(None, description="The filters; none = every new article.")
    digest: str = Field("off", pattern="^(" + "|".join(DIGESTS) + ")$")
    email: str | None = Field(None, max_length=320, pattern=NO_NUL)


class SavedSearchOut(Wire):
    id: int
    user: str
    name: str
    query: dict[str, Any]
    digest: str
    email: str | None
    last_digest_at: str | None
    created_at: str | None


class SavedSearchList(Wire):
    items: list[SavedSearchOut]


class AlertOut(Wire):
    id: int
    search_id: int
    search: str
    article_id: int
    title: str
    web_url: str
    quality: int
    heat: int
    created_at: str | None
    seen_at: str | None
    mailed_at: str | None


class AlertList(Wire):
    items: list[AlertOut]


class SeenBody(Wire):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(..., min_length=1, max_length=MAX_SEEN)


class SeenResult(Wire):
    changed: int = Field(description="Alerts newly marked seen (already seen ones are not counted).")


def _search(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user": row["user"],
        "name": row["name"],
        "query": dict(row["query"]),
        "digest": row["digest"],
        "email": row["email"],
        "lastDigestAt": when(row["last_digest_at"]),
        "createdAt": when(row["created_at"]),
    }


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "searchId": row["search_id"],
        "search": row["search"],
        "articleId": row["article_id"],
        "title": row["title"],
        "webUrl": row["web_url"],
        "quality": row["quality"],
        "heat": row["heat"],
        "createdAt": when(row["created_at"]),
        "seenAt": when(row["seen_at"]),
        "mailedAt": when(row["mailed_at"]),
    }


def list_saved_searches(
    ctx: Ctx, user: Annotated[str | None, Query(max_length=USER_NAME_CHARS, pattern=NO_NUL)] = None
) -> dict[str, Any]:
    _check_filters(ctx, user, None)
    return {"items": [_search(s) for s in ctx.nd.alerts.list(user=user)]}


def _check_filters(ctx: Ctx, user: str | None, search: int | None) -> None:
    """An unknown user or search in a filter is a 422 naming it (a list route has no 404)."""
    if user and not ctx.nd.readers.exists(user):
        raise FieldInvalid("user", f"no such user: {user[:100]!r}")
    if search is not None and not any(s["id"] == search for s in ctx.nd.alerts.list()):
        raise FieldInvalid("search", f"no such saved search: {search}")


def create_saved_search(ctx: Ctx, body: SavedSearchCreate) -> dict[str, Any]:
    """Save a search; new matching articles become alerts from the next finished run on."""
    query = body.query.model_dump(by_alias=False) if body.query else {}
    search_id = ctx.nd.alerts.save(body.user, body.name, query, digest=body.digest, email=body.email)
    return _search(ctx.nd.alerts.get(search_id))


def delete_saved_search(ctx: Ctx, search_id: SearchId) -> dict[str, Any]:
    """Remove a saved search and its alerts."""
    removed = _search(ctx.nd.alerts.get(search_id))
    ctx.nd.alerts.remove(search_id)
    return removed


def list_alerts(
    ctx: Ctx,
    user: Annotated[str | None, Query(max_length=USER_NAME_CHARS, pattern=NO_NUL)] = None,
    search: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    unseen: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Alerts newest first."""
    _check_filters(ctx, user, search)
    return {
        "items": [
            _alert(a) for a in ctx.nd.alerts.alerts(user=user, search_id=search, unseen=unseen, limit=limit)
        ]
    }


def mark_seen(ctx: Ctx, body: SeenBody) -> dict[str, Any]:
    return {"changed": ctx.nd.alerts.mark_seen(body.ids)}
