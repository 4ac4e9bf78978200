"""The WebSub callback (``newsdesk.websub``): where hubs verify our intent and push feed documents.

``GET /websub/{key}`` answers a hub's verification of intent: the ``hub.challenge`` echoed as plain text
when it confirms a subscription newsdesk asked for or unsubscribes a key newsdesk no longer holds (a
removed source's), a 404 otherwise (W3C WebSub §5.3). ``POST`` takes a push: 202 at once, the feed document ingested in a background task when ``X-Hub-Signature`` is the HMAC
of the body under the subscription's secret; a bad or missing signature is acknowledged too (202, §8:
the hub learns nothing) and the body dropped; a push to a key we do not hold is 410 Gone, so the hub
may drop the subscription. Both routes are open — hubs carry no token — and the key
in the path, random per subscription, is what makes a request one of ours.
"""

from __future__ import annotations

from fastapi import BackgroundTasks, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from ..websub import Gone
from .context import api_context


def verify(request: Request, key: str) -> Response:
    """Echo ``hub.challenge`` for a subscription we requested (or an unsubscribe of a key we no longer
    hold); 404 for anything else."""
    challenge = api_context(request).nd.websub.verify(key, dict(request.query_params))
    if challenge is None:
        raise HTTPException(404, "no such subscription request")
    return PlainTextResponse(challenge)


async def receive(request: Request, key: str, background: BackgroundTasks) -> Response:
    """Acknowledge a push (202) and ingest it after answering when its signature is right."""
    websub = api_context(request).nd.websub
    body = await request.body()
    try:
        row = websub.accept(key, body, request.headers.get("x-hub-signature"))
    except Gone:
        raise HTTPException(410, "no such subscription any more") from None
    except LookupError:
        raise HTTPException(404, "no such subscription") from None
    if row is not None:
        background.add_task(websub.ingest_push, row, body, request.headers.get("content-type"))
    return Response(status_code=202)
