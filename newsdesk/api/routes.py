"""THE route table: every endpoint of the API, its method, handler, the scope it needs, and its shapes.

Scopes (see ``auth.py``): ``open`` needs nothing; ``read`` is open when ``public_read`` is on, except on
routes marked ``public=False`` (sources: their URLs can carry feed credentials, their errors describe
internal hosts); ``write`` and ``admin`` always need a token. docs/design.md ("Authorisation") has the
whole matrix, and tests/test_authz.py checks it. Every request that changes state (not GET) spends the
token's write rate limit. Everything lives under ``/api/v1``; the documented error answers of each route
follow from its scope, method and path (:func:`_error_responses`), so the OpenAPI document lists each
status a route can really return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import Schema
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import alerts, articles, browse, outputs, reading, sources, webhooks, websub
from .auth import OPEN, require
from .outputs import IMAGE_TYPES
from .problems import MEDIA_TYPE as PROBLEM_TYPE
from .schemas import (
    API_PREFIX,
    ArticleDetail,
    ArticleItem,
    ArticlePage,
    DecisionResult,
    Health,
    Problem,
    SearchResult,
    SecuredText,
    SourceList,
    SourceOut,
    StoryDetail,
    StoryList,
    TopicTree,
)

FEED_TYPES = tuple(media.split(";")[0] for media in outputs.FEEDS.values())
SCHEMA_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Any]
    scope: str  # open | read | write | admin
    model: type[BaseModel] | None  # the JSON response; None = a non-JSON body of ``media``
    summary: str
    tag: str
    status: int = 200
    media: tuple[str, ...] = ()
    public: bool = True  # a "read" route anonymous callers may use when public_read is on


# The formatter would spread each row over nine lines; as a table, one route a row, the API reads at a glance.
# fmt: off
ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", browse.health, OPEN, Health, "Liveness and database reachability", "meta"),
    Route("GET", "/articles", articles.list_articles, "read", ArticlePage, "List articles (filters, cursor pages)", "articles"),
    Route("GET", "/articles/{article_id}", articles.get_article, "read", ArticleDetail, "One record with related and reasons", "articles"),
    Route("GET", "/articles/{article_id}/record.md", articles.get_record, "read", None, "The Markdown record file", "articles", media=("text/markdown",)),
    Route("GET", "/articles/{article_id}/secured", articles.get_secured, "admin", SecuredText, "The decrypted full text", "articles"),
    Route("POST", "/articles/{article_id}/publish", articles.publish, "write", DecisionResult, "Publish an article", "editorial"),
    Route("POST", "/articles/{article_id}/reject", articles.reject, "write", DecisionResult, "Reject an article (reason required)", "editorial"),
    Route("PUT", "/articles/{article_id}/topics", articles.set_topics, "write", ArticleItem, "Replace an article's topics", "editorial"),
    Route("GET", "/stories", browse.list_stories, "read", StoryList, "Stories, hottest first", "stories"),
    Route("GET", "/stories/{story_id}", browse.get_story, "read", StoryDetail, "One story and its articles", "stories"),
    Route("GET", "/topics", browse.list_topics, "read", TopicTree, "The taxonomy with article counts", "topics"),
    Route("GET", "/search", browse.search, "read", SearchResult, "Text, semantic or hybrid search", "articles"),
    Route("GET", "/sources", sources.list_sources, "read", SourceList, "Sources with their poll health", "sources", public=False),
    Route("POST", "/sources", sources.create_source, "write", SourceOut, "Add a source", "sources", status=201),
    Route("GET", "/sources/{source_id}", sources.get_source, "read", SourceOut, "One source with its poll health", "sources", public=False),
    Route("PATCH", "/sources/{source_id}", sources.update_source, "write", SourceOut, "Change a source", "sources"),
    Route("POST", "/sources/{source_id}/poll", sources.poll_source, "write", SourceOut, "Poll a source now", "sources", status=202),
    Route("DELETE", "/sources/{source_id}", sources.delete_source, "write", SourceOut, "Remove a source", "sources"),
    Route("GET", "/feeds/{name}", outputs.get_feed, "read", None, "Published records as RSS, Atom or JSON Feed", "feeds", media=FEED_TYPES),
    Route("GET", "/images/{sha256}", outputs.get_image, "read", None, "A cached image", "images", media=tuple(IMAGE_TYPES.values())),
    Route("GET", "/images/{sha256}/thumb", outputs.get_thumbnail, "read", None, "A cached image's thumbnail", "images", media=("image/jpeg",)),
    Route("GET", "/webhooks", webhooks.list_webhooks, "admin", webhooks.WebhookList, "Webhooks (secrets are never listed)", "webhooks"),
    Route("POST", "/webhooks", webhooks.create_webhook, "admin", webhooks.WebhookCreated, "Register a webhook (its secret is shown once)", "webhooks", status=201),
    Route("DELETE", "/webhooks/{webhook_id}", webhooks.delete_webhook, "admin", webhooks.WebhookOut, "Remove a webhook and its delivery log", "webhooks"),
    Route("GET", "/webhooks/{webhook_id}/deliveries", webhooks.list_deliveries, "admin", webhooks.DeliveryList, "A webhook's delivery log", "webhooks"),
    Route("POST", "/deliveries/{delivery_id}/redeliver", webhooks.redeliver, "admin", webhooks.DeliveryOut, "Send a delivery again", "webhooks"),
    Route("GET", "/saved-searches", alerts.list_saved_searches, "write", alerts.SavedSearchList, "Editors' saved searches", "alerts"),
    Route("POST", "/saved-searches", alerts.create_saved_search, "write", alerts.SavedSearchOut, "Save a search (alerts, digest)", "alerts", status=201),
    Route("DELETE", "/saved-searches/{search_id}", alerts.delete_saved_search, "write", alerts.SavedSearchOut, "Remove a saved search and its alerts", "alerts"),
    Route("GET", "/alerts", alerts.list_alerts, "write", alerts.AlertList, "Alerts: new matches of saved searches", "alerts"),
    Route("POST", "/alerts/seen", alerts.mark_seen, "write", alerts.SeenResult, "Mark alerts seen", "alerts"),
    Route("GET", "/review", reading.review_queue, "read", reading.ReviewPage, "The review queue, filtered and sorted, with your read/starred flags", "editorial", public=False),
    Route("POST", "/review/state", reading.set_state, "read", reading.StateResult, "Mark a selection read/unread, starred/unstarred (for you)", "editorial", public=False),
    Route("POST", "/decisions", reading.decide, "write", reading.BulkResult, "Publish or reject a selection", "editorial"),
    Route("POST", "/decisions/{decision_id}/undo", reading.undo, "write", reading.OutcomeOut, "Undo a publish or reject (both stay logged)", "editorial"),
    Route("GET", "/websub/{key}", websub.verify, OPEN, None, "WebSub: a hub verifies a subscription", "websub", media=("text/plain",)),
    Route("POST", "/websub/{key}", websub.receive, OPEN, None, "WebSub: a hub pushes a feed document", "websub", status=202, media=()),
)
# fmt: on


def _problem(description: str) -> dict[str, Any]:
    # No "model": FastAPI built a pydantic field of Problem (validator and serializer) for each of the
    # 202 error answers, used for nothing but the OpenAPI document; router() took 47-51 CPU-ms with
    # them, 24-25 without (lowest of 9, docs/benchmarks.md). document() puts Problem into the
    # components once. Only problem+json is listed: it is the one type an error answer has (problems.py);
    # the application/json beside it (FastAPI's default for a model) told clients to expect both.
    schema = {"$ref": SCHEMA_REF.format(model=Problem.__name__)}
    return {"description": description, "content": {PROBLEM_TYPE: {"schema": schema}}}


def _error_responses(route: Route) -> dict[int | str, dict[str, Any]]:
    errors: dict[int | str, dict[str, Any]] = {
        503: _problem("The database (or the search model) is unavailable")
    }
    if route.scope != OPEN:
        errors[401] = _problem("Missing, malformed, unknown or revoked token")
        errors[403] = _problem("The token's scope is too low")
    if route.scope != OPEN or "{" in route.path:  # else FastAPI lists its own 422, a JSON HTTPValidationError
        errors[422] = _problem("A parameter or body field is invalid; `errors` names it")
    if "{" in route.path:
        errors[404] = _problem("No such item")
    if route.method != "GET":
        errors[413] = _problem("Request body over 1 MB")
        errors[429] = _problem("Write rate limit reached; see Retry-After")
    if route.handler in (sources.create_source, sources.update_source):
        errors[409] = _problem("A source with this URL already exists")
    if route.handler is alerts.create_saved_search:
        errors[400] = _problem("An unknown user or topic, a digest without an email, or a bad address")
    if route.handler is webhooks.create_webhook:
        errors[400] = _problem("The URL is a private address and allowPrivate is not set")
    if route.handler is sources.poll_source:
        errors[409] = _problem("The source is paused")
    if route.handler is reading.undo:
        errors[409] = _problem("Undone already, or the article was decided again since")
    if route.handler is websub.receive:
        errors[410] = _problem("Not a subscription of ours (any more): the hub may drop it")
    if route.handler is articles.get_secured:
        errors[500] = _problem("The key cannot open the stored payload")
    return errors


def _media_response(route: Route) -> dict[int | str, dict[str, Any]]:
    content = {m: {"schema": {"type": "string", "format": "binary"}} for m in route.media}
    return {route.status: {"description": route.summary, "content": content}}


def document(app: FastAPI) -> None:
    """Have ``app``'s OpenAPI document hold :class:`Problem` (and the models it holds) in its
    components, where every error answer of :func:`_error_responses` refers to it. The schemas are
    written as FastAPI writes those of response models, so the document is what it was when each error
    answer named the model."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI's: made once, then kept on the app
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if Problem.__name__ not in schemas:
            schemas |= _problem_schemas()
            document["components"]["schemas"] = dict(sorted(schemas.items()))  # FastAPI sorts them too
        return document

    # FastAPI's documented way to extend the document: replace the app's openapi method
    app.openapi = openapi  # type: ignore[method-assign]


