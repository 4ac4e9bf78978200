"""Shared parameter types for the handlers: the bounds every id and text parameter is checked against.

Ids are capped at SQLite's largest integer (a bigger one would overflow the driver instead of being a
clean 404), and free text may not contain NUL (PostgreSQL refuses it in text values).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query

from ..catalog import Audience
from ..model import utc
from .auth import audience
from .context import ApiContext, api_context
from .problems import FieldInvalid
from .schemas import NO_NUL

MAX_ID = 2**63 - 1  # SQLite INTEGER / PostgreSQL BIGINT upper bound
MAX_QUERY_TEXT = 200  # a search box's worth; FTS also cuts queries at 16 terms (store/search.py)
MAX_CURSOR = 200  # cursors this server issues are ~40 characters

Ctx = Annotated[ApiContext, Depends(api_context)]
Viewer = Annotated[Audience, Depends(audience)]  # who reads: decides what they see
ArticleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The article's id.")]
StoryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The story's id.")]
SourceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The source's id.")]
OptionalText = Annotated[str | None, Query(max_length=MAX_QUERY_TEXT, pattern=NO_NUL)]


def as_utc(value: datetime | None, field: str) -> datetime | None:
    """A query datetime as aware UTC (naive = UTC); 422 naming ``field`` when it cannot be one."""
    if value is None:
        return None
    try:
        return utc(value)
    except (OverflowError, ValueError) as e:  # e.g. year 1 with a positive offset
        raise FieldInvalid(field, "not a representable UTC time") from e
