"""Turn the date strings pages carry into aware UTC datetimes.

Pages write dates as ISO-8601 (with or without offset, with a space instead of ``T``, with a ``+0800``
offset), RFC 822 (``Fri, 24 Dec 2021 09:41:00 +0800``), plain English (``December 24, 2021 9:41 AM EST``)
or Unix epochs (seconds or milliseconds). :func:`parse_datetime` accepts all of them and returns ``None``
for anything else, never raising. A date without an offset is taken as UTC: there is no better guess that
is right more often, and the record stores UTC.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateparser
from dateutil.tz import gettz

from newsdesk.model import utc

logger = logging.getLogger(__name__)

MIN_YEAR = 1990
"""Dates before the web are parsing accidents (a ``0`` epoch, ``0001-01-01`` placeholders)."""
MAX_YEAR = 2100
MAX_DATE_CHARS = 100
"""Longer strings are prose, not dates; dateutil's fuzzy paths are slow on them."""

_EPOCH = re.compile(r"^\d{9,13}$")
_MS_EPOCH_DIGITS = 13

# US zone abbreviations that dateutil does not know on its own; pages in the US still write them.
_TZINFOS = {
    name: gettz(zone)
    for name, zone in {
        "EST": "America/New_York",
        "EDT": "America/New_York",
        "ET": "America/New_York",
        "CST": "America/Chicago",
        "CDT": "America/Chicago",
        "CT": "America/Chicago",
        "MST": "America/Denver",
        "MDT": "America/Denver",
        "PST": "America/Los_Angeles",
        "PDT": "America/Los_Angeles",
        "PT": "America/Los_Angeles",
        "BST": "Europe/London",
        "CET": "Europe/Paris",
        "CEST": "Europe/Paris",
        "HKT": "Asia/Hong_Kong",
        "JST": "Asia/Tokyo",
        "IST": "Asia/Kolkata",
    }.items()
}
_TZINFOS.update({"UTC": UTC, "GMT": UTC, "Z": UTC})


def parse_datetime(value: str | None) -> datetime | None:
    """``value`` as an aware UTC datetime truncated to seconds, or ``None`` when it is not a date."""
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > MAX_DATE_CHARS:
        return None
    parsed = _from_epoch(value) if _EPOCH.match(value) else _from_text(value)
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        return None
    return utc(parsed)


def _from_epoch(value: str) -> datetime | None:
    seconds = int(value) / 1000 if len(value) == _MS_EPOCH_DIGITS else int(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_text(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return _with_sane_offset(dateparser.parse(value, tzinfos=_TZINFOS))
    except (ValueError, OverflowError, TypeError) as e:
        logger.debug("unparsed date", extra={"value": value, "error": str(e)})
        return None


def _with_sane_offset(value: datetime) -> datetime | None:
    """Reject offsets beyond ±14 h: dateutil reads some numbers after a date as an offset."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > timedelta(hours=14):
        return None
    return value
