"""The Fever API (version 3), as Reeder, ReadKit, Fluent Reader and others speak it.

One URL, ``/fever/?api`` (FreshRSS's ``/api/fever.php`` too, the path clients set up for FreshRSS
default to); the client POSTs ``api_key`` = md5("name:app password") form-encoded and names what it
wants in the query string::

    &groups · &feeds · &favicons · &links       groups are topics, feeds as in readerapi.feeds
    &items [since_id | max_id | with_ids]      50 at a time, ascending after since_id, descending below max_id
    &unread_item_ids · &saved_item_ids         comma-separated ids
    mark=item&as=read|unread|saved|unsaved&id=
    mark=feed|group&as=read&id=&before=<unix time>   (group 0: everything)

Every answer carries ``api_version`` and ``auth``; without a valid key it is ``auth: 0`` and nothing
else — with status 200, as Fever answers: clients read ``auth`` to tell a wrong password, and treat
any other status as a server fault (the ``freshrss-api`` client retries it). Only published records
are listed or marked; a bad parameter is a 400.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..model import Taxonomy
from ..readers import FeedModel, ItemFilter, ReaderItem, Readers, ReaderUser
from .common import first, item_html, params, readers

router = APIRouter(include_in_schema=False)
API_VERSION = 3
PAGE = 50  # Fever's fixed page of items, and the most with_ids may name
IDS = re.compile(r"[0-9]{1,19}(,[0-9]{1,19})*")


@router.api_route("/fever/", methods=["GET", "POST"])
@router.api_route("/fever", methods=["GET", "POST"])
@router.api_route("/api/fever.php", methods=["GET", "POST"])
async def fever(request: Request) -> JSONResponse:
    got = await params(request)
    part = readers(request)
    user = await run_in_threadpool(part.by_fever_key, first(got, "api_key", "") or "")
    if user is None:
        return JSONResponse({"api_version": API_VERSION, "auth": 0})
    answer = await run_in_threadpool(_answer, part, user, got)
    return JSONResponse(answer)


def _answer(part: Readers, user: ReaderUser, got: list[tuple[str, str]]) -> dict[str, Any]:
    asked = {k for k, _ in got}
    answer: dict[str, Any] = {
        "api_version": API_VERSION,
        "auth": 1,
        "last_refreshed_on_time": int(datetime.now(UTC).timestamp()),
    }
    model = part.feed_model(user)
    if "mark" in asked:
        asked |= _mark(part, user, model, got)
    if "groups" in asked or "feeds" in asked:
        answer["feeds_groups"] = _feeds_groups(model, part.nd.taxonomy)
    if "groups" in asked:
        answer["groups"] = [
            {"id": i, "title": name} for name, i in _group_ids(model, part.nd.taxonomy).items()
        ]
    if "feeds" in asked:
        answer["feeds"] = [_feed(f) for f in model.feeds]
    if "favicons" in asked:
        answer["favicons"] = []
    if "links" in asked:
        answer["links"] = []
    if "items" in asked:
        answer |= _items(part, user, model, got)
    if "unread_item_ids" in asked:
        answer["unread_item_ids"] = _ids(part.item_ids(user, ItemFilter(read=False)))
    if "saved_item_ids" in asked:
        answer["saved_item_ids"] = _ids(part.item_ids(user, ItemFilter(starred=True)))
    return answer


def _group_ids(model: FeedModel, taxonomy: Taxonomy) -> dict[str, int]:
    """Topic → group id: its place in the taxonomy (from 1), then unknown topics after; stable."""
    order = [t.name for t in taxonomy.topics]
    extra = sorted(set(model.folders()) - set(order))
    places = {name: i for i, name in enumerate([*order, *extra], start=1)}
    return {name: places[name] for name in model.folders()}


def _feeds_groups(model: FeedModel, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    groups = _group_ids(model, taxonomy)
    members: dict[int, list[int]] = {}
    for feed in model.feeds:
        for folder in feed.folders:
            members.setdefault(groups[folder], []).append(feed.id)
    return [{"group_id": g, "feed_ids": ",".join(map(str, ids))} for g, ids in sorted(members.items())]


def _feed(feed: Any) -> dict[str, Any]:
    return {
        "id": feed.id,
        "favicon_id": 0,
        "title": feed.title,
        "url": feed.url,
        "site_url": feed.site_url,
        "is_spark": 0,
        "last_updated_on_time": 0,
    }


def _items(part: Readers, user: ReaderUser, model: FeedModel, got: list[tuple[str, str]]) -> dict[str, Any]:
    with_ids, since, below = first(got, "with_ids"), first(got, "since_id"), first(got, "max_id")
    if with_ids is not None:
        ids = _id_list(with_ids, "with_ids")
        if len(ids) > PAGE:
            raise HTTPException(400, f"with_ids names at most {PAGE} items")
        found = part.items(user, ItemFilter(ids=tuple(ids)), limit=PAGE)
    elif below is not None and _number(below, "max_id") > 0:
        found = part.items(user, ItemFilter(before_id=_number(below, "max_id")), limit=PAGE)
    elif below is not None:  # max_id=0: the newest
        found = part.items(user, ItemFilter(), limit=PAGE)
    else:
        after = _number(since, "since_id") if since is not None else 0
        found = part.items(user, ItemFilter(after_id=after), limit=PAGE, oldest_first=True)
    return {"items": [_item(i, model) for i in found], "total_items": part.count(user, ItemFilter())}


def _item(item: ReaderItem, model: FeedModel) -> dict[str, Any]:
    article = item.article
    created = article.published_at or article.first_seen_at or item.changed_at
    return {
        "id": article.id,
        "feed_id": model.origin(article).id,
        "title": article.title,
        "author": article.author or "",
        "html": item_html(article),
        "url": article.web_url,
        "is_saved": int(item.starred),
        "is_read": int(item.read),
        "created_on_time": int(created.timestamp()),
    }


def _mark(part: Readers, user: ReaderUser, model: FeedModel, got: list[tuple[str, str]]) -> set[str]:
    """Apply a ``mark`` request; returns which id lists the answer should carry."""
    kind, action, raw_id = first(got, "mark"), first(got, "as"), first(got, "id")
    if raw_id is None:
        raise HTTPException(400, "mark needs id=")
    target = _number(raw_id, "id", signed=True)
    if kind == "item":
        flags = {
            "read": {"read": True},
            "unread": {"read": False},
            "saved": {"starred": True},
            "unsaved": {"starred": False},
        }.get(action or "")
        if flags is None:
            raise HTTPException(400, "as must be read, unread, saved or unsaved for an item")
        part.set_state(user, [target], **flags)
        return {"unread_item_ids"} if "read" in flags else {"saved_item_ids"}
    if kind in ("feed", "group") and action == "read":
        where = _marked_stream(model, part.nd.taxonomy, kind, target)
        if (before := first(got, "before")) is not None:
            changed = datetime.fromtimestamp(_number(before, "before"), UTC)
            where = dataclasses.replace(where, changed_before=changed)
        part.mark_read(user, where)
        return {"unread_item_ids"}
    raise HTTPException(400, "mark must be item, feed or group (feeds and groups can only be marked read)")


def _marked_stream(model: FeedModel, taxonomy: Taxonomy, kind: str, target: int) -> ItemFilter:
    if kind == "feed":
        feed = model.feed(target)
        if feed is None:
            raise HTTPException(400, f"no such feed: {target}")
        return feed.where
    if target == 0:  # Fever's "Kindling": every item
        return ItemFilter()
    topic = next((name for name, i in _group_ids(model, taxonomy).items() if i == target), None)
    if topic is None:
        raise HTTPException(400, f"no such group: {target}")
    return ItemFilter(topic=topic)


def _ids(found: list[tuple[int, datetime]]) -> str:
    return ",".join(str(i) for i, _ in sorted(found))


def _id_list(raw: str, name: str) -> list[int]:
    if not IDS.fullmatch(raw.strip()):
        raise HTTPException(400, f"{name} must be comma-separated item ids, got {raw[:60]!r}")
    return list(dict.fromkeys(int(i) for i in raw.strip().split(",")))


def _number(raw: str, name: str, *, signed: bool = False) -> int:
    pattern = r"-?[0-9]{1,19}" if signed else r"[0-9]{1,19}"
    if not re.fullmatch(pattern, raw.strip()):
        raise HTTPException(400, f"{name} must be a whole number, got {raw[:40]!r}")
    return int(raw)
