"""Log lines for whoever runs the service: plain text (the default) or JSON lines (``log_format =
"json"``), one object per line with fixed keys, for journald, Loki or any collector that parses JSON.

A line carries ``time`` (ISO-8601 UTC), ``level``, ``logger`` and ``message``, then every ``extra={...}``
key the code logged with (``source_id``, ``url``, ``duration_ms``… — STYLE.md's fixed keys with units),
and ``exception`` with the formatted traceback when there is one. Nothing is dropped: a value JSON cannot
hold is written as its ``repr``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from .errors import SettingsError

LOG_FORMATS = ("text", "json")
# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=repr, ensure_ascii=False)


def check_log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise SettingsError(f"log_format: expected one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def use_json_lines(level: int = logging.INFO) -> None:
    """Send every logger — uvicorn's too, which must then be run with ``log_config=None`` — through one
    stderr handler that writes JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
