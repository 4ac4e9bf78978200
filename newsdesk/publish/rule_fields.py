"""The fields a publish rule can name, with their types and how each is read from an article."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from ..model import Article, utc

log = logging.getLogger(__name__)

Value: TypeAlias = float | int | str | bool | tuple[str, ...] | frozenset[str] | frozenset[float]


class VType(enum.StrEnum):
    """Static type of an expression, checked at compile time."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "boolean"
    STRINGS = "list of strings"
    NUMBERS = "list of numbers"
    EMPTY = "empty list"


_LISTS = (VType.STRINGS, VType.NUMBERS, VType.EMPTY)
_ELEMENT = {VType.STRINGS: VType.STRING, VType.NUMBERS: VType.NUMBER}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field a rule may read: its static type and how to get it from an article at time ``now``."""

    name: str
    vtype: VType
    get: Callable[[Article, datetime], Value]
    help: str


def _age_hours(article: Article, now: datetime) -> float:
    seen = article.published_at or article.first_seen_at
    if seen is None:
        return math.inf
    return (utc(now) - seen).total_seconds() / 3600.0


def _source_id(article: Article, _: datetime) -> int:
    return -1 if article.source_id is None else article.source_id


def _field_table() -> Mapping[str, FieldSpec]:
    specs = (
        FieldSpec("quality", VType.NUMBER, lambda a, _: a.quality, "quality score 0-100, -1 unscored"),
        FieldSpec("heat", VType.NUMBER, lambda a, _: a.heat, "heat score 0-100, -1 unknown"),
        FieldSpec("topics", VType.STRINGS, lambda a, _: a.topics, "topic labels"),
        FieldSpec("category", VType.STRING, lambda a, _: a.category, "editorial category"),
        FieldSpec("type", VType.STRING, lambda a, _: a.type, "article, video, podcast, ..."),
        FieldSpec("language", VType.STRING, lambda a, _: a.language or "", "language code, '' unknown"),
        FieldSpec("provider", VType.STRING, lambda a, _: a.provider.name, "publisher name"),
        FieldSpec("provider.name", VType.STRING, lambda a, _: a.provider.name, "publisher name"),
        FieldSpec("provider.domain", VType.STRING, lambda a, _: a.provider.domain, "publisher domain"),
        FieldSpec("words", VType.NUMBER, lambda a, _: len(a.text.split()), "words of extracted text"),
        FieldSpec("age_hours", VType.NUMBER, _age_hours, "hours since published (else first seen)"),
        FieldSpec("has_image", VType.BOOL, lambda a, _: bool(a.images), "has at least one image"),
        FieldSpec("title", VType.STRING, lambda a, _: a.title, "headline"),
        FieldSpec("source_id", VType.NUMBER, _source_id, "source id, -1 unknown"),
    )
    return {spec.name: spec for spec in specs}


FIELDS: Mapping[str, FieldSpec] = _field_table()
"""Every field a rule can name; see the module docstring for the table."""