def _problem_schemas() -> dict[str, Any]:
    _, found = models_json_schema([(Problem, "serialization")], ref_template=SCHEMA_REF)
    return {
        name: jsonable_encoder(Schema(**schema), by_alias=True, exclude_none=True)
        for name, schema in found["$defs"].items()
    }


def router(*, public_read: bool) -> APIRouter:
    """An APIRouter (prefix ``/api/v1``) holding every route of :data:`ROUTES`. With ``public_read`` the
    read routes document the token as optional."""
    api = APIRouter(prefix=API_PREFIX)
    for route in ROUTES:
        responses = _error_responses(route)
        extra: dict[str, Any] = {"response_model": route.model}
        if route.model is None:
            responses |= _media_response(route)
            extra = {"response_class": Response}
        if route.scope == "read" and route.public and public_read:
            extra["openapi_extra"] = {"security": [{}, {"HTTPBearer": []}]}  # {} = anonymous is fine
        needs = require(route.scope, limited=route.method != "GET", public=route.public)
        guard = [] if route.scope == OPEN else [Depends(needs)]
        api.add_api_route(
            route.path,
            route.handler,
            methods=[route.method],
            dependencies=guard,
            summary=route.summary,
            tags=[route.tag],
            status_code=route.status,
            responses=responses,
            operation_id=route.handler.__name__,
            **extra,
        )
    return api
