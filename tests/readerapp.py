"""What the reader-app API tests share: a desk with sources and published and unpublished records, users
with app passwords, and the whole app served by uvicorn on loopback (real HTTP, real SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Image, Provider, Source
from tests.conftest import quiet_env

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
START_TIMEOUT_S = 20.0
TOPICS = (("AI in Finance", "AI"), ("Payments", "Fintech"), ("AI",), ())
"""Records cycle through these topic lists: a child topic with its parent, another branch, a parent
alone, and none (the catch-all feed)."""


@dataclass
class World:
    nd: Newsdesk
    base: str
    published: list[int]
    hidden: list[int]  # stored but not published: no reader app may ever see these
    sources: list[int]
    passwords: dict[str, str]  # user name -> app password

    def url(self, path: str) -> str:
        return self.base + path


def make_desk(tmp_path: Path, database_url: str = "", **settings: str) -> Newsdesk:
    env = quiet_env(
        tmp_path / "data", database_url, **{f"NEWSDESK_{k.upper()}": v for k, v in settings.items()}
    )
    return Newsdesk(load_settings(env=env, base_dir=tmp_path))


def seed(nd: Newsdesk, count: int = 12) -> tuple[list[int], list[int], list[int]]:
    """Two sources and ``count`` records; every third one stays unpublished."""
    sources = [
        nd.store.add_source(Source(url=f"https://feeds{n}.example/rss?key=secret{n}", name=f"Feed {n}")).id
        or 0
        for n in (1, 2)
    ]
    published, hidden = [], []
    for n in range(count):
        article = Article(
            title=f"Record {n} <b>bold</b>",
            web_url=f"https://news.example/story/{n}",
            original_url=f"https://news.example/story/{n}",
            provider=Provider("News Example", "news.example"),
            excerpt=f"Excerpt {n} & <script>alert(1)</script>",
            published_at=T0 + timedelta(hours=n),
            topics=TOPICS[n % len(TOPICS)],
            source_id=sources[n % 2],
            images=(Image(f"https://news.example/{n}.jpg"),),
        )
        saved = nd.store.save_article(article).id
        if n % 3 == 2:
            hidden.append(saved)
        else:
            nd.store.set_review_state(saved, "published")
            published.append(saved)
    return published, hidden, sources


def add_user(nd: Newsdesk, name: str, role: str = "reader") -> str:
    readers = nd.readers
    readers.add_user(name, role)
    return readers.new_app_password(name, "test")[1]


@contextmanager
def serve(nd: Newsdesk) -> Iterator[str]:
    """The whole app on 127.0.0.1 (port 0) in a daemon thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(nd), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


@contextmanager
def world(tmp_path: Path, database_url: str = "", **settings: str) -> Iterator[World]:
    nd = make_desk(tmp_path, database_url, **settings)
    try:
        published, hidden, sources = seed(nd)
        passwords = {
            "ana": add_user(nd, "ana"),
            "bo": add_user(nd, "bo"),
            "eve": add_user(nd, "eve", "editor"),
        }
        with serve(nd) as base:
            yield World(nd, base, published, hidden, sources, passwords)
    finally:
        nd.close()
