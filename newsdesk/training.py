"""The supervised topic model, the facade's ``nd.training``: trained from a labelled CSV plus every topic
correction editors made (their decisions are stored for exactly this)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NewsdeskError
from .model import Article

if TYPE_CHECKING:
    from .app import Newsdesk


class Training:
    """Training the models that learn from editors (the embedding model and numpy load on use)."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def train_topics(self, path: Path) -> dict[str, Any]:
        """Train the supervised topic model from a labelled CSV (``title,text,topics`` with topics separated
        by ``;``) plus every editor topic correction in the store."""
        from .enrich.supervised import LabelledExample, save_model, train_supervised
        from .enricher import TOPIC_MODEL_FILE, Enricher, embed_text

        rows = _labelled_rows(path) if path else []
        rows += _editor_examples(self.nd)
        if not rows:
            raise NewsdeskError("no labelled examples: give a CSV with title,text,topics columns")
        taxonomy = self.nd.taxonomy
        known = {t.name for t in taxonomy.topics}
        unknown = sorted({t for _, _, topics in rows for t in topics} - known)
        if unknown:
            raise NewsdeskError(f"labels not in the taxonomy: {', '.join(unknown[:10])}")
        embedder = Enricher(self.nd.settings, self.nd.store, taxonomy).embedder
        vectors = embedder.embed([embed_text(_stub(title, text), text) for title, text, _ in rows])
        examples = [
            LabelledExample(t, x, v, tuple(taxonomy.with_ancestors(list(tp))))
            for (t, x, tp), v in zip(rows, vectors, strict=True)
        ]
        model = train_supervised(examples)
        save_model(model, self.nd.settings.data_dir / TOPIC_MODEL_FILE)
        return {
            "examples": len(examples),
            "topics": len(model.topics),
            "vote_weight": model.knn_weight,
            "path": str(self.nd.settings.data_dir / TOPIC_MODEL_FILE),
        }


def _stub(title: str, text: str) -> Article:
    """A minimal article, so training embeds exactly the text enrichment embeds."""
    from .model import Provider

    return Article(
        title=title or "untitled",
        web_url="https://training.invalid/",
        original_url="https://training.invalid/",
        provider=Provider("training", "training.invalid"),
        excerpt=text[:200],
    )


def _labelled_rows(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"title", "topics"} <= set(reader.fieldnames):
                raise NewsdeskError(f"{path}: needs title and topics columns (text optional)")
            return [
                (
                    r["title"],
                    r.get("text") or "",
                    tuple(t.strip() for t in r["topics"].split(";") if t.strip()),
                )
                for r in reader
                if r.get("title")
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise NewsdeskError(f"{path}: cannot read labelled examples: {e}") from e


def _editor_examples(nd: Newsdesk) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for article in nd.store.iter_articles():
        if any(s.signal == "editor" for s in article.topic_scores):
            out.append((article.title, article.excerpt, article.topics))
    return out
