"""An editor's reading tools in a real browser (the tests/test_browser.py setup: Debian's chromium,
headless, Playwright, uvicorn on loopback): filter the queue, tick a selection, publish it in bulk and
undo it; star a card and show only starred ones."""

from __future__ import annotations

from tests import test_browser
from tests.test_browser import Live, playwright_sync, sign_in

# The browser, the served seed and a fresh tab: test_browser.py's fixtures, shared (and skipped the
# same way when chromium is missing).
browser = test_browser.browser
live = test_browser.live
page = test_browser.page


def test_filter_then_bulk_publish_then_undo(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    sign_in(p, live)
    p.select_option("#filters select[name=topic]", "Rates")
    p.click("#filters button[type=submit]")
    p.wait_for_url("**/review?*topic=Rates*")
    cards = p.locator(".review-card")
    rates = {live.ids["rates"], live.ids["rates2"]}
    playwright_sync.expect(cards).to_have_count(2)
    assert {int(cards.nth(i).get_attribute("data-id") or 0) for i in range(2)} == rates
    playwright_sync.expect(cards.nth(0)).to_have_attribute("aria-current", "true")
    p.keyboard.press("x")  # by keyboard: x ticks the selected card …
    playwright_sync.expect(cards.nth(0).locator("input.pick")).to_be_checked()
    cards.nth(1).locator("input.pick").check()  # … and by mouse
    p.click("#bulk-publish")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Published 2 articles")
    assert all(live.nd.store.get_article(i).published for i in rates)
    assert "topic=Rates" in p.url  # back on the filtered queue
    playwright_sync.expect(cards).to_have_count(0)  # decided: no longer pending
    p.click("#undo-form button")
    playwright_sync.expect(p.locator("#flash")).to_contain_text("Undone")
    playwright_sync.expect(cards).to_have_count(2)
    for article_id in rates:
        assert live.nd.store.get_article(article_id).review_state == "pending"
        log = [(d["action"], d["actor"]) for d in live.nd.store.decisions(article_id)]
        assert log == [("publish", "web:maria"), ("undo", "web:maria")]  # both kept
    playwright_sync.expect(p.locator("#undo-form")).to_have_count(0)  # undone once only


def test_star_a_card_and_show_only_starred(page: object, live: Live) -> None:
    p: playwright_sync.Page = page  # type: ignore[assignment]
    sign_in(p, live)
    order = [int(i or 0) for i in p.locator(".review-card").evaluate_all("cs => cs.map(c => c.dataset.id)")]
    for _ in range(order.index(live.ids["ai"])):
        p.keyboard.press("j")
    playwright_sync.expect(p.locator(f"#card-{live.ids['ai']}")).to_have_attribute("aria-current", "true")
    p.keyboard.press("s")  # the star key submits the card's own star button
    playwright_sync.expect(p.locator(f"#card-{live.ids['ai']} button.star")).to_have_attribute(
        "aria-pressed", "true"
    )
    p.select_option("#filters select[name=show]", "starred")
    p.click("#filters button[type=submit]")
    p.wait_for_url("**/review?*show=starred*")
    playwright_sync.expect(p.locator(".review-card")).to_have_count(1)
    playwright_sync.expect(p.locator(".review-card")).to_contain_text("Banks put AI models under audit")
