"""``bench/api.py --database-url``: the same benchmark over a PostgreSQL store.

The URL names a scratch database (``postgresql+psycopg://postgres@127.0.0.1:5432/bench_api``): the
bench drops and creates it for each run — never a database it did not make (``test``, ``postgres`` and
the templates are refused). Seeding goes through the store's own tables as on SQLite; the store's
migrations make the GIN index over ``to_tsvector('english', search_text)`` that production searches, and
it is filled as the rows go in. After seeding: the id sequence moved past the seeded ids (they are given
explicitly, so the writer's and the desk's saves would otherwise collide with them) and ``VACUUM
ANALYZE``, as autovacuum would have done long before a live store reached 100k articles.

With ``--store`` the seeded database is kept as ``<name>_seed_<N>`` and each run copies it
(``CREATE DATABASE … TEMPLATE``), as SQLite's file is copied.

PostgreSQL runs on the same two cores, so its CPU is the server's too: :func:`cpu_seconds` sums user +
system CPU of the postgres processes that serve this database (backends whose title names it) and of
its background processes (checkpointer, WAL writer, autovacuum), read from /proc with psutil.
"""

from __future__ import annotations

import time

import psutil
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

REFUSED = {"postgres", "test", "template0", "template1"}
BACKGROUND = ("checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication")


def database_name(url: str) -> str:
    name = make_url(url).database or ""
    if not name or name in REFUSED:
        raise SystemExit(f"--database-url must name a scratch database of its own, not {name or 'none'}")
    return name


def _admin(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def exists(url: str, name: str) -> bool:
    engine = _admin(url)
    with engine.connect() as c:
        found = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    engine.dispose()
    return found is not None


def create(url: str, name: str, template: str | None = None) -> None:
    """(Re)create database ``name``, empty or as a copy of ``template``."""
    engine = _admin(url)
    with engine.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    engine.dispose()


def drop(url: str, name: str) -> None:
    engine = _admin(url)
    with engine.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def kept_seed(url: str, prefix: str) -> str:
    """The kept seed's database for this tree's schema: ``<prefix>_r<revision>``. When only a seed of
    another revision is kept, it is copied and migrated (faster than seeding again, and a desk's seed
    holds 100k vectors)."""
    from newsdesk.store import Store
    from newsdesk.store.migrate import HEAD

    name = f"{prefix}_r{HEAD}"
    if exists(url, name):
        return name
    engine = _admin(url)
    with engine.connect() as c:
        query = text("SELECT datname FROM pg_database WHERE datname LIKE :p ORDER BY datname DESC")
        older = [str(n) for (n,) in c.execute(query, {"p": f"{prefix}_r%"}) if str(n) < name]
    engine.dispose()
    if older:
        create(url, name, template=older[0])
        started = time.perf_counter()
        Store.open(with_database(url, name)).close()
        print(f"migrated the kept seed {older[0]} to {name} in {time.perf_counter() - started:.1f} s")
        after_seed(with_database(url, name))
    return name


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def after_seed(url: str) -> None:
    """The id sequences past the explicit ids, then the planner's statistics (autovacuum's work)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('articles', 'id'), (SELECT max(id) FROM articles))"
        )
        c.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def cpu_seconds(name: str) -> float:
    """User + system CPU so far of the postgres processes that work for database ``name``: its live
    backends and the server's background processes, plus every backend the server has reaped (the
    postmaster's children's times) — a connection a pool closes takes its backend's CPU with it, and
    a pool that closes connections under load is what this must not hide. A reaped backend of another
    database counts too: run nothing else on the server meanwhile. The postmaster's own CPU (a fork
    per new connection) is in."""
    total = 0.0
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = p.info["cpu_times"]
        if p.info["name"] != "postgres" or not p.info["cmdline"] or times is None:
            continue
        title = " ".join(p.info["cmdline"])
        if not title.startswith("postgres:"):  # the postmaster: its forks, and the backends it reaped
            total += times.user + times.system + times.children_user + times.children_system
        elif name in title.split() or any(b in title for b in BACKGROUND):
            total += times.user + times.system
    return total
