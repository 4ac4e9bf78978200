"""The web UI in a real browser: Debian's chromium, headless, driven by Playwright, against uvicorn on
127.0.0.1. Never downloads a browser: the executable comes from ``NEWSDESK_TEST_CHROMIUM`` or
``/usr/bin/chromium`` (``apt-get install chromium``); without it the tests skip, unless
``NEWSDESK_REQUIRE_SERVICES=1`` (CI), where a missing browser fails.

Screenshots of the main pages go to ``tmp_path``; set ``NEWSDESK_SCREENSHOT_DIR=docs/screenshots`` to
refresh the documentation's, and ``NEWSDESK_SCREENSHOT_DATA=<data dir>`` (e.g. the ``.newsdesk`` folder
``newsdesk demo`` made) to take them over real demo data instead of the test seed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import SourceHealth, now
from newsdesk.web.routes import create_web_app
from tests.test_web import HOSTILE_SCRIPT, seed

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("NEWSDESK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1360, "height": 900}  # a 14-inch laptop: what an editor reviews on
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 in portrait: the narrowest screen we lay out for
START_TIMEOUT_S = 10.0
SWAGGER_MS = 30_000  # Swagger UI renders the whole API description before the first element shows
HAS_API = importlib.util.find_spec("newsdesk.api.app") is not None

if not Path(CHROMIUM).exists():
    if os.environ.get("NEWSDESK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"chromium not found at {CHROMIUM} and NEWSDESK_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(
        f"chromium not found at {CHROMIUM}: apt-get install chromium, or set NEWSDESK_TEST_CHROMIUM",
        allow_module_level=True,
    )


def make_app(nd: Newsdesk) -> FastAPI:
    """The whole app (API + UI) when the API package is there, else the UI alone."""
    if HAS_API:
        from newsdesk.api.app import create_app

        return create_app(nd)
    return create_web_app(nd)


@dataclass
class Live:
    base: str
    nd: Newsdesk
    token: str
    ids: dict[str, int]

    def url(self, path: str) -> str:
        return self.base + path


class Server:
    """uvicorn on 127.0.0.1, port 0, in a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    data = seed(tmp_path / "nd")
    with Server(make_app(data.nd)) as base:
        yield Live(base, data.nd, data.write_token, data.ids)
    data.nd.close()


