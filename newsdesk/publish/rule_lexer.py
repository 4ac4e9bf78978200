"""The publish-rule tokenizer: text in, tokens out, errors with a caret under the column."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import RuleError

log = logging.getLogger(__name__)

MAX_RULE_CHARS = 4000
"""Longest rule accepted. Real rules are one line (< 200 characters); the cap bounds parse time and memory
for a hostile or corrupted settings file."""


class Tok(enum.StrEnum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    KEYWORD = "keyword"
    OP = "operator"
    PUNCT = "punctuation"
    END = "end of rule"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str  # the lexeme as written, lower-cased for keywords
    value: float | int | str | bool | None
    pos: int  # 0-based offset into the rule text


KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCT = "()[],"
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


def _fail(source: str, pos: int, message: str, hint: str = "") -> RuleError:
    """A :class:`RuleError`: ``message at column N`` (1-based) + ``hint``, then the rule and a caret line."""
    line_start = source.rfind("\n", 0, pos) + 1
    line_end = source.find("\n", pos)
    line = source[line_start : len(source) if line_end < 0 else line_end]
    column = pos - line_start + 1
    where = f"column {column}"
    if "\n" in source:
        where = f"line {source.count(chr(10), 0, pos) + 1}, {where}"
    return RuleError(f"{message} at {where}{hint}\n  {line}\n  {' ' * (column - 1)}^")


def tokenize(source: str) -> Iterator[Token]:
    """Yield the tokens of ``source``, ending with an ``END`` token; :class:`RuleError` on bad input."""
    pos = 0
    while True:
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source):
            yield Token(Tok.END, "", None, pos)
            return
        token = _next_token(source, pos)
        yield token
        pos = token.pos + len(token.text)


def _next_token(source: str, pos: int) -> Token:
    ch = source[pos]
    if ch in "\"'":
        return Token(Tok.STRING, source[pos : _string_end(source, pos)], _read_string(source, pos), pos)
    if ch.isdigit() or (ch in "-." and pos + 1 < len(source) and source[pos + 1].isdigit()):
        return _read_number(source, pos)
    if ch.isalpha() or ch == "_":
        return _read_name(source, pos)
    for op in _OPERATORS:
        if source.startswith(op, pos):
            return Token(Tok.OP, op, None, pos)
    if ch in _PUNCT:
        return Token(Tok.PUNCT, ch, None, pos)
    hint = " (use 'and', 'or', 'not')" if ch in "&|!" else (" (use '==')" if ch == "=" else "")
    raise _fail(source, pos, f"unexpected character {ch!r}", hint)


def _string_end(source: str, pos: int) -> int:
    """Offset just past the closing quote of the string starting at ``pos``."""
    quote, i = source[pos], pos + 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == quote:
            return i + 1
        i += 1
    raise _fail(source, pos, "unterminated string")


def _read_string(source: str, pos: int) -> str:
    end = _string_end(source, pos) - 1
    out: list[str] = []
    i = pos + 1
    while i < end:
        ch = source[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        code = source[i + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code == "u" and _is_hex4(source[i + 2 : i + 6]):
            out.append(chr(int(source[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise _fail(source, i, f"unknown escape '\\{code}' in string")
    return "".join(out)


def _is_hex4(text: str) -> bool:
    return len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text)


def _read_number(source: str, pos: int) -> Token:
    end = pos + 1
    while end < len(source) and (source[end].isalnum() or source[end] in "._"):
        end += 1
    text = source[pos:end]
    try:
        value: float | int = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        raise _fail(source, pos, f"invalid number {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(source, pos, f"invalid number {text!r}")
    return Token(Tok.NUMBER, text, value, pos)


def _read_name(source: str, pos: int) -> Token:
    end = pos
    while end < len(source) and (source[end].isalnum() or source[end] in "_."):
        end += 1
    text = source[pos:end]
    if text.lower() in KEYWORDS:
        return Token(Tok.KEYWORD, text.lower(), None, pos)
    return Token(Tok.NAME, text, text, pos)
