"""With encryption on, the full text is never written to the database in the clear (issue 11, item 6).

Ingestion seals each text before its row is written. The proof is a real run in a subprocess, killed
with SIGKILL once a batch of articles is stored (``PAGE_BATCH`` pages: the ingestor holds fewer for the
next insert) while the other pages hang on a slow loopback server: the
raw bytes of the SQLite file and its WAL must hold none of the article sentences, although the full-text
index is asked to include the text. The next run then finishes the job. A bad or missing key refuses the
run before anything is fetched or stored.
"""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import Settings, load_settings
from newsdesk.errors import CryptoError
from newsdesk.finishing import decrypt_text, seal_texts
from newsdesk.ingestor import PAGE_BATCH
from newsdesk.model import Source
from newsdesk.secure import KeyRing, generate_key
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply, Seen

FAST_PAGES = PAGE_BATCH  # answered at once in the first run: one batch, written once they are decided
PAGES = FAST_PAGES + 6  # the rest hang until the run is killed
HANG_S = 12.0  # below the 15 s read timeout: the run is killed long before, never times out
WAIT_S = 90.0  # for the subprocess to start its pool, parse the feed and store the fast pages


def secret_sentence(n: int) -> str:
    """A sentence deep in page ``n`` (third paragraph, well past the excerpt)."""
    return f"Auditor Quentin Marlowe signed ledger zebra-{n} on a foggy Tuesday in the harbour office."


def page_html(n: int) -> str:
    lead = f"Story {n} opens with the council budget, its revenue forecast and the reserve it keeps. " * 4
    middle = f"Officials in story {n} defended the spending plan line by line at a long evening session. " * 4
    body = f"<p>{lead}</p><p>{middle}</p><p>{secret_sentence(n)} {middle}</p>"
    return f"<html><head><title>Story {n}</title></head><body><article>{body}</article></body></html>"


