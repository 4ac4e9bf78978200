"""An editor's reading tools over the API: the review queue filtered and sorted with the caller's
read/starred flags, setting those flags on a selection, bulk publish/reject, and undo.

Whose flags: the calling token's — kept under the ``users`` row named after the token (see
``store/reading.py``), so they are per editor and shared with that person's reader apps. Scopes (route
table): the queue and the flags need a token (``read``; anonymous callers get nothing, even with
``public_read``), decisions and undo need ``write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from pydantic import Field, model_validator

from ..editorial import SORTS, Conflict, NotFound, Outcome, ReviewFilter, has_visible_text
from .auth import actor
from .params import MAX_ID, Ctx, as_utc
from .problems import FieldInvalid
from .schemas import MAX_NAME, MAX_REASON, NO_NUL, ArticleItem, Wire, _item_fields

MAX_SELECTION = 500  # ids in one bulk request: a long review session's worth, one transaction per id
MAX_PAGE = 200  # as GET /articles
Ids = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(min_length=1, max_length=MAX_SELECTION)]


class ReviewEntry(ArticleItem):
    read: bool
    starred: bool


class ReviewPage(Wire):
    items: list[ReviewEntry]
    next_offset: int | None = Field(None, description="Pass as `offset` for the next page; null on the last.")


class StateBody(Wire):
    ids: Ids
    read: bool | None = None
    starred: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> StateBody:
        if self.read is None and self.starred is None:
            raise ValueError("send read, starred or both")
        return self


class StateResult(Wire):
    updated: int = Field(description="How many of the ids name an existing article (the flags set).")


class BulkBody(Wire):
    ids: Ids
    action: str = Field(pattern="^(publish|reject)$")
    reason: str = Field("", max_length=MAX_REASON, pattern=NO_NUL)

    @model_validator(mode="after")
    def _reasoned(self) -> BulkBody:
        if self.action == "reject" and not has_visible_text(self.reason):
            raise ValueError("a rejection needs a reason")
        return self


class OutcomeOut(Wire):
    id: int
    changed: bool = Field(
        description="False when the article was already in this state, or just decided by another."
    )
    decision_id: int | None = Field(description="The logged decision (what undo takes); null when unchanged.")
    state: str


class BulkResult(Wire):
    results: list[OutcomeOut]


def review_queue(
    request: Request,
    ctx: Ctx,
    state: Annotated[str, Query(pattern="^(pending|published|rejected|all)$")] = "pending",
    topic: Annotated[str | None, Query(max_length=MAX_NAME, pattern=NO_NUL)] = None,
    source_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    language: Annotated[
        str | None, Query(max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
    ] = None,
    min_quality: Annotated[int | None, Query(ge=0, le=100)] = None,
    min_heat: Annotated[int | None, Query(ge=0, le=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    read: bool | None = None,
    starred: bool | None = None,
    sort: Annotated[str, Query(pattern=f"^({'|'.join(SORTS)})$")] = "newest",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReviewPage:
    """The review queue (pending by default) with the caller's flags; filters combine, ``sort`` is
    newest, oldest, quality or heat."""
    if topic and topic not in {t.name for t in ctx.nd.taxonomy.topics}:
        raise FieldInvalid("topic", f"unknown topic {topic!r} (GET /api/v1/topics lists them)")
    where = ReviewFilter(
        review_state=None if state == "all" else state,
        topic=topic,
        source_id=source_id,
        language=language.lower() if language else None,
        min_quality=min_quality,
        min_heat=min_heat,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
        read=read,
        starred=starred,
        sort=sort,
    )
    found = ctx.nd.editorial.review_items(actor(request), where, limit=limit + 1, offset=offset)
    items = [ReviewEntry(**_item_fields(i.article), read=i.read, starred=i.starred) for i in found[:limit]]
    return ReviewPage(items=items, next_offset=offset + limit if len(found) > limit else None)


def set_state(request: Request, ctx: Ctx, body: StateBody) -> dict[str, Any]:
    """Mark a selection read or unread, starred or not, for the caller only."""
    changed = ctx.nd.editorial.set_flags(actor(request), body.ids, read=body.read, starred=body.starred)
    return {"updated": changed}


def decide(request: Request, ctx: Ctx, body: BulkBody) -> dict[str, Any]:
    """Publish or reject a selection; every id must exist (else 422 naming them, nothing decided)."""
    try:
        outcomes = ctx.nd.editorial.decide_many(
            body.ids, body.action, actor=actor(request), reason=body.reason
        )
    except NotFound as e:
        raise FieldInvalid("ids", str(e), "body") from None
    return {"results": [_outcome(o) for o in outcomes]}


def undo(
    request: Request,
    ctx: Ctx,
    decision_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The decision's id.")],
) -> dict[str, Any]:
    """Revert a publish or reject; 409 when it was undone already or the article was decided since."""
    try:
        outcome = ctx.nd.editorial.undo(decision_id, actor=actor(request))
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except Conflict as e:
        raise HTTPException(409, str(e)) from None
    return _outcome(outcome)


def _outcome(o: Outcome) -> dict[str, Any]:
    return {"id": o.article_id, "changed": o.changed, "decisionId": o.decision_id, "state": o.review_state}
