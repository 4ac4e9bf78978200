"""Drain the demo site's jobs with 1 and with 2 rq worker processes on PostgreSQL (workers=0: the local
executor, one `run` over every source, for comparison); print jobs/s.

Usage: NEWSDESK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
       .venv/bin/python bench/jobqueue.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine

from newsdesk.app import Newsdesk, demo_sources
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.model import now
from newsdesk.queue import connect, enqueue_due, make_queue

REDIS = "redis://127.0.0.1:6379/0"
BASE = os.environ["NEWSDESK_TEST_POSTGRES_URL"]
WORKER = (
    "import sys; from newsdesk.queue import run_worker; run_worker([sys.argv[1]], sys.argv[2], burst=True)"
)


def schema_url(schema: str) -> str:
    from urllib.parse import quote

    return f"{BASE}?options={quote(f'-csearch_path={schema}')}"


def one(site: DemoSite, workers: int) -> tuple[int, float, int]:
    schema = f"nd_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(BASE)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    qname = f"nd-bench-{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp())
    env = {
        "NEWSDESK_CONFIG": str(data / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(data),
        "NEWSDESK_DATABASE_URL": schema_url(schema),
        "NEWSDESK_ENRICH": "0",
        "NEWSDESK_ENCRYPT": "0",
        "NEWSDESK_CACHE_IMAGES": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
        "NEWSDESK_WORKERS": "1",
    }
    try:
        with Newsdesk(load_settings(env=env), resolve=site.resolve_map()) as nd:
            nd.sources.ensure(demo_sources(site.sources()))
            jobs = enqueue_due(nd, make_queue(REDIS, qname), now=now())
            started = time.perf_counter()
            if workers == 0:
                nd.run()  # baseline: the local executor, one run over every source
            else:
                procs = [
                    subprocess.Popen([sys.executable, "-c", WORKER, qname, REDIS]) for _ in range(workers)
                ]
                for p in procs:
                    p.wait()
            elapsed = time.perf_counter() - started
            from collections import Counter

            from rq.job import Job

            if workers:
                fetched = [Job.fetch(j, connection=connect(REDIS)) for j in jobs]
                by = Counter(j.worker_name for j in fetched)
                mean = sum(j.return_value()["duration_s"] for j in fetched) / len(fetched)
                print("  jobs per worker:", sorted(by.values()), f"mean job duration_s={mean:.2f}")
            return len(jobs), elapsed, nd.store.count_articles()
    finally:
        conn = connect(REDIS)
        for key in conn.scan_iter(match=f"*{qname}*"):
            conn.delete(key)
        conn.srem("rq:queues", f"rq:queue:{qname}")
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with DemoSite() as site:
        print("load average:", os.getloadavg())
        for workers in (0, 1, 2):
            for _ in range(args.rounds):
                jobs, elapsed, stored = one(site, workers)
                print(
                    f"workers={workers} jobs={jobs} drained_s={elapsed:.2f} jobs_per_s={jobs / elapsed:.2f} articles={stored}"
                )


if __name__ == "__main__":
    main()
