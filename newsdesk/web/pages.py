"""The reading pages: front page, topics, one topic, one article, search and stats.

They only read — through the facade's catalog (:mod:`newsdesk.catalog`) — and render a template.
Anonymous readers see published articles only; a signed-in editor (with a live token) sees everything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..catalog import ArticleQuery, Audience, Hit, topic_tree
from ..errors import NewsdeskError, StorageError
from ..model import Article, Story
from .charts import stacked_bars
from .context import Web, WebContext, audience, error_page, no_store, reads_full_text, render

HOT_STORIES = 8  # front-page stories: one screen of cards on a laptop
LATEST = 20  # articles per list page
SEARCH_LIMIT = 30
STATS_DAYS = 14  # default chart window: two weeks shows weekday rhythm without crowding the labels
STATS_MAX_DAYS = 90
STATS_SERIES = 8  # topics drawn; one colour each (the palette has eight)
SEARCH_MODES = ("text", "semantic", "hybrid")

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def front(request: Request, web: Web, cursor: str | None = None) -> HTMLResponse:
    catalog, viewer = web.catalog, audience(request, web)
    stories = catalog.hot_stories(viewer, HOT_STORIES) if cursor is None else []
    try:
        latest = catalog.articles(ArticleQuery(limit=LATEST, cursor=cursor), viewer)
    except StorageError as e:
        return error_page(request, web, 400, "Bad page link", str(e))
    tree = catalog.topic_tree(viewer)
    return render(request, web, "front.html", stories=stories, latest=latest, tree=tree)


@router.get("/topics", response_class=HTMLResponse)
def topics(request: Request, web: Web) -> HTMLResponse:
    tree = web.catalog.topic_tree(audience(request, web))
    return render(request, web, "topics.html", tree=tree, current=None)


@router.get("/topics/{name}", response_class=HTMLResponse)
def topic(request: Request, web: Web, name: str, cursor: str | None = None) -> HTMLResponse:
    catalog, viewer, taxonomy = web.catalog, audience(request, web), web.nd.taxonomy
    found = catalog.find_topic(name)
    if found is None:
        return error_page(request, web, 404, "No such topic", f"The taxonomy has no topic called “{name}”.")
    try:
        latest = catalog.articles(ArticleQuery(topic=found.name, limit=LATEST, cursor=cursor), viewer)
    except StorageError as e:
        return error_page(request, web, 400, "Bad page link", str(e))
    published = catalog.articles(ArticleQuery(topic=found.name, published=True, limit=LATEST), viewer).items
    counts = catalog.topic_counts(viewer)
    return render(
        request,
        web,
        "topic.html",
        topic=found,
        ancestors=taxonomy.ancestors(found.name),
        children=[(c.name, counts.get(c.name, 0)) for c in taxonomy.children(found.name)],
        tree=topic_tree(taxonomy, counts),
        current=found.name,
        latest=latest,
        published=published,
        count=counts.get(found.name, 0),
    )


@router.get("/articles/{key}", response_class=HTMLResponse)
def article(request: Request, web: Web, key: str) -> HTMLResponse:
    viewer = audience(request, web)
    try:
        found = web.catalog.article(int(key), viewer) if key.isdigit() else None
    except StorageError:
        found = None
    if found is None or found.id is None:
        return error_page(request, web, 404, "No such article", f"There is no article with id “{key}”.")
    text = web.catalog.full_texts([found]).get(found.id) if reads_full_text(request, web) else None
    response = render(
        request,
        web,
        "article.html",
        a=found,
        full_text=text,
        alternates=web.catalog.alternates(found.id),
        siblings=web.catalog.story_siblings(found, viewer),
        decisions=web.nd.editorial.decisions(found.id),
        story=_story(web, found, viewer),
        topic_names=[t.name for t in web.nd.taxonomy.topics],
    )
    return response if text is None else no_store(response)


def _story(web: WebContext, found: Article, viewer: Audience) -> Story | None:
    if found.story_id is None:
        return None
    try:
        return web.catalog.story(found.story_id, viewer)[0]
    except StorageError:
        return None


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, web: Web, q: str = "", mode: str = "text") -> HTMLResponse:
    modes = SEARCH_MODES if web.semantic_search else ("text",)
    mode = mode if mode in modes else "text"
    viewer = audience(request, web)
    hits, note = _search(web, q.strip(), mode, viewer) if q.strip() else ([], None)
    return render(request, web, "search.html", q=q, mode=mode, modes=modes, hits=hits, note=note)


def _search(web: WebContext, q: str, mode: str, viewer: Audience) -> tuple[list[Hit], str | None]:
    """Hits for ``q``. Semantic modes need the embedding model; when it cannot load, the page falls
    back to text search and says so."""
    try:
        return web.catalog.search(q, mode, SEARCH_LIMIT, viewer), None
    except (NewsdeskError, OSError) as e:  # model files missing or unreadable
        if mode == "text":
            raise
        note = f"{mode} search is unavailable ({e}); showing text matches."
        return web.catalog.search(q, "text", SEARCH_LIMIT, viewer), note


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request, web: Web, days: int = STATS_DAYS, parent: str = "") -> HTMLResponse:
    catalog, viewer, taxonomy = web.catalog, audience(request, web), web.nd.taxonomy
    days = max(1, min(days, STATS_MAX_DAYS))
    counts = catalog.topic_counts(viewer)
    group = catalog.find_topic(parent) if parent else None
    members = taxonomy.children(group.name if group else None)
    names = sorted((t.name for t in members), key=lambda n: -counts.get(n, 0))[:STATS_SERIES]
    daily = catalog.daily_topic_counts(names, viewer, days=days, end=datetime.now(UTC).date())
    chart = stacked_bars(daily.days, daily.series)
    return render(
        request,
        web,
        "stats.html",
        daily=daily,
        chart=chart,
        days=days,
        group=group,
        parents=[t for t in taxonomy.topics if taxonomy.children(t.name)],
        counts=counts,
        total=catalog.count_articles(viewer),
        sources=len(web.nd.sources.list()),
        tree=topic_tree(taxonomy, counts),
    )
