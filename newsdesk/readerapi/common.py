"""What both reader APIs share at the edge: the facade part on the request, request parameters from the
query string and a form body together, and an item's HTML."""

from __future__ import annotations

from html import escape

from fastapi import HTTPException, Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException

from ..app import Newsdesk
from ..model import Article
from ..readers import Readers

MAX_PARAMS = 2_000  # query + form fields one request may carry (a batch of 1,000 ids is the most we take)


def readers(request: Request) -> Readers:
    """The reader part of the facade behind this app (the API's context or a web-only app's state)."""
    api = getattr(request.app.state, "newsdesk_api", None)
    nd = getattr(api, "nd", None) or getattr(request.app.state, "newsdesk", None)
    if not isinstance(nd, Newsdesk):
        raise RuntimeError("the reader APIs need the API context on app.state")
    return nd.readers


async def params(request: Request) -> list[tuple[str, str]]:
    """Every parameter of the request, query string first, then a form body (as clients send both)."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await _form(request)
        items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    if len(items) > MAX_PARAMS:
        raise HTTPException(413, f"more than {MAX_PARAMS} parameters")
    return items


async def _form(request: Request) -> FormData:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        raise HTTPException(415, "send parameters form-encoded (application/x-www-form-urlencoded)")
    try:
        return await request.form(max_files=0, max_fields=MAX_PARAMS)
    except (
        MultiPartException,
        ValueError,
        AssertionError,
    ) as e:  # starlette's parser errors for a malformed body
        raise HTTPException(400, f"unreadable form body: {e}") from e


def first(items: list[tuple[str, str]], name: str, default: str | None = None) -> str | None:
    return next((v for k, v in items if k == name), default)


def every(items: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in items if k == name]


def item_html(article: Article) -> str:
    """What a reader app shows for a record: its lead image and excerpt, escaped, and a link to the
    page. The full text stays sealed (editors read it in newsdesk, not in third-party apps)."""
    parts = []
    if article.images:
        parts.append(f'<p><img src="{escape(article.images[0].url)}" alt=""></p>')
    if article.excerpt:
        parts.append(f"<p>{escape(article.excerpt)}</p>")
    parts.append(f'<p><a href="{escape(article.web_url)}">{escape(article.provider.name)}</a></p>')
    return "\n".join(parts)