def feed_xml(base: str) -> bytes:
    items = "".join(
        f"<item><title>Story {n}</title><link>{base}/news/{n}</link><description>Brief {n}.</description></item>"
        for n in range(PAGES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    )


@pytest.fixture
def server() -> Iterator[tuple[LoopbackServer, threading.Event]]:
    """The feed and its pages; while ``hang`` is set, the pages past the first ``FAST_PAGES`` hang."""
    hang = threading.Event()

    def page(n: int) -> Callable[[Seen], Reply]:
        def reply(seen: Seen) -> Reply:
            slow = hang.is_set() and n >= FAST_PAGES
            return Reply(body=page_html(n).encode(), delay=HANG_S if slow else 0.0)

        return reply

    with LoopbackServer() as srv:
        srv.route("/feed.xml", Reply(body=feed_xml(srv.base_url), content_type="application/rss+xml"))
        for n in range(PAGES):
            srv.route(f"/news/{n}", page(n))
        yield srv, hang


def sealed_env(data_dir: Path, key: str, **extra: str) -> dict[str, str]:
    return quiet_env(
        data_dir,
        f"sqlite:///{data_dir / 'newsdesk.db'}",
        NEWSDESK_ENCRYPT="1",
        NEWSDESK_SECRET_KEY=key,
        NEWSDESK_INDEX_FULL_TEXT="1",  # asked for, yet the index must not get the clear text either
        NEWSDESK_WORKERS="1",
        **extra,
    )


def settings_for(env: dict[str, str], data_dir: Path) -> Settings:
    return load_settings(env=env, base_dir=data_dir)


def raw_database_bytes(data_dir: Path) -> bytes:
    """The SQLite file, its WAL and shared-memory file, as bytes on disk."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("newsdesk.db*")))


def stored_count(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'newsdesk.db'}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])


def run_until_killed(env: dict[str, str], data_dir: Path, *, stored: int) -> None:
    """``newsdesk run`` in a subprocess, SIGKILLed once ``stored`` articles are committed."""
    child = subprocess.Popen(
        [sys.executable, "-m", "newsdesk", "run", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its process pool goes down with it (killpg below)
    )
    deadline = time.monotonic() + WAIT_S
    try:
        while stored_count(data_dir) < stored:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the run stored nothing in time"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


def test_a_run_killed_mid_way_leaves_no_clear_text_and_the_next_run_finishes(
    tmp_path: Path, server: tuple[LoopbackServer, threading.Event]
) -> None:
    srv, hang = server
    key = base64.b64encode(generate_key()).decode()
    env = sealed_env(tmp_path, key)
    with Newsdesk(settings_for(env, tmp_path)) as nd:
        nd.sources.add(Source(srv.url("/feed.xml"), allow_loopback=True))

    hang.set()
    run_until_killed(env, tmp_path, stored=FAST_PAGES)
    raw = raw_database_bytes(tmp_path)
    assert b"Story 0 opens with the council budget" in raw  # the excerpt: rows reached the files scanned
    assert not [n for n in range(PAGES) if secret_sentence(n).encode() in raw]
    assert b"Auditor Quentin Marlowe" not in raw

    hang.clear()
    with Newsdesk(settings_for(env, tmp_path)) as nd:
        summary = nd.run()
        assert summary.new == PAGES - FAST_PAGES and not summary.errors, summary.as_dict()
        articles = list(nd.store.iter_articles())
        ring = KeyRing.from_secret(key)
        assert len(articles) == PAGES
        for article in articles:
            assert not article.text and article.secured and article.key_id == ring.active_id
            assert secret_sentence(int(article.title.split()[-1])) in decrypt_text(article, ring)
    assert b"Auditor Quentin Marlowe" not in raw_database_bytes(tmp_path)


@pytest.mark.parametrize("key", ["not base64 at all!", ""], ids=["bad-key", "missing-key"])
def test_encryption_without_a_usable_key_refuses_to_ingest(
    tmp_path: Path, server: tuple[LoopbackServer, threading.Event], key: str
) -> None:
    """Encryption on and no usable key (``""``: no secret and no key file): the run raises before a
    single request, and the store holds nothing, rather than keeping texts in the clear for later."""
    srv, _ = server
    with Newsdesk(settings_for(sealed_env(tmp_path, key), tmp_path)) as nd:
        nd.sources.add(Source(srv.url("/feed.xml"), allow_loopback=True))
        with pytest.raises(CryptoError):
            nd.run()
        assert nd.store.count_articles() == 0
    assert srv.requests == []


def test_the_seal_stage_seals_clear_texts_left_by_an_older_version(tmp_path: Path) -> None:
    """Rows an older version stored in the clear (it sealed only after enrichment) are found through
    the partial index and sealed; rows already sealed are left as they are."""
    from newsdesk.model import Article, Provider
    from newsdesk.store import Store

    ring = KeyRing.from_secret(base64.b64encode(generate_key()).decode())
    store = Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        for n in range(3):
            url = f"https://old.example/{n}"
            text = secret_sentence(n)
            article = Article(title=f"Old {n}", web_url=url, original_url=url, provider=Provider("Old", "old.example"),
                              text=text)  # fmt: skip
            if n == 2:
                box = ring.encrypt(text)
                article = article.replace(text="", secured=box.secured, key_id=box.key_id)
            store.save_article(article)
        kept = store.find_article("https://old.example/2")
        assert seal_texts(store, ring) == {"sealed": 2}
        assert list(store.iter_clear_texts()) == []
        assert store.find_article("https://old.example/2") == kept
        for n in range(3):
            found = store.find_article(f"https://old.example/{n}")
            assert found is not None and decrypt_text(found, ring) == secret_sentence(n)
        assert seal_texts(store, ring) == {"sealed": 0}
    finally:
        store.close()


def test_publish_rules_read_the_sealed_text(tmp_path: Path) -> None:
    """A rule on ``words`` judges a sealed article by its real text (the row holds none in the clear)."""
    from newsdesk.finishing import apply_rules
    from newsdesk.model import Article, Provider, ReviewState, now
    from newsdesk.publish.rules import parse_rules
    from newsdesk.store import Store

    ring = KeyRing.from_secret(base64.b64encode(generate_key()).decode())
    rules = parse_rules(["publish: words >= 40"])
    store = Store.open(f"sqlite:///{tmp_path / 'rules.db'}")
    try:
        box = ring.encrypt(" ".join(f"word{i}" for i in range(60)))
        url = "https://sealed.example/long"
        saved = store.save_article(
            Article(
                title="Long",
                web_url=url,
                original_url=url,
                provider=Provider("S", "sealed.example"),
                secured=box.secured,
                key_id=box.key_id,
            )
        )
        assert apply_rules(store, rules, [saved.id], now()) == {"published_by_rule": 0, "rejected_by_rule": 0}
        assert apply_rules(store, rules, [saved.id], now(), ring=ring)["published_by_rule"] == 1
        stored = store.get_article(saved.id)
        assert stored.review_state is ReviewState.PUBLISHED and stored.text == ""  # nothing written in clear
    finally:
        store.close()
