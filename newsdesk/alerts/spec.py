"""What a saved search asks for, checked once: the one shape the API, the CLI and matching share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ValidationError
from ..model import Article

MODES = ("text", "semantic", "hybrid")  # as catalog's search modes; hybrid = either matches
DIGESTS = ("off", "hourly", "daily", "weekly")
MAX_QUERY = 200  # a search box's worth, as the API's search (api/params.MAX_QUERY_TEXT)
MAX_TOPICS = 50
# Cosine between a query and an article (title + lead, MiniLM) at or above which a semantic saved search
# matches. NOT tuned on labelled data (no query/relevance set exists yet): a starting value, set per search.
MIN_SIMILARITY = 0.4


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """Every field narrows the match; an empty spec matches every new article."""

    q: str = ""
    mode: str = "text"
    topics: tuple[str, ...] = ()  # any of them
    source_id: int | None = None
    language: str | None = None
    min_quality: int | None = None
    min_heat: int | None = None
    min_similarity: float = MIN_SIMILARITY

    def __post_init__(self) -> None:
        _require(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        _require(
            len(self.q) <= MAX_QUERY and "\x00" not in self.q, f"q: at most {MAX_QUERY} characters, no NUL"
        )
        _require(self.mode == "text" or bool(self.q.strip()), "a semantic search needs q")
        _require(len(self.topics) <= MAX_TOPICS, f"at most {MAX_TOPICS} topics")
        for name, value in (("min_quality", self.min_quality), ("min_heat", self.min_heat)):
            _require(value is None or 0 <= value <= 100, f"{name} must be 0-100")
        _require(0.0 <= self.min_similarity <= 1.0, "min_similarity must be 0-1")
        _require(self.source_id is None or self.source_id >= 1, "source_id must be a positive id")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpec:
        unknown = set(data) - set(cls.__slots__)
        _require(not unknown, f"unknown field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        values["topics"] = tuple(values.get("topics") or ())
        try:
            return cls(**values)
        except TypeError as e:
            raise ValidationError(str(e)) from e

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"topics": list(self.topics)}

    def filters_match(self, article: Article) -> bool:
        """Everything but the query text: topics, source, language, quality and heat."""
        return (
            (not self.topics or bool(set(self.topics) & set(article.topics)))
            and (self.source_id is None or article.source_id == self.source_id)
            and (not self.language or (article.language or "").split("-")[0] == self.language)
            and (self.min_quality is None or article.quality >= self.min_quality)
            and (self.min_heat is None or article.heat >= self.min_heat)
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValidationError(message)
