"""The Google Reader API, as FreshRSS and Miniflux serve it to Reeder, NetNewsWire, FeedMe and friends.

    POST /accounts/ClientLogin  Email, Passwd      -> SID=…/LSID=…/Auth=<name>/<secret> (text or JSON)
    every other call            Authorization: GoogleLogin auth=<name>/<secret>
    GET  /reader/api/0/token                       -> the T token POSTs may carry
    GET  …/user-info · subscription/list · tag/list · unread-count
    GET  …/stream/items/ids      s, n, r=o, c, xt, it, ot, nt   -> itemRefs (short decimal ids)
    GET  …/stream/contents[/<s>] the same, with whole items     -> items (long ids)
    POST …/stream/items/contents i=…                           -> the items asked for
    POST …/edit-tag              i=…, a=/r= read|starred        -> OK
    POST …/mark-all-as-read      s, ts (µs)                     -> OK

Streams: ``user/-/state/com.google/reading-list`` (every published record), ``…/starred``, ``…/read``,
``user/-/label/<topic>`` and ``feed/<id>`` (:mod:`.feeds`). Item ids come in the long form
``tag:google.com,2005:reader/item/<16 hex>`` and the short decimal form; both are accepted everywhere.
Only published records are ever listed or changed; anything else is a 4xx with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ..readers import FeedModel, ItemFilter, ReaderItem, ReaderUser, action_token
from .common import every, first, item_html, params, readers

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
API = "/reader/api/0"
LONG_ID = re.compile(r"tag:google\.com,2005:reader/item/([0-9a-fA-F]{16})")
SHORT_ID = re.compile(r"-?[0-9]{1,20}")
STATE = "user/-/state/com.google/"
READING_LIST, STARRED, READ = STATE + "reading-list", STATE + "starred", STATE + "read"
DEFAULT_COUNT = 20  # Google Reader's default page size
MAX_IDS = 10_000  # stream/items/ids page limit (what Google Reader allowed)
MAX_ITEMS = 1_000  # items with content per call: stream/contents and items/contents
AUTH_PREFIX = "googlelogin auth="


# -------------------------------------------------------------------------------------- sign in


@router.post("/accounts/ClientLogin")
async def client_login(request: Request) -> Response:
    """POST only: a password in a GET's query string ends up in access logs and browser history."""
    _spend_login(request)
    got = await params(request)
    name, password = first(got, "Email", "") or "", first(got, "Passwd", "") or ""
    auth = await run_in_threadpool(readers(request).client_login, name.strip(), password)
    if auth is None:
        log.info("reader sign-in refused", extra={"user": name[:64]})
        return PlainTextResponse("Error=BadAuthentication\n", status_code=401)
    if first(got, "output") == "json":
        return JSONResponse({"SID": auth, "LSID": auth, "Auth": auth})
    return PlainTextResponse(f"SID={auth}\nLSID={auth}\nAuth={auth}\n")


def _spend_login(request: Request) -> None:
    """Each sign-in costs a scrypt hash, so sign-ins share the API's write rate limit per client
    address (``write_rate_limit`` a minute): a flood of guesses is a 429, not a busy CPU."""
    api = getattr(request.app.state, "newsdesk_api", None)
    if api is None:
        return
    wait = api.limiter.take(f"clientlogin:{request.client.host if request.client else '?'}")
    if wait > 0:
        raise HTTPException(
            429, "too many sign-ins; try again later", headers={"Retry-After": str(math.ceil(wait))}
        )


