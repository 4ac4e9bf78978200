"""Errors as RFC 9457 problem details, and the one place newsdesk errors become HTTP statuses.

Every error answer under ``/api/`` is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and ``instance`` (the request path); a 422 adds ``errors``, one entry per offending field,
naming it (``{"field": "min_quality", "message": ..., "location": "query"}``).

How library errors map (the message prefixes are the store's documented wording)::

    StorageError "no such …"          404   unknown article / story / source
    StorageError "… already exists"   409   a source URL that is already registered
    StorageError "cursor: …"          422   a cursor this server did not issue (field ``cursor``)
    StorageError (other)              503   the database refused or is unreachable
    EnrichmentError                   503   semantic search without a usable model
    CryptoError                       500   the key cannot open a stored payload (a server problem)
    RecordError                       422   names its field
    NewsdeskError (other)             400

Paths outside ``/api/`` (the web UI) keep FastAPI's own HTTP error handling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import CryptoError, EnrichmentError, NewsdeskError, RecordError, StorageError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:newsdesk:problem:"
API_PATHS = "/api/"
VALIDATION_LOCATIONS = ("body", "query", "path", "header", "cookie")


class FieldInvalid(Exception):
    """A request value that parsed but makes no sense (unknown topic, until before since): a 422 naming
    ``field``. Raised by handlers; turned into a problem by :func:`install`."""

    def __init__(self, field: str, message: str, location: str = "query") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.location = location


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """One problem response. ``slug`` names a newsdesk-specific problem type; without it the type is
    ``about:blank`` and the title is the status phrase, as RFC 9457 §4.2.1 prescribes."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def field_error(field: str, message: str, location: str) -> dict[str, str]:
    return {"field": field, "message": message, "location": location}


def _validation_entry(error: Any) -> dict[str, str]:
    """A pydantic/FastAPI error → ``{field, message, location}``; ``field`` is the dotted path after
    the location (``topics.3``), or the location itself for a missing/invalid whole body."""
    loc = [str(part) for part in error.get("loc", ())]
    location = loc[0] if loc and loc[0] in VALIDATION_LOCATIONS else "body"
    rest = loc[1:] if loc and loc[0] in VALIDATION_LOCATIONS else loc
    return field_error(".".join(rest) or location, str(error.get("msg", "invalid")), location)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_entry(e) for e in exc.errors()]
    names = ", ".join(e["field"] for e in errors)
    return problem(request, 422, f"invalid request: {names}", slug="validation", errors=errors)


async def _on_field(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FieldInvalid)
    entry = field_error(exc.field, exc.message, exc.location)
    return problem(request, 422, str(exc), slug="validation", errors=[entry])


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(API_PATHS):
        return await http_exception_handler(request, exc)
    headers = dict(exc.headers) if exc.headers else None
    return problem(request, exc.status_code, str(exc.detail), headers=headers)


def status_for(error: NewsdeskError) -> tuple[int, str | None]:
    """The HTTP status (and problem slug) for a library error; see the module docstring's table."""
    message = str(error)
    if isinstance(error, StorageError):
        if message.startswith("no such"):
            return 404, None
        if "already exists" in message:
            return 409, "conflict"
        if message.startswith("cursor:"):
            return 422, "validation"
        return 503, "storage"
    if isinstance(error, EnrichmentError):
        return 503, "model-unavailable"
    if isinstance(error, CryptoError):
        return 500, "crypto"
    if isinstance(error, RecordError):
        return 422, "validation"
    return 400, None


async def _on_newsdesk(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NewsdeskError)
    status, slug = status_for(exc)
    errors = None
    if slug == "validation":
        field = getattr(exc, "field", None) or str(exc).split(":", 1)[0]
        errors = [field_error(field, str(exc), "query" if field == "cursor" else "body")]
    if status >= 500:
        log.error(
            "request failed", extra={"path": request.url.path, "error_kind": exc.kind, "error": str(exc)}
        )
    return problem(request, status, str(exc), slug=slug, errors=errors)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", extra={"path": request.url.path})
    return problem(request, 500, "internal error; see the server log", slug="internal")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(FieldInvalid, _on_field)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(NewsdeskError, _on_newsdesk)
    app.add_exception_handler(Exception, _on_unexpected)
