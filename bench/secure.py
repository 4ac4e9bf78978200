"""Benchmark: cost of sealing and opening one record's ``secured`` payload.

Prints µs per encrypt and per decrypt (median of repeated batches) for a typical 5 KB article text and a
100 KB long read. Run: ``.venv/bin/python bench/secure.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import statistics
import time
from collections.abc import Callable

from newsdesk.secure import KeyRing, generate_key

SIZES = {"5 KB": 5_000, "100 KB": 100_000}  # a typical article text; a long read
BATCH = 200  # calls per timed batch
WORDS = ["fintech", "cluster", "Hong", "Kong", "raised", "capital", "—", "intégral", "香港"]


def _text(size: int) -> str:
    """About ``size`` characters of mixed-script prose (accents, CJK, dashes: multi-byte UTF-8)."""
    sentence = " ".join(WORDS)
    return (sentence * (size // len(sentence) + 1))[:size]


def _per_call_us(fn: Callable[[], object], repeat: int) -> float:
    batches = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(BATCH):
            fn()
        batches.append((time.perf_counter() - start) / BATCH * 1e6)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="timed batches per figure (median reported)")
    args = parser.parse_args()
    ring = KeyRing.from_secret(base64.b64encode(generate_key()).decode())
    print(f"{'text':>8} {'UTF-8 bytes':>12} {'encrypt µs':>12} {'decrypt µs':>12} {'MB/s enc':>10}")
    for label, size in SIZES.items():
        text = _text(size)
        sealed = ring.encrypt(text)
        enc = _per_call_us(functools.partial(ring.encrypt, text), args.repeat)
        dec = _per_call_us(functools.partial(ring.decrypt, sealed.secured, sealed.key_id), args.repeat)
        size_bytes = len(text.encode())
        print(f"{label:>8} {size_bytes:>12,} {enc:>12.1f} {dec:>12.1f} {size_bytes / enc:>10.0f}")


if __name__ == "__main__":
    main()
