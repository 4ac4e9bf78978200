"""Two processes finishing at once (the desk and a ``newsdesk run`` from cron, or two queue workers) on one
store: the ``finished_through`` mark only ever rises, a saved search alerts once per article however
the finishers interleave (issue 13), and one enricher at a time folds each article into a story once. Real SQLite and PostgreSQL, a separate engine per finisher (as
separate processes have), started together at a barrier."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Provider
from newsdesk.store import Store
from newsdesk.store.operations import FINISHED_THROUGH
from tests.conftest import quiet_env

FINISHERS = 4
ROUNDS = 6
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def together(work: list[Callable[[], Any]]) -> list[BaseException]:
    """Run each callable on its own thread, released at once; the exceptions they raised."""
    barrier = threading.Barrier(len(work))
    failures: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as error:  # handed back to the test to assert on
            failures.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


@pytest.fixture
def stores(store_url: str) -> Iterator[list[Store]]:
    opened = [Store.open(store_url) for _ in range(FINISHERS)]
    yield opened
    for store in opened:
        store.close()


def test_the_mark_only_rises_when_finishers_race(stores: list[Store]) -> None:
    first = stores[0]
    first.mark_finished_through(5)
    assert first.get_meta(FINISHED_THROUGH) == 5
    for round_ in range(ROUNDS):
        top = 100 * (round_ + 1)
        marks = [top - 10 * i for i in range(FINISHERS)]  # the highest comes first, the rest would undo it
        jobs = [lambda s=s, m=m: s.mark_finished_through(m) for s, m in zip(stores, marks, strict=True)]
        assert together(jobs) == []
        assert first.get_meta(FINISHED_THROUGH) == top
    first.mark_finished_through(3)  # an older batch finishing late
    assert first.get_meta(FINISHED_THROUGH) == 100 * ROUNDS


def _desk(root: Path, url: str) -> Newsdesk:
    return Newsdesk(load_settings(env=quiet_env(root / "data", url), base_dir=root))


def _article(nd: Newsdesk, n: int) -> int:
    url = f"https://a.example.com/{n}"
    article = Article(
        title=f"AI story {n}", web_url=url, original_url=url, provider=Provider("A", "a.example.com"),
        published_at=T0, excerpt=f"About AI {n}.", quality=50, heat=10, topics=("AI",), language="en",
    )  # fmt: skip
    saved = nd.store.save_article(article).id
    assert saved is not None
    return saved


def test_two_finishers_at_once_alert_once_per_article(tmp_path: Path, store_url: str) -> None:
    desks = [_desk(tmp_path / f"d{i}", store_url) for i in range(2)]
    try:
        one = desks[0]
        one.readers.add_user("eve", "editor")
        hook, _ = one.webhooks.add("https://hooks.example.com/in", ["alert"])
        search = one.alerts.save("eve", "AI", {"topics": ["AI"]})
        expected: set[int] = set()
        for batch in range(3):
            expected |= {_article(one, 10 * batch + n) for n in range(5)}
            assert together([lambda nd=nd: asyncio.run(nd.finish_pending()) for nd in desks]) == []
        alerts = one.alerts.alerts(search_id=search)
        assert sorted(a["article_id"] for a in alerts) == sorted(expected)  # each once, none missing
        deliveries = one.webhooks.deliveries(webhook_id=hook)
        assert len(deliveries) == len(expected)
        assert one.store.get_meta(FINISHED_THROUGH) == max(expected)
        assert [e["message"] for e in one.store.events() if "alert" in e["message"]] == []  # no stage failed
    finally:
        for nd in desks:
            nd.close()


def test_one_process_at_a_time_holds_the_enrichment_lock(store_url: str) -> None:
    holder, waiter = Store.open(store_url), Store.open(store_url)  # two engines, as two processes have
    held = threading.Event()

    def wait_for_it() -> None:
        with waiter.one_at_a_time("enrich"):
            held.set()

    try:
        with holder.one_at_a_time("enrich"):
            thread = threading.Thread(target=wait_for_it)
            thread.start()
            assert not held.wait(0.5)
        assert held.wait(10)
        thread.join(timeout=10)
    finally:
        holder.close()
        waiter.close()


def test_two_enrichers_at_once_fold_each_article_into_one_story(tmp_path: Path, store_url: str) -> None:
    env = quiet_env(tmp_path / "data", store_url, NEWSDESK_ENRICH="1", NEWSDESK_EMBED_MODEL="bundled-minilm")
    desks = [Newsdesk(load_settings(env=env, base_dir=tmp_path)) for _ in range(2)]
    try:
        one = desks[0]
        ids = [_article(one, n) for n in range(6)]
        one.enricher.embedder.embed(["the graph built once, before the race"])
        assert together([lambda nd=nd: asyncio.run(nd.finish_pending()) for nd in desks]) == []
        assert one.store.unenriched_among(ids) == []
        articles = one.store.get_articles(ids)
        stories = {a.story_id for a in articles.values()}
        assert None not in stories
        sizes = {s.id: s.size for s in one.store.list_stories(limit=100)}
        assert set(sizes) == stories  # no story without its articles (a second enricher's copy)
        assert sum(sizes.values()) == len(ids)  # each article counted in one story, once
    finally:
        for nd in desks:
            nd.close()
