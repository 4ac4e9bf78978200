"""Shared helpers for the evaluation scripts: data loaders, the ``--data`` argument and a vector cache.

The data sets live outside the repository (``../shared/data`` relative to the repo root, see its
README.md); every loader takes that folder explicitly. Embedding ~10k texts takes minutes on two cores,
so :func:`embed_cached` keeps vectors in the temp folder keyed by a hash of the texts and the embedder
name: a second run of an evaluation starts at once, and a changed data file or model is re-embedded.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsdesk.enrich.base import Embedder, Vectors

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
CACHE_DIR = Path(tempfile.gettempdir()) / "newsdesk-eval-vectors"

AG_NEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")
BBC_CLASSES = ("business", "entertainment", "politics", "sport", "tech")


@dataclass(frozen=True, slots=True)
class Doc:
    """One labelled document of a data set: ``label`` indexes the data set's class tuple."""

    label: int
    title: str
    text: str
    name: str = ""

    @property
    def full(self) -> str:
        return f"{self.title}. {self.text}" if self.text else self.title


@dataclass(frozen=True, slots=True)
class Pair:
    """Two news texts and the SemEval-2022 Task 8 ``Overall`` score (1 = very similar … 4 = dissimilar)."""

    text1: str
    text2: str
    overall: float


def data_arg(parser: argparse.ArgumentParser) -> None:
    """Add the ``--data`` option every evaluation script shares."""
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="shared data folder (default: %(default)s)"
    )


def minilm_tokens_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--minilm-tokens``: how many tokens the default blend's MiniLM reads (issue 14's sweep of a
    cheaper MiniLM input, ``docs/embeddings.md``, "MiniLM's window and graph")."""
    from newsdesk.enrich.embed import BLEND_MINILM_TOKENS

    parser.add_argument(
        "--minilm-tokens", type=int, default=BLEND_MINILM_TOKENS, help="default: %(default)s (no cap)"
    )


def load_ag_news(data: Path) -> list[Doc]:
    """AG News test split: label column 1-4 becomes 0-3 (World, Sports, Business, Sci/Tech)."""
    with (data / "ag_news" / "test.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [Doc(int(label) - 1, _clean_ag(title), _clean_ag(text)) for label, title, text in rows]


def _clean_ag(text: str) -> str:
    # AG News escapes newlines as a backslash and HTML entities as " #36;" — undo the common ones.
    return " ".join(text.replace("\\", " ").replace(" #36;", " $").replace("#39;", "'").split())


def load_bbc(data: Path) -> list[Doc]:
    """BBC articles in a fixed order (class folder, then file name); the first line is the title."""
    docs: list[Doc] = []
    for label, cls in enumerate(BBC_CLASSES):
        for path in sorted((data / "bbc" / cls).glob("*.txt")):
            raw = path.read_bytes().decode("utf-8", errors="replace")
            title, _, body = raw.strip().partition("\n")
            docs.append(Doc(label, title.strip(), body.strip(), name=f"{cls}/{path.name}"))
    return docs


def load_semeval_english(data: Path) -> list[Pair]:
    """The English-English pairs of the SemEval-2022 Task 8 training set (161 pairs)."""
    csv.field_size_limit(sys.maxsize)
    path = data / "semeval2022-task8" / "training_set.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["lang1"] == "en" and r["lang2"] == "en"]
    return [Pair(r["text1"].strip(), r["text2"].strip(), float(r["Overall"])) for r in rows]


def embed_cached(embedder: Embedder, texts: Sequence[str], *, cache_dir: Path = CACHE_DIR) -> Vectors:
    """``embedder.embed(texts)``, cached in ``cache_dir`` under a hash of the texts and the model name."""
    digest = hashlib.sha256(embedder.name.encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8", errors="replace")).digest())
    path = cache_dir / f"{digest.hexdigest()[:24]}.npy"
    if path.exists():
        return np.load(path).astype(np.float32)
    log.info("embedding", extra={"count": len(texts), "model": embedder.name})
    vectors = embedder.embed(list(texts))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def load_default_embedder() -> Embedder:
    """The project's embedder (MiniLM-L6, offline)."""
    from newsdesk.enrich.embed import load_embedder

    return load_embedder()
