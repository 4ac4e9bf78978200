"""The store's connection pool on PostgreSQL: sized for a server's threads, pinged only after idling.

Issue 14's goal 4 on PostgreSQL (docs/benchmarks.md, "PostgreSQL (2026-12-07, h1)"): with SQLAlchemy's
defaults a server process closed every connection past the fifth on return (a new backend several
times a second at 16 clients) and pinged the database before each store call. Skipped without
NEWSDESK_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import create_engine, event, text

from newsdesk.model import Source
from newsdesk.store import Store
from newsdesk.store import store as store_module

THREADS = 12  # more store calls at once than SQLAlchemy's default pool of 5 keeps


def _count_pings(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings = [0]
    real = store.engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_connection))

    monkeypatch.setattr(store.engine.dialect, "do_ping", counting)
    return pings


def test_a_connection_used_a_moment_ago_is_not_pinged_one_left_idle_is(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(postgres_url)
    try:
        pings = _count_pings(store, monkeypatch)
        for _ in range(10):
            store.change_stamp()
        assert pings[0] == 0
        monkeypatch.setattr(store_module, "PING_IDLE_S", 0.0)  # every pooled connection now counts as idle
        store.change_stamp()
        assert pings[0] == 1
    finally:
        store.close()


def test_a_pooled_connection_the_server_closed_is_replaced_not_an_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(postgres_url)
    admin = create_engine(postgres_url)
    try:
        with store.engine.connect() as c:
            backend = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as c:  # as a server restart or an idle timeout would
            assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend}).scalar_one()
        monkeypatch.setattr(store_module, "PING_IDLE_S", 0.0)
        assert store.change_stamp() is not None
        with store.engine.connect() as c:
            assert c.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        admin.dispose()
        store.close()


def test_store_calls_at_once_reuse_their_connections(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    opened = [0]
    event.listen(store.engine.pool, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))
    barrier = threading.Barrier(THREADS)

    def call() -> None:
        with store.engine.connect() as c:  # every thread holds its connection until all have one
            c.execute(text("SELECT 1"))
            barrier.wait(timeout=30)

    def round_of_calls() -> None:
        threads = [threading.Thread(target=call) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    try:
        round_of_calls()
        first = opened[0]
        round_of_calls()
        round_of_calls()
        assert 0 < first <= THREADS and opened[0] == first  # the first round's kept: none opened again
    finally:
        store.close()


def test_a_read_holds_no_transaction_open_on_the_server(postgres_url: str) -> None:
    """Reads run in autocommit: no BEGIN before the statement, nothing for the pool to roll back after
    it (two round trips of three; at READ COMMITTED each statement reads its own snapshot anyway).
    Writes still run in one transaction."""
    store = Store.open(postgres_url)
    states: list[tuple[str, Any]] = []

    def after(c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        states.append((statement.split()[0], c.connection.dbapi_connection.info.transaction_status))

    event.listen(store.engine, "after_cursor_execute", after)
    try:
        store.change_stamp()
        store.existing_article_ids([1, 2])
        assert states and all(state == pq.TransactionStatus.IDLE for _, state in states)
        states.clear()
        store.add_source(Source(url="https://example.com/feed.xml"))
        assert any(state == pq.TransactionStatus.INTRANS for kind, state in states if kind == "INSERT")
    finally:
        store.close()