def _signed_in(request: Request) -> ReaderUser:
    """The user behind ``Authorization: GoogleLogin auth=…``; 401 without it or for a wrong one."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(AUTH_PREFIX):
        raise _unauthorized("send Authorization: GoogleLogin auth=<token from /accounts/ClientLogin>")
    auth = header[len(AUTH_PREFIX) :].strip()
    user = readers(request).by_greader_token(auth)
    if user is None:
        raise _unauthorized("unknown or revoked app password")
    request.state.greader_auth = auth
    return user


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "GoogleLogin"})


User = Annotated[ReaderUser, Depends(_signed_in)]


def _check_action_token(request: Request, got: list[tuple[str, str]]) -> None:
    """A POST may carry the T token; a wrong one is refused the way Google did (clients then fetch a
    new one). The GoogleLogin header already rules out cross-site forgery, so a missing T is fine."""
    sent = first(got, "T")
    if sent is not None and not hmac.compare_digest(sent, action_token(request.state.greader_auth)):
        raise HTTPException(401, "bad T token", headers={"X-Reader-Google-Bad-Token": "true"})


@router.get(f"{API}/token")
def token(request: Request, user: User) -> PlainTextResponse:
    return PlainTextResponse(action_token(request.state.greader_auth))


# ---------------------------------------------------------------------------------- who and what


@router.get(f"{API}/user-info")
def user_info(user: User) -> dict[str, Any]:
    return {"userId": str(user.id), "userName": user.name, "userProfileId": str(user.id), "userEmail": ""}


@router.get(f"{API}/subscription/list")
def subscription_list(request: Request, user: User) -> dict[str, Any]:
    model = readers(request).feed_model(user)
    return {"subscriptions": [_subscription(f) for f in model.feeds]}


def _subscription(feed: Any) -> dict[str, Any]:
    return {
        "id": feed.stream_id,
        "title": feed.title,
        "categories": [{"id": _label(name), "label": name} for name in feed.folders],
        "url": feed.url,
        "htmlUrl": feed.site_url,
        "iconUrl": "",
    }


@router.get(f"{API}/tag/list")
def tag_list(request: Request, user: User) -> dict[str, Any]:
    folders = readers(request).feed_model(user).folders()
    tags = [{"id": STARRED}] + [{"id": _label(name), "type": "folder"} for name in folders]
    return {"tags": tags}


@router.get(f"{API}/unread-count")
def unread_count(request: Request, user: User) -> dict[str, Any]:
    """Unread records in the reading list, each folder and each feed (one COUNT each; feeds and
    folders with none are left out, as Google Reader did)."""
    part = readers(request)
    model = part.feed_model(user)
    unread = ItemFilter(read=False)
    streams = [(READING_LIST, unread)]
    streams += [(_label(name), dataclasses.replace(unread, topic=name)) for name in model.folders()]
    streams += [(f.stream_id, dataclasses.replace(f.where, read=False)) for f in model.feeds]
    counts = [(stream, part.count(user, where)) for stream, where in streams]
    newest = str(_usec(datetime.now(UTC)))
    return {
        "max": MAX_IDS,
        "unreadcounts": [
            {"id": s, "count": min(n, MAX_IDS), "newestItemTimestampUsec": newest} for s, n in counts if n
        ],
    }


# --------------------------------------------------------------------------------------- streams


@router.get(f"{API}/stream/items/ids")
async def stream_item_ids(request: Request, user: User) -> dict[str, Any]:
    got = await params(request)
    part = readers(request)
    where, oldest_first, count = _stream_query(got, part.feed_model(user), MAX_IDS)
    found = await run_in_threadpool(part.item_ids, user, where, limit=count + 1, oldest_first=oldest_first)
    refs = [{"id": str(i), "directStreamIds": [], "timestampUsec": str(_usec(at))} for i, at in found[:count]]
    answer: dict[str, Any] = {"itemRefs": refs}
    if len(found) > count:
        answer["continuation"] = str(found[count - 1][0])
    return answer


@router.get(f"{API}/stream/contents")
@router.get(API + "/stream/contents/{stream:path}")
async def stream_contents(request: Request, user: User, stream: str = "") -> dict[str, Any]:
    got = await params(request)
    if stream:
        got = [("s", stream), *[(k, v) for k, v in got if k != "s"]]
    part = readers(request)
    model = part.feed_model(user)
    where, oldest_first, count = _stream_query(got, model, MAX_ITEMS)
    found = await run_in_threadpool(part.items, user, where, limit=count + 1, oldest_first=oldest_first)
    answer = _items_answer(first(got, "s") or READING_LIST, found[:count], model)
    if len(found) > count:
        answer["continuation"] = str(found[count - 1].article.id)
    return answer


@router.api_route(f"{API}/stream/items/contents", methods=["GET", "POST"])
async def stream_items_contents(request: Request, user: User) -> dict[str, Any]:
    got = await params(request)
    ids = _item_ids(every(got, "i"))
    part = readers(request)
    model = part.feed_model(user)
    found = await run_in_threadpool(part.items, user, ItemFilter(ids=tuple(ids)), limit=len(ids))
    order = {i: n for n, i in enumerate(ids)}
    found.sort(key=lambda item: order.get(item.article.id or 0, 0))
    return _items_answer(READING_LIST, found, model)


def _stream_query(got: list[tuple[str, str]], model: FeedModel, most: int) -> tuple[ItemFilter, bool, int]:
    """The filter, order and page size a stream request asks for (400 for anything unreadable)."""
    where = _stream(first(got, "s") or READING_LIST, model)
    for target in every(got, "xt"):
        where = _narrow(where, target, include=False)
    for target in every(got, "it"):
        where = _narrow(where, target, include=True)
    oldest_first = first(got, "r") == "o"
    count = _number(first(got, "n"), "n", DEFAULT_COUNT, 1, most)
    if (c := first(got, "c")) is not None and c != "":
        bound = _number(c, "c", 0, 0, 2**63)
        if oldest_first:
            where = dataclasses.replace(where, after_id=bound)
        else:
            where = dataclasses.replace(where, before_id=bound)
    if (ot := first(got, "ot")) is not None:
        where = dataclasses.replace(where, changed_after=_seconds(ot, "ot"))
    if (nt := first(got, "nt")) is not None:
        where = dataclasses.replace(where, changed_before=_seconds(nt, "nt"))
    return where, oldest_first, count


def _stream(stream: str, model: FeedModel) -> ItemFilter:
    """The records a stream id names; 400 for one this server does not have."""
    stream = re.sub(r"^user/[0-9]+/", "user/-/", stream)
    if stream == READING_LIST:
        return ItemFilter()
    if stream == STARRED:
        return ItemFilter(starred=True)
    if stream == READ:
        return ItemFilter(read=True)
    if stream.startswith("user/-/label/") and len(stream) > len("user/-/label/"):
        return ItemFilter(topic=stream[len("user/-/label/") :])
    match = re.fullmatch(r"feed/([0-9]{1,12})", stream)
    feed = model.feed(int(match.group(1))) if match else None
    if feed is None:
        raise HTTPException(400, f"unknown stream: {stream[:200]!r}")
    return feed.where


def _narrow(where: ItemFilter, target: str, *, include: bool) -> ItemFilter:
    target = re.sub(r"^user/[0-9]+/", "user/-/", target)
    if target == READ:
        return dataclasses.replace(where, read=include)
    if target == STARRED:
        return dataclasses.replace(where, starred=include)
    if target == READING_LIST and include:
        return where
    raise HTTPException(400, f"unsupported {'it' if include else 'xt'} target: {target[:200]!r}")


def _items_answer(stream: str, found: list[ReaderItem], model: FeedModel) -> dict[str, Any]:
    return {
        "id": stream,
        "updated": int(datetime.now(UTC).timestamp()),
        "items": [_item(item, model) for item in found],
    }


def _item(item: ReaderItem, model: FeedModel) -> dict[str, Any]:
    article, feed = item.article, model.origin(item.article)
    published = article.published_at or article.first_seen_at or item.changed_at
    categories = [READING_LIST, *(_label(t) for t in article.topics)]
    categories += [READ] if item.read else []
    categories += [STARRED] if item.starred else []
    return {
        "id": long_id(article.id or 0),
        "crawlTimeMsec": str(_usec(item.changed_at) // 1000),
        "timestampUsec": str(_usec(item.changed_at)),
        "published": int(published.timestamp()),
        "updated": int(item.changed_at.timestamp()),
        "title": article.title,
        "author": article.author or "",
        "canonical": [{"href": article.web_url}],
        "alternate": [{"href": article.web_url, "type": "text/html"}],
        "categories": categories,
        "origin": {"streamId": feed.stream_id, "title": feed.title, "htmlUrl": feed.site_url},
        "summary": {"direction": "ltr", "content": item_html(article)},
    }


# ---------------------------------------------------------------------------------------- changes


@router.post(f"{API}/edit-tag")
async def edit_tag(request: Request, user: User) -> PlainTextResponse:
    got = await params(request)
    _check_action_token(request, got)
    ids = _item_ids(every(got, "i"))
    changes: dict[str, bool] = {}
    for targets, value in ((every(got, "a"), True), (every(got, "r"), False)):
        for target in targets:
            changes[_flag(target)] = value
    if not changes:
        raise HTTPException(400, "say what to change: a= or r= user/-/state/com.google/read or starred")
    await run_in_threadpool(readers(request).set_state, user, ids, **changes)
    return PlainTextResponse("OK")


def _flag(target: str) -> str:
    target = re.sub(r"^user/[0-9]+/", "user/-/", target)
    if target == READ:
        return "read"
    if target == STARRED:
        return "starred"
    if target.startswith("user/-/label/") or target.startswith(STATE):
        raise HTTPException(400, f"only read and starred can be changed, not {target[:200]!r}")
    raise HTTPException(400, f"not a tag: {target[:200]!r}")


@router.post(f"{API}/mark-all-as-read")
async def mark_all_as_read(request: Request, user: User) -> PlainTextResponse:
    got = await params(request)
    _check_action_token(request, got)
    part = readers(request)
    where = _stream(first(got, "s") or "", part.feed_model(user))
    if (ts := first(got, "ts")) is not None and ts != "":
        before = _number(ts, "ts", 0, 0, 2**63) / 1_000_000
        where = dataclasses.replace(where, changed_before=datetime.fromtimestamp(before, UTC))
    await run_in_threadpool(part.mark_read, user, where)
    return PlainTextResponse("OK")


# ------------------------------------------------------------------------------------------ ids


def long_id(article_id: int) -> str:
    """The long item id: the id as 16 hex digits (a 64-bit two's complement, as Google wrote it)."""
    return f"tag:google.com,2005:reader/item/{article_id & (2**64 - 1):016x}"


def parse_item_id(text: str) -> int:
    """An item id in the long or the short (signed decimal) form; 400 for anything else."""
    text = text.strip()
    if match := LONG_ID.fullmatch(text):
        value = int(match.group(1), 16)
    elif SHORT_ID.fullmatch(text):
        value = int(text)
    else:
        raise HTTPException(400, f"not an item id: {text[:100]!r}")
    value = value - 2**64 if value >= 2**63 else value  # 16 hex digits are a signed 64-bit number
    if value <= 0 or value >= 2**63:
        raise HTTPException(400, f"no such item id: {text[:100]!r}")
    return value


def _item_ids(raw: list[str]) -> list[int]:
    if not raw:
        raise HTTPException(400, "name the items: i=<item id>, repeated")
    if len(raw) > MAX_ITEMS:
        raise HTTPException(413, f"at most {MAX_ITEMS} items per call")
    return list(dict.fromkeys(parse_item_id(i) for i in raw))


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,20}", raw):
        raise HTTPException(400, f"{name} must be a whole number, got {raw[:40]!r}")
    return max(low, min(high, int(raw)))


def _seconds(raw: str, name: str) -> datetime:
    return datetime.fromtimestamp(_number(raw, name, 0, 0, 2**40), UTC)


def _usec(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _label(name: str) -> str:
    return f"user/-/label/{name}"
