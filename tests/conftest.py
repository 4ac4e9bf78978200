"""Shared fixtures: a real store on SQLite (always) and PostgreSQL (when NEWSDESK_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine

from newsdesk.store import Store

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("NEWSDESK_TEST_POSTGRES_URL", "")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def postgres_schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_postgres_schema(prefix: str = "nd_test") -> Iterator[str]:
    """A URL into a new schema of the test PostgreSQL, dropped on exit; skips when none is configured."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set NEWSDESK_TEST_POSTGRES_URL (.ci/run does)")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def quiet_env(data_dir: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    """Settings for a test run: its own data dir, no settings file, no politeness delay, ingest only
    (enrichment, sealing and images off unless ``extra`` turns them on)."""
    return {
        "NEWSDESK_CONFIG": str(data_dir / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_DATABASE_URL": database_url,
        "NEWSDESK_ENRICH": "0",
        "NEWSDESK_ENCRYPT": "0",
        "NEWSDESK_CACHE_IMAGES": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
    } | extra


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL, dropped afterwards."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'newsdesk.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    try:
        yield opened
    finally:
        opened.close()


# Modules whose tests read whole corpora, run evaluations or build the demo world: `make test-fast` leaves them
# out (`-m "not slow"`); `make test` and CI run everything.
SLOW_MODULES = frozenset({"test_eval_gates", "test_feed_corpus", "test_corpus_sources", "test_demo_site"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
