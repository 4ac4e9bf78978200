"""The demo world's timeline: follow-ups that continue its stories are released while the site serves,
feeds gain them without changing what was already served, and a running desk stores them with no
command typed (real loopback HTTP, real store, the real Desk thread)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from newsdesk.app import Newsdesk, demo_sources
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.demo.timeline import Timeline, load_timeline, released_docs
from newsdesk.demo.world import CONTENT_DIR, _read_yaml, build_world
from newsdesk.desk import Desk, OutputTargets
from tests.conftest import quiet_env

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_GAP_S = 15.0  # "a new article every few seconds": no silence longer than this while it runs
STORED_WITHIN_S = 60.0  # loaded two-core machine; the desk polls every 1-2 s in this test


def base_docs() -> tuple[object, dict[str, object]]:
    docs = {p.stem: _read_yaml(p) for p in sorted(CONTENT_DIR.glob("*.yaml"))}
    return docs.pop("providers"), docs


def test_follow_ups_continue_existing_stories_every_few_seconds() -> None:
    entries = load_timeline()
    providers, docs = base_docs()
    before = build_world(NOW, providers, docs)
    after = build_world(NOW, providers, released_docs(docs, entries, entries[-1].after_s))
    new = [a for a in after.articles if a.id not in {b.id for b in before.articles}]
    assert len(new) == len(entries) >= 12
    stories = {a.story for a in before.articles if a.story}
    assert all(a.story in stories for a in new), "a follow-up must continue a story of the world"
    assert all(a.published_at > NOW and a.word_count >= 80 for a in new)
    assert len({a.provider for a in new}) >= 6
    releases = [0.0, *(e.after_s for e in entries)]
    assert max(b - a for a, b in itertools.pairwise(releases)) <= MAX_GAP_S
    # nothing already served moves: same URLs, same dates
    kept = {a.id: (a.url, a.published_at) for a in after.articles}
    assert all(kept[a.id] == (a.url, a.published_at) for a in before.articles)
    assert released_docs(docs, entries, 0.0) == {k: list(v or ()) for k, v in docs.items()}  # type: ignore[call-overload]


def _get(site: DemoSite, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    parts = urlsplit(url)
    return httpx.get(
        f"http://127.0.0.1:{site.port}{parts.path}", headers={"Host": parts.netloc, **(headers or {})}
    )


def test_a_release_changes_only_the_feeds_that_gain_an_item() -> None:
    entries = load_timeline()
    with DemoSite(now=NOW) as site:
        first = entries[0]
        gaining = site.world.provider(first.provider)
        quiet = next(p for p in site.world.providers if p.key not in {e.provider for e in entries[:1]})
        old = {p.key: _get(site, p.feed_url) for p in (gaining, quiet)}
        page = site.articles()[0]
        old_page = _get(site, page.url)
        Timeline(site.world.now, site.replace_world, entries=entries).release(1)

        fresh = _get(site, gaining.feed_url, {"If-None-Match": old[gaining.key].headers["etag"]})
        assert fresh.status_code == 200 and first.item["title"] in fresh.text
        assert (
            _get(site, quiet.feed_url, {"If-None-Match": old[quiet.key].headers["etag"]}).status_code == 304
        )
        assert _get(site, page.url, {"If-None-Match": old_page.headers["etag"]}).status_code == 304
        follow_up = next(a for a in site.articles() if a.id == first.item["id"])
        assert _get(site, follow_up.url).status_code == 200


@pytest.fixture
def demo_desk(tmp_path: Path) -> Iterator[tuple[Newsdesk, DemoSite]]:
    with DemoSite() as site:
        env = quiet_env(
            tmp_path / "data",
            NEWSDESK_WORKERS="1",
            NEWSDESK_POLL_MIN_INTERVAL="1",
            NEWSDESK_POLL_MAX_INTERVAL="2",
        )
        nd = Newsdesk(load_settings(env=env, base_dir=tmp_path), resolve=site.resolve_map())
        nd.init()
        nd.sources.ensure(demo_sources(site.sources()))
        yield nd, site
        nd.close()


def test_a_running_desk_stores_the_follow_ups_as_they_are_released(
    demo_desk: tuple[Newsdesk, DemoSite],
) -> None:
    nd, site = demo_desk
    entries = load_timeline()[:2]
    desk = Desk(nd, OutputTargets(), check_s=1.0)
    desk.start()
    timeline = Timeline(site.world.now, site.replace_world, entries=entries, speed=4.0)
    try:
        _wait(lambda: desk.status.cycles >= 1, "the first cycle over the demo world")
        known, stamp = nd.store.article_total(), nd.store.change_stamp()
        timeline.start()
        _wait(lambda: timeline.released == len(entries), "the releases")
        urls = [a.url for a in site.articles() if a.id in {e.item["id"] for e in entries}]
        _wait(lambda: all(_stored(nd, url) for url in urls), "both follow-ups in the store")
        assert len(urls) == 2 and nd.store.article_total() == known + len(urls)
        assert nd.store.change_stamp() != stamp
    finally:
        timeline.stop()
        desk.stop()


def _stored(nd: Newsdesk, url: str) -> bool:
    return nd.store.find_article(url) is not None


def _wait(probe: object, what: str) -> None:
    deadline = time.monotonic() + STORED_WITHIN_S
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
