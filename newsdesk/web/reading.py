"""An editor's reading tools in the review queue: filters and sort, read/starred flags, and bulk
publish/reject of a selection with undo.

The queue page itself is ``editing.review``; it reads its filter from the query string through
:func:`review_filter` and lists the page with :func:`queue_page`. The actions here are HTML form POSTs
with the editor's session and CSRF token, like every other; each sends the browser back (303) to the
page it came from. Flags are the signed-in token's (``store/reading.py``: the same flags the API shows
that token). A bulk decision comes back as ``/review?bulk=<decision ids>``: the confirmation and its
Undo button are rebuilt from those decisions in the store, and only the editor who made them can see
or undo them from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ..editorial import SORTS, Conflict, NotFound, ReviewFilter, ReviewItem
from ..errors import NewsdeskError
from .context import Denied, Web, WebContext, back, error_page, require_editor
from .editing import REVIEW_PAGE, _local

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

MAX_SELECTION = 500  # as the API's bulk requests
SHOW = {"all": (None, None), "unread": (False, None), "starred": (None, True)}
FILTER_KEYS = ("topic", "source", "language", "min_quality", "min_heat", "since", "until", "sort", "show")


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[ReviewItem]
    next_offset: int | None
    filters: dict[str, str]  # the query string's filter values that were understood, to refill the form


def review_filter(params: Mapping[str, str], topics: set[str]) -> tuple[ReviewFilter, dict[str, str]]:
    """The queue's filter from a query string. A value that does not parse is left out (and not shown
    back in the form) rather than failing the page: these are an editor's links and bookmarks."""
    kept: dict[str, str] = {}
    topic = _kept(kept, "topic", params, lambda v: v if v in topics else None)
    source = _kept(kept, "source", params, _positive)
    language = _kept(
        kept, "language", params, lambda v: v.lower() if v.isalpha() and 2 <= len(v) <= 3 else None
    )
    min_quality = _kept(kept, "min_quality", params, _score)
    min_heat = _kept(kept, "min_heat", params, _score)
    since = _kept(kept, "since", params, _day)
    until = _kept(kept, "until", params, _day)
    sort = _kept(kept, "sort", params, lambda v: v if v in SORTS else None) or "newest"
    read, starred = SHOW[_kept(kept, "show", params, lambda v: v if v in SHOW else None) or "all"]
    end = until.replace(hour=23, minute=59, second=59) if until else None  # "until" a day: all of it
    where = ReviewFilter(
        topic=topic,
        source_id=source,
        language=language,
        min_quality=min_quality,
        min_heat=min_heat,
        since=since,
        until=end,
        read=read,
        starred=starred,
        sort=sort,
    )
    return where, kept


def _kept(kept: dict[str, str], key: str, params: Mapping[str, str], parse: Callable[[str], Any]) -> Any:
    raw = (params.get(key) or "").strip()
    value = parse(raw) if raw else None
    if value is not None:
        kept[key] = raw
    return value


