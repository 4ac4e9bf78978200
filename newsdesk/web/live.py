"""The live UI's one endpoint: a short stamp that changes whenever a page could read differently.

Pages that show moving data (the review queue, the front page, the sources list) mark their moving parts
``data-live`` and ``app.js`` asks ``GET /live/stamp`` every few seconds; when the stamp moved it fetches
the same page again and swaps in the marked parts (the review queue only adds the new cards, so the
editor's place and open panels stay). Polling a stamp rather than holding a server-sent-events stream
open: a stamp costs two indexed queries, works through any proxy, and never holds a connection that
would keep ``SIGTERM`` from finishing the server's graceful shutdown.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..app import Newsdesk
from .context import Web

router = APIRouter(include_in_schema=False)


def live_stamp(nd: Newsdesk) -> str:
    """Articles' change stamp (saved, decided, enriched) plus the sources' (polled, rescheduled), hashed
    so the page learns nothing but "changed". The stamp reveals no content, so it needs no sign-in."""
    parts = nd.catalog.live_stamp()
    return hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest()


@router.get("/live/stamp")
async def stamp(web: Web) -> JSONResponse:
    value = await run_in_threadpool(live_stamp, web.nd)
    return JSONResponse({"stamp": value}, headers={"Cache-Control": "no-store"})
