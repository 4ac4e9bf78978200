"""``serve`` over several processes: one desk, N front ends on one socket.

With ``api_workers`` above one (``newsdesk serve --workers N``; 0 = one per CPU core), uvicorn binds the
socket once and starts N worker processes that each build the app over their own facade and answer
requests — the API and the UI, like ``serve --no-poll``. The process that started them supervises them
(a worker that dies is replaced) and runs the desk, when polling is on, in its thread: one scheduler
per deployment, whatever N is. They share what a request may depend on through the database (the
change stamp their response caches key on, sessions' tokens) and, for the UI, one signing secret made
here per start (a session or form from one worker is good in the others; a restart signs everyone out,
as with one process).

The settings and the secret reach the workers in :data:`FRONT_END_ENV`: uvicorn starts them by import
string, and a spawned process inherits the environment (readable by the same user only, like the key
file).
"""

from __future__ import annotations

import base64
import logging
import os
import pickle
import secrets
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..app import Newsdesk
from ..config import Settings
from ..desk import Desk

log = logging.getLogger(__name__)

FRONT_END_ENV = "NEWSDESK_FRONT_END"
SECRET_BYTES = 32


def worker_count(setting: int) -> int:
    """``api_workers`` as a number of processes: 0 means one per CPU core."""
    return setting if setting > 0 else max(1, os.cpu_count() or 1)


def serve_workers(
    nd: Newsdesk, host: str, port: int, workers: int, *, desk: Desk | None, uvicorn_options: dict[str, Any]
) -> None:
    """Run ``workers`` front-end processes on ``host:port`` and, when given, ``desk`` in this one, until
    SIGINT or SIGTERM."""
    os.environ[FRONT_END_ENV] = _pack(nd.settings, secrets.token_bytes(SECRET_BYTES))
    if desk is not None:
        desk.start()
    try:
        target = f"{__name__}:front_end"
        uvicorn.run(target, factory=True, host=host, port=port, workers=workers, **uvicorn_options)
    finally:
        os.environ.pop(FRONT_END_ENV, None)
        if desk is not None:
            desk.stop()


def front_end() -> FastAPI:
    """The app one worker process serves (uvicorn calls it there): the API and UI, no desk."""
    from .app import create_app

    settings, secret = _unpack(os.environ[FRONT_END_ENV])
    return create_app(Newsdesk(settings), web_secret=secret)


def _pack(settings: Settings, secret: bytes) -> str:
    state = (dict(settings.values), dict(settings.origins), secret)
    return base64.b64encode(pickle.dumps(state)).decode("ascii")


def _unpack(value: str) -> tuple[Settings, bytes]:
    """The parent's settings as they were (not read again: a caller's own settings hold). Only our own
    parent process writes this variable."""
    values, origins, secret = pickle.loads(base64.b64decode(value))
    return Settings(values, origins), secret