@pytest.fixture
def page(browser: object, live: Live) -> Iterator[object]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def sign_in(page: object, live: Live, then: str = "/review") -> None:
    page.goto(live.url("/login?next=" + then))  # type: ignore[attr-defined]
    page.fill("#token", live.token)  # type: ignore[attr-defined]
    page.click("form.stack button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(live.url(then))  # type: ignore[attr-defined]


def test_browse_front_search_and_related(page: object, live: Live) -> None:
    """An anonymous reader: sees the published articles, and nothing of the unpublished one."""
    p: playwright_sync.Page = page  # type: ignore[assignment]
    for key in ("rates", "rates2", "ai"):
        live.nd.editorial.publish(live.ids[key], actor="test", reason="")
    p.goto(live.url("/"))
    story = p.locator(".story.lead")
    playwright_sync.expect(story).to_contain_text("Central bank holds rates, signals cuts next year")
    playwright_sync.expect(story).to_contain_text("The Business Courier")
    playwright_sync.expect(p.locator("section[aria-labelledby=latest] .rows")).to_contain_text(
        "Borrowers left"
    )
    playwright_sync.expect(p.locator("body")).not_to_contain_text(HOSTILE_SCRIPT)  # still unpublished
    p.fill(".topsearch input[name=q]", "central bank")
    p.press(".topsearch input[name=q]", "Enter")
    p.wait_for_url("**/search?q=central+bank")
    p.click("text=Central bank holds rates, signals cuts next year")
    p.wait_for_url(live.url(f"/articles/{live.ids['rates']}"))
    related = p.locator("#related .related-card")
    playwright_sync.expect(related.first).to_contain_text("Banks put AI models under audit")
    related.first.click()
    p.wait_for_url(live.url(f"/articles/{live.ids['ai']}"))
    playwright_sync.expect(p.locator("h1")).to_have_text("Banks put AI models under audit")


def test_publish_from_the_review_queue_with_the_keyboard(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    p.goto(live.url("/review"))
    p.wait_for_url("**/login?next=/review")
    sign_in(p, live)
    cards = p.locator(".review-card")
    playwright_sync.expect(cards.first).to_have_attribute("aria-current", "true")
    p.keyboard.press("j")  # newest first: the hostile article, then the rates story
    playwright_sync.expect(cards.nth(1)).to_have_attribute("aria-current", "true")
    playwright_sync.expect(cards.nth(1)).to_contain_text("Central bank holds rates")
    p.keyboard.press("p")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Published “Central bank holds rates")
    assert live.nd.store.get_article(live.ids["rates"]).published
    p.goto(live.url("/topics/rates"))
    playwright_sync.expect(p.locator(".published-list")).to_contain_text("Central bank holds rates")
    if HAS_API:
        feed = p.request.get(live.url("/api/v1/feeds/rates.rss"))
        assert feed.ok and "Central bank holds rates, signals cuts next year" in feed.text()


def test_reject_and_fix_topics_with_the_keyboard(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    sign_in(p, live)
    p.keyboard.press("k")  # stays on the first card
    p.keyboard.press("r")
    reason = p.locator(".review-card[aria-current=true] input[name=reason]")
    playwright_sync.expect(reason).to_be_focused()
    reason.type("off-topic: test fixture")  # the "r"/"t"/"p" typed here must not trigger shortcuts
    reason.press("Enter")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Rejected")
    assert live.nd.store.get_article(live.ids["hostile"]).review_state == "rejected"
    p.keyboard.press("t")
    panel = p.locator(".review-card[aria-current=true] .topics-panel")
    playwright_sync.expect(panel).to_have_attribute("open", "")
    panel.locator("input[value='Crypto']").check()
    panel.locator("button[type=submit]").click()
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Updated topics")
    assert "Crypto" in live.nd.store.get_article(live.ids["rates"]).topics


def test_after_a_decision_the_next_card_in_display_order_is_selected(page: object, live: Live) -> None:
    """The queue is newest first, so its id order differs from its display order: hostile (id 4),
    rates (1), rates2 (2), ai (3). Deciding a card selects the card after it on the page, or the one
    before it when it was the last; a topics fix keeps the card. Each card holds the full text, collapsed."""
    p: playwright_sync.Page = page  # type: ignore[assignment]
    ids = live.ids
    assert ids["hostile"] > ids["ai"] > ids["rates2"] > ids["rates"]  # the premise: ids out of page order
    sign_in(p, live)
    current = p.locator(".review-card[aria-current=true]")
    text = current.locator("details.fulltext")
    playwright_sync.expect(text).not_to_have_attribute("open", "")  # collapsed until asked for
    text.locator("summary").click()
    playwright_sync.expect(text).to_contain_text("Second paragraph with detail.")
    p.keyboard.press("Escape")
    playwright_sync.expect(text).not_to_have_attribute("open", "")
    p.keyboard.press("j")
    playwright_sync.expect(current).to_have_attribute("data-id", str(ids["rates"]))
    p.keyboard.press("p")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Published “Central bank holds rates")
    playwright_sync.expect(current).to_have_attribute("data-id", str(ids["rates2"]))  # the card after it
    p.keyboard.press("t")
    current.locator(".topics-panel input[value='Crypto']").check()
    current.locator(".topics-panel button[type=submit]").click()
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Updated topics")
    playwright_sync.expect(current).to_have_attribute("data-id", str(ids["rates2"]))  # still there
    p.keyboard.press("j")
    playwright_sync.expect(current).to_have_attribute("data-id", str(ids["ai"]))  # the last card
    p.keyboard.press("r")
    current.locator("input[name=reason]").type("thin: test fixture")
    current.locator("input[name=reason]").press("Enter")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Rejected")
    playwright_sync.expect(current).to_have_attribute("data-id", str(ids["rates2"]))  # the one before it
    assert live.nd.store.get_article(ids["ai"]).review_state == "rejected"


def test_hostile_html_does_not_execute(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    sign_in(p, live)
    for path in (
        "/",
        f"/articles/{live.ids['hostile']}",
        "/search?q=breaking",
        "/review",
        "/topics/payments",
    ):
        p.goto(live.url(path))
        assert p.evaluate("typeof window.__pwned") == "undefined", path
    p.goto(live.url(f"/articles/{live.ids['hostile']}"))
    playwright_sync.expect(p.locator("h1")).to_contain_text(HOSTILE_SCRIPT)  # shown as text


def test_no_page_is_wider_than_a_phone(browser: object, live: Live) -> None:
    """At 390 × 844 no page scrolls sideways, anonymous or signed in: wide tables scroll inside their
    own box or reflow into cards, and the chart scales. A long unbroken error message and the hostile
    title are part of the data on purpose."""
    live.nd.editorial.publish(live.ids["rates"], actor="test", reason="")  # the public sees an article
    source = live.nd.sources.list()[0]
    assert source.id is not None
    error = "HTTP 503 from https://ledger.example/" + "a-very-long-path-segment-" * 6 + "feed.xml"
    health = SourceHealth(last_polled_at=now(), error_count=2, last_error=error, last_error_kind="fetch")
    live.nd.store.save_health(source.id, health)
    pages = ["/", "/topics", "/topics/rates", f"/articles/{live.ids['rates']}", "/search?q=central+bank",
             "/review", "/sources", "/stats", "/stats?parent=markets&days=90", "/login", "/articles/999999"]  # fmt: skip
    context = browser.new_context(viewport=PHONE)  # type: ignore[attr-defined]
    p: playwright_sync.Page = context.new_page()
    too_wide = []
    for signed_in in (False, True):
        if signed_in:
            sign_in(p, live)
        for path in pages:
            p.goto(live.url(path))
            width = p.evaluate("document.documentElement.scrollWidth")
            if width > p.evaluate("window.innerWidth"):
                too_wide.append(f"{path} ({'editor' if signed_in else 'anonymous'}): {width} px")
    context.close()
    assert too_wide == []


def test_screenshots_of_the_main_pages(browser: object, tmp_path: Path) -> None:
    """Screenshots of front, article, review, sources and stats; see the module docstring for where."""
    target = Path(os.environ.get("NEWSDESK_SCREENSHOT_DIR") or tmp_path / "shots")
    target.mkdir(parents=True, exist_ok=True)
    nd, token, article_id = _screenshot_data(tmp_path)
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    with Server(make_app(nd)) as base:
        p = context.new_page()
        sign_in(p, Live(base, nd, token, {}))
        for name, path in (
            ("front", "/"),
            ("article", f"/articles/{article_id}"),
            ("review", "/review"),
            ("sources", "/sources"),
            ("stats", "/stats"),
        ):
            p.goto(base + path)
            p.screenshot(path=str(target / f"{name}.png"), full_page=name not in ("front", "review"))
            assert (target / f"{name}.png").stat().st_size > 10_000, name
    context.close()
    nd.close()


def _screenshot_data(tmp_path: Path) -> tuple[Newsdesk, str, int]:
    """(newsdesk, write token, the article to show): a copy of the demo data when given, else the seed."""
    demo = os.environ.get("NEWSDESK_SCREENSHOT_DATA")
    if not demo:
        data = seed(tmp_path / "nd")
        return data.nd, data.write_token, data.ids["rates"]
    copy = tmp_path / "demo"
    shutil.copytree(demo, copy)
    nd = Newsdesk(load_settings(env={"NEWSDESK_DATA_DIR": str(copy), "NEWSDESK_ENCRYPT": "0"}))
    _, token = nd.tokens.create("maria", "write")
    story = nd.store.list_stories(limit=1)[0]
    assert story.id is not None
    lead = max(nd.store.story_articles(story.id), key=lambda a: len(nd.store.related_refs(a.id or 0)))
    assert lead.id is not None
    return nd, token, lead.id


@pytest.mark.skipif(not HAS_API, reason="the API package is not installed")
def test_api_docs_render_offline_under_their_csp(page: object, live: Live) -> None:
    """/docs draws the API from this server alone: every request stays on it, and the CSP (self plus the
    page's one hashed inline script) blocks nothing Swagger UI needs."""
    p: playwright_sync.Page = page  # type: ignore[assignment]
    requests: list[str] = []
    blocked: list[str] = []
    p.on("request", lambda r: requests.append(r.url))
    p.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    p.goto(live.url("/docs"))
    # Swagger UI builds the page from the whole OpenAPI document: on a busy machine that takes over the
    # default 5 s, which is not what this test is about.
    swagger = playwright_sync.expect(p.locator(".swagger-ui .info .title"))
    swagger.to_contain_text("newsdesk", timeout=SWAGGER_MS)
    playwright_sync.expect(p.locator(".opblock-summary-path").first).to_be_visible(timeout=SWAGGER_MS)
    assert requests and all(u.startswith(live.base) or u.startswith("data:") for u in requests), requests
    assert blocked == []
