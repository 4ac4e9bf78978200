"""What keying the names sketch costs: CPU time per article of ``similarity.article_names`` unkeyed
(CRC-32) and keyed (BLAKE2b with a ``SketchKey``), and of making a stored sketch again
(``reembed.Resketcher``: the sealed text opened, sketched, saved) in a SQLite store.

Texts: both texts of every SemEval-2022 Task 8 training pair (2,566 news texts in ten languages, about
1,000 characters each). CPU time is this process's user + system time, so it stays meaningful on a
shared machine; the variants run ``--rounds`` times, interleaved, and each round's figure is printed
with the median.

    .venv/bin/python bench/names_sketch.py [--data ../shared/data] [--rounds 5] [--stored 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.similarity import cpu_seconds  # noqa: E402
from eval.common import data_arg  # noqa: E402
from eval.similarity import read_pairs  # noqa: E402
from newsdesk.enrich.similarity import SketchKey, article_names, names_to_bytes  # noqa: E402
from newsdesk.finishing import decrypt_text  # noqa: E402
from newsdesk.keys import sketch_key_of  # noqa: E402
from newsdesk.model import Article, Provider  # noqa: E402
from newsdesk.reembed import Resketcher  # noqa: E402
from newsdesk.secure import KeyRing, generate_key  # noqa: E402
from newsdesk.store import Store  # noqa: E402


def sealed_store(path: Path, ring: KeyRing, texts: list[str]) -> Store:
    """A store whose articles are sealed and carry unkeyed sketches (as before keying)."""
    store = Store.open(f"sqlite:///{path}")
    for n, text in enumerate(texts):
        box = ring.encrypt(text)
        url = f"https://news{n}.example.com/{n}"
        found = Article(
            f"Title {n}", url, url, Provider("News", "news.example.com"), secured=box.secured,
            key_id=box.key_id, published_at=datetime(2026, 12, 6, tzinfo=UTC),
        )  # fmt: skip
        article_id = store.save_article(found).id or 0
        store.save_minhash(article_id, b"\x00" * 8, names=names_to_bytes(article_names(text)))
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    data_arg(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stored", type=int, default=500, help="sealed articles sketched again per round")
    args = parser.parse_args()
    texts = [t for p in read_pairs(args.data) for t in (p.text1, p.text2)]
    ring = KeyRing({"k1": generate_key()}, "k1")
    key: SketchKey = sketch_key_of(ring)
    variants: dict[str, Callable[[], object]] = {
        "unkeyed (CRC-32)": lambda: [article_names(t) for t in texts],
        "keyed (BLAKE2b)": lambda: [article_names(t, key=key) for t in texts],
    }
    figures: dict[str, list[float]] = {name: [] for name in variants}
    figures["made again (open + sketch + save)"] = []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.rounds):
            for name, work in variants.items():
                figures[name].append(cpu_seconds(work) / len(texts))
            store = sealed_store(Path(folder) / f"r{n}.db", ring, texts[: args.stored])
            resketcher = Resketcher(store, lambda a: a.text or decrypt_text(a, ring))
            figures["made again (open + sketch + save)"].append(
                cpu_seconds(partial(resketcher.run, key)) / args.stored
            )
            store.close()
    print(f"{len(texts)} texts; {args.stored} stored articles made again; {args.rounds} interleaved rounds")
    print("| per article | median | rounds |\n|---|---:|---|")
    for name, values in figures.items():
        rounds = " / ".join(f"{v * 1e6:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values) * 1e6:.0f} µs | {rounds} µs |")


if __name__ == "__main__":
    main()