def _positive(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63 else None


def _score(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= 100 else None


def _day(raw: str) -> datetime | None:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def queue_page(web: WebContext, editor_name: str, params: Mapping[str, str]) -> QueuePage:
    """One page of the queue for this editor, as the query string filters, sorts and pages it."""
    where, kept = review_filter(params, {t.name for t in web.nd.taxonomy.topics})
    offset = _positive(params.get("offset", "")) or 0
    found = web.nd.editorial.review_items(editor_name, where, limit=REVIEW_PAGE + 1, offset=offset)
    more = len(found) > REVIEW_PAGE
    return QueuePage(found[:REVIEW_PAGE], offset + REVIEW_PAGE if more else None, kept)


def bulk_flash(web: WebContext, raw: str, actor: str) -> tuple[str, list[int]] | None:
    """The confirmation of a bulk decision named by ``?bulk=`` and the decision ids an Undo takes —
    rebuilt from the store: only this editor's publish/reject decisions count, nothing is echoed."""
    ids = [int(p) for p in raw.split(",")[:MAX_SELECTION] if p.isascii() and p.isdigit() and len(p) < 19]
    found = [d for i in ids if (d := web.nd.editorial.decision(i)) is not None]
    mine = [d for d in found if d["actor"] == actor and d["action"] in ("publish", "reject")]
    if not mine:
        return None
    verb = "Published" if mine[0]["action"] == "publish" else "Rejected"
    undone = [d for d in mine if web.nd.editorial.undone(d)]
    if len(undone) == len(mine):
        plural = "s are" if len(mine) != 1 else " is"
        return f"Undone: the {len(mine)} {verb.lower()} article{plural} back where they were", []
    return f"{verb} {len(mine)} article{'s' if len(mine) != 1 else ''}", [int(d["id"]) for d in mine]


# ------------------------------------------------------------------------------------------ actions


@router.post("/review/bulk")
def bulk(
    request: Request,
    web: Web,
    csrf_token: Annotated[str, Form()] = "",
    ids: Annotated[list[int] | None, Form()] = None,
    action: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    """Publish or reject the checked cards; back to the queue with a confirmation and an Undo."""
    try:
        editor = require_editor(request, web, csrf_token)
    except Denied as denied:
        return denied.response
    chosen = _selection(ids)
    if not chosen:
        return error_page(
            request, web, 400, "Nothing selected", f"Tick between 1 and {MAX_SELECTION} articles first."
        )
    try:
        outcomes = web.nd.editorial.decide_many(chosen, action, actor=editor.actor, reason=reason.strip())
    except NotFound as e:
        return error_page(request, web, 404, "No such article", str(e))
    except NewsdeskError as e:
        return error_page(request, web, 400, "Nothing decided", str(e))
    made = [str(o.decision_id) for o in outcomes if o.decision_id is not None]
    log.info("editor bulk decision", extra={"action": action, "count": len(chosen), "changed": len(made)})
    return back(_with(_local(next, "/review"), "bulk", ",".join(made)) if made else _local(next, "/review"))


@router.post("/review/undo")
def undo(
    request: Request,
    web: Web,
    csrf_token: Annotated[str, Form()] = "",
    decisions: Annotated[list[int] | None, Form()] = None,
    next: Annotated[str, Form()] = "/review",
) -> Response:
    """Undo the decisions of a bulk action (each one a compare-and-set: one decided again since is
    left alone and reported)."""
    try:
        editor = require_editor(request, web, csrf_token)
    except Denied as denied:
        return denied.response
    chosen = _selection(decisions)
    if not chosen:
        return error_page(request, web, 400, "Nothing to undo", "The undo form names no decisions.")
    refused = []
    for decision_id in chosen:
        try:
            web.nd.editorial.undo(decision_id, actor=editor.actor)
        except (NotFound, Conflict) as e:
            refused.append(str(e))
    if refused and len(refused) == len(chosen):
        return error_page(request, web, 409, "Nothing undone", "; ".join(refused[:5]))
    return back(_with(_local(next, "/review"), "bulk", ",".join(map(str, chosen))))


@router.post("/review/flags")
def flags(
    request: Request,
    web: Web,
    csrf_token: Annotated[str, Form()] = "",
    ids: Annotated[list[int] | None, Form()] = None,
    read: Annotated[str, Form()] = "",
    starred: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    """Set this editor's read or starred flag on one card (its buttons) or the checked ones."""
    try:
        editor = require_editor(request, web, csrf_token)
    except Denied as denied:
        return denied.response
    chosen = _selection(ids)
    wanted = {"read": _flag(read), "starred": _flag(starred)}
    if not chosen or wanted == {"read": None, "starred": None}:
        return error_page(request, web, 400, "Nothing marked", "Tick some articles, then mark them.")
    web.nd.editorial.set_flags(editor.name, chosen, **wanted)
    return back(_local(next, "/review"))


def _flag(raw: str) -> bool | None:
    return {"1": True, "0": False}.get(raw)


def _with(path: str, key: str, value: str) -> str:
    """``path`` with ``key=value`` in place of any earlier one (the undo flash must not pile up)."""
    base, _, query = path.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith(f"{key}=")]
    return f"{base}?{'&'.join([*kept, f'{key}={value}'])}"


def _selection(ids: list[int] | None) -> list[int]:
    """The ticked ids, each once in the order given; empty when none or more than MAX_SELECTION were sent
    (every action refuses both alike)."""
    chosen = list(dict.fromkeys(ids or []))
    return chosen if len(chosen) <= MAX_SELECTION else []
