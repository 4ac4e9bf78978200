"""The live UI in a real browser (Debian chromium via Playwright, as in ``test_browser``): with a page
open, what the desk stores or polls shows up without a reload — new cards in the review queue, a newly
published article on the front page, a source's health on the sources page."""

from __future__ import annotations

from newsdesk.model import Provider, SourceHealth, now
from tests import test_browser
from tests.test_browser import Live, playwright_sync, sign_in
from tests.test_web import _article

# test_browser's fixtures: its chromium (skips without one), the seeded live server, one tab per test
browser, live, page = test_browser.browser, test_browser.live, test_browser.page

SEEN_WITHIN_MS = 15_000  # app.js asks every 3 s; generous for a loaded two-core machine
WIRE = Provider("Harbour Wire", "harbour.example")


def _mark_page(p: object) -> None:
    """A value that a reload would lose: its survival proves the page was never reloaded."""
    p.evaluate("window.__notReloaded = true")  # type: ignore[attr-defined]


def _not_reloaded(p: object) -> bool:
    return bool(p.evaluate("window.__notReloaded === true"))  # type: ignore[attr-defined]


def test_a_new_article_appears_in_the_open_review_queue(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    sign_in(p, live)
    cards = p.locator("#queue .review-card")
    before = cards.count()
    playwright_sync.expect(cards.first).to_have_attribute("aria-current", "true")
    first_id = cards.first.get_attribute("data-id")
    _mark_page(p)
    p.wait_for_timeout(3500)  # let the page learn the current stamp first

    saved = live.nd.store.save_article(
        _article("pilot", "Port authority pilots AI for berth scheduling", WIRE, ("AI",), 0)
    )
    arrived = p.locator(f'#queue .review-card[data-id="{saved.id}"]')
    playwright_sync.expect(arrived).to_contain_text("Port authority pilots AI", timeout=SEEN_WITHIN_MS)
    assert cards.count() == before + 1 and _not_reloaded(p)
    # the editor's selection stayed where it was, and the keyboard still walks the new list
    playwright_sync.expect(p.locator(f'.review-card[data-id="{first_id}"]')).to_have_attribute(
        "aria-current", "true"
    )
    p.keyboard.press("k")
    playwright_sync.expect(arrived).to_have_attribute("aria-current", "true")


def test_front_page_and_source_health_follow_the_store(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    p.goto(live.url("/"))
    _mark_page(p)
    p.wait_for_timeout(3500)
    saved = live.nd.store.save_article(
        _article("tariffs", "Shipping lines cut surcharges after tariff deal", WIRE, ("Markets",), 0)
    )
    live.nd.editorial.publish(saved.id, actor="test", reason="")
    playwright_sync.expect(p.locator("[data-live=front]")).to_contain_text(
        "Shipping lines cut surcharges", timeout=SEEN_WITHIN_MS
    )
    assert _not_reloaded(p)

    sign_in(p, live)  # sources are for editors only
    p.goto(live.url("/sources"))
    source = live.nd.sources.list()[0]
    assert source.id is not None
    _mark_page(p)
    p.wait_for_timeout(3500)
    failing = SourceHealth(last_polled_at=now(), error_count=3, last_error="HTTP 503", last_error_kind="http")
    live.nd.store.save_health(source.id, failing)
    row = p.locator(f"#source-{source.id}")
    playwright_sync.expect(row).to_contain_text("HTTP 503", timeout=SEEN_WITHIN_MS)
    assert _not_reloaded(p)
