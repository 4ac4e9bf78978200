"""What an editor's publish costs with one webhook subscribed: the review state's compare-and-set, the
decision log entry and the queued webhook delivery (since the outbox, one transaction for all three).

A fresh SQLite store with ``--articles`` pending articles and one webhook for ``publish``; publishes
each through ``nd.editorial.publish`` and prints the CPU time (user + sys of this process) per
decision, then checks one delivery was queued per decision. No network: nothing is delivered. Usage::

    .venv/bin/python bench/decisions.py [--articles 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Provider

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime + children.ru_utime + children.ru_stime


def one_round(root: Path, articles: int) -> float:
    """CPU milliseconds per publish over ``articles`` decisions in a fresh store."""
    env = {"NEWSDESK_CONFIG": str(root / "absent.toml"), "NEWSDESK_DATA_DIR": str(root / "data")}
    nd = Newsdesk(load_settings(env=env, base_dir=root))
    try:
        nd.webhooks.add("https://hooks.example.com/in", ["publish"])
        ids = []
        for n in range(articles):
            url = f"https://a.example.com/{n}"
            article = Article(title=f"Story {n}", web_url=url, original_url=url,
                              provider=Provider("A", "a.example.com"), published_at=T0)  # fmt: skip
            ids.append(nd.store.save_article(article).id or 0)
        started = cpu_s()
        for article_id in ids:
            nd.editorial.publish(article_id, actor="bench")
        spent = cpu_s() - started
        queued = len(nd.webhooks.deliveries(limit=articles + 1))
        assert queued == articles, f"{queued} deliveries queued for {articles} decisions"
        return spent / articles * 1000
    finally:
        nd.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for round_no in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            per = one_round(Path(folder), args.articles)
        print(f"round {round_no + 1}: {per:.2f} ms CPU per publish ({args.articles} decisions, 1 webhook)")


if __name__ == "__main__":
    main()
