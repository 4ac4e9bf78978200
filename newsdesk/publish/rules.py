"""Publish rules: a small, safe expression language that decides an article's ``published`` flag.

A rule is text from ``newsdesk.toml`` (``publish_rules``), e.g.::

    publish: quality >= 40 and "AI in Finance" in topics
    reject:  provider.domain in ["spam.example", "ads.example"] or words < 80

It is tokenized and parsed here (a Pratt parser) into a frozen syntax tree and type-checked before any
article is seen, so a typo fails when the settings load, not halfway through a run. Nothing is ever handed
to ``eval``/``exec``: the only things a rule can do are read the fields below and compare them.

Grammar (lowest binding first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand]
    operand    := field | number | string | "true" | "false" | list | "(" expr ")"
    list       := "[" [literal ("," literal)* [","]] "]"      (numbers only or strings only)

Keywords (``and or not in true false``) are case-insensitive; field names are not. Strings take single or
double quotes with the escapes ``\\\\ \\" \\' \\n \\t \\r \\uXXXX``. Numbers may be negative (``heat > -1``).
Comparisons do not chain (``1 < quality < 50`` is an error: write ``quality > 1 and quality < 50``).

Semantics of ``in``:

- ``x in <list>`` (a list field such as ``topics`` or a literal list): exact membership, case-sensitive —
  topic and domain names are identifiers, not prose.
- ``x in <string>`` (``"bitcoin" in title``): substring test, case-insensitive (``str.casefold``), because
  headlines capitalise words unpredictably.

Fields (:data:`FIELDS`) and the value they take for an article:

==================  ==========  ==============================================================================
field               type        value
==================  ==========  ==============================================================================
quality             number      ``Article.quality`` (``-1`` while unscored)
heat                number      ``Article.heat`` (``-1`` while unknown)
topics              list        ``Article.topics`` (most specific first, ancestors included)
category            string      ``Article.category``
type                string      ``Article.type``
language            string      ``Article.language``; ``""`` when unknown
provider            string      same as ``provider.name``
provider.name       string      ``Article.provider.name``
provider.domain     string      ``Article.provider.domain``
words               number      words in the extracted text (whitespace-separated); ``0`` without text
age_hours           number      hours from ``publishedDateTime`` (else first seen) to ``now``; infinite if
                                neither is known, so ``age_hours < 24`` is false for an undated article
has_image           boolean     the article has at least one image
title               string      ``Article.title``
source_id           number      ``Article.source_id``; ``-1`` when unknown
==================  ==========  ==============================================================================

Errors are :class:`~newsdesk.errors.RuleError` whose message names the column and ends with the rule and a
caret under the offending token::

    unknown field 'qualty' at column 1 (did you mean 'quality'?)
      qualty >= 40
      ^
"""

from __future__ import annotations

import difflib
import enum
import logging
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from ..errors import RuleError
from ..model import Article
from .rule_fields import _ELEMENT, _LISTS, FIELDS, Value, VType
from .rule_lexer import MAX_RULE_CHARS, Tok, Token, _fail, tokenize

log = logging.getLogger(__name__)

MAX_DEPTH = 32
"""Deepest nesting of parentheses / ``not`` / operators accepted. Keeps the recursive-descent parser well
below Python's recursion limit (1000) whatever the input; no sensible rule nests more than a few levels."""


class Action(enum.StrEnum):
    """What a matching rule does to the article's ``published`` flag."""

    PUBLISH = "publish"
    REJECT = "reject"


# ----------------------------------------------------------------------------------------------- fields


# ----------------------------------------------------------------------------------------------- tokens


# ------------------------------------------------------------------------------------------ syntax tree


@dataclass(frozen=True, slots=True)
class Literal:
    value: float | int | str | bool
    vtype: VType
    pos: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """A literal list; ``values`` is a frozenset because membership is all a list is used for."""

    items: tuple[Literal, ...]
    values: frozenset[str] | frozenset[float]
    vtype: VType
    pos: int


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str
    vtype: VType
    pos: int


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Node
    right: Node
    pos: int
    vtype: VType = VType.BOOL


@dataclass(frozen=True, slots=True)
class Member:
    """``item in container`` (``negated`` for ``not in``): list membership or, on strings, substring."""

    item: Node
    container: Node
    negated: bool
    pos: int
    vtype: VType = VType.BOOL


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    pos: int
    vtype: VType = VType.BOOL


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and`` / ``or`` over two or more operands (flattened, so long chains do not nest)."""

    op: str
    operands: tuple[Node, ...]
    pos: int
    vtype: VType = VType.BOOL


Node: TypeAlias = Literal | ListLiteral | FieldRef | Compare | Member | Not | BoolOp

# Binding powers of the infix operators (Pratt): higher binds tighter. ``not`` as a prefix sits between
# ``and`` and the comparisons, so ``not heat < 10`` is ``not (heat < 10)`` and ``not a and b`` is
# ``(not a) and b`` — the same as Python.
_BP_OR, _BP_AND, _BP_NOT, _BP_COMPARE = 1, 2, 3, 4


class _Parser:
    """Recursive-descent (Pratt) parser with type checking as nodes are built."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = list(tokenize(source))
        self.index = 0

    # -- token helpers -------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def error(self, pos: int, message: str, hint: str = "") -> RuleError:
        return _fail(self.source, pos, message, hint)

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.text != text or token.kind in (Tok.STRING, Tok.NAME):
            raise self.error(token.pos, f"expected '{text}' but found {_describe(token)}")
        return self.advance()

    # -- grammar ---------------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expression(0, 0)
        token = self.peek()
        if token.kind != Tok.END:
            raise self.error(token.pos, f"unexpected {_describe(token)} after a complete rule")
        self.require(node, VType.BOOL, "a rule")
        return node

    def expression(self, min_bp: int, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(self.peek().pos, "rule nests too deeply", f" (more than {MAX_DEPTH} levels)")
        left = self.prefix(depth)
        while True:
            bp = self.infix_power()
            if bp <= min_bp:
                return left
            left = self.infix(left, bp, depth)

    def infix_power(self) -> int:
        token = self.peek()
        if token.kind == Tok.OP or (token.text == "in" and token.kind == Tok.KEYWORD):
            return _BP_COMPARE
        if token.kind == Tok.KEYWORD and token.text == "not" and self.peek(1).text == "in":
            return _BP_COMPARE
        if token.kind == Tok.KEYWORD and token.text in ("and", "or"):
            return _BP_AND if token.text == "and" else _BP_OR
        return 0

    def infix(self, left: Node, bp: int, depth: int) -> Node:
        token = self.advance()
        if token.text in ("and", "or"):
            right = self.expression(bp, depth + 1)
            return self.bool_op(token, left, right)
        negated = token.text == "not"
        if negated:
            self.advance()  # the "in" of "not in"
        right = self.expression(bp, depth + 1)
        if self.infix_power() == _BP_COMPARE:
            raise self.error(self.peek().pos, "comparisons cannot be chained; join them with 'and'")
        if token.kind == Tok.OP:
            return self.compare(token, left, right)
        return self.member(token, left, right, negated)

    def prefix(self, depth: int) -> Node:
        token = self.advance()
        if token.kind == Tok.KEYWORD and token.text == "not":
            operand = self.expression(_BP_NOT, depth + 1)
            self.require(operand, VType.BOOL, "'not'")
            return Not(operand, token.pos)
        if token.text == "(" and token.kind == Tok.PUNCT:
            inner = self.expression(0, depth + 1)
            self.expect(")")
            return inner
        if token.text == "[" and token.kind == Tok.PUNCT:
            return self.list_literal(token)
        if token.kind == Tok.NAME:
            return self.field(token)
        literal = self.literal(token)
        if literal is None:
            raise self.error(token.pos, f"expected a field, a value or '(' but found {_describe(token)}")
        return literal

    def literal(self, token: Token) -> Literal | None:
        if token.kind == Tok.NUMBER and isinstance(token.value, int | float):
            return Literal(token.value, VType.NUMBER, token.pos)
        if token.kind == Tok.STRING and isinstance(token.value, str):
            return Literal(token.value, VType.STRING, token.pos)
        if token.kind == Tok.KEYWORD and token.text in ("true", "false"):
            return Literal(token.text == "true", VType.BOOL, token.pos)
        return None

    def list_literal(self, start: Token) -> ListLiteral:
        items: list[Literal] = []
        while not (self.peek().text == "]" and self.peek().kind == Tok.PUNCT):
            token = self.advance()
            item = self.literal(token)
            if item is None or item.vtype == VType.BOOL:
                raise self.error(token.pos, f"a list holds numbers or strings, not {_describe(token)}")
            if items and item.vtype != items[0].vtype:
                raise self.error(token.pos, "a list cannot mix numbers and strings")
            items.append(item)
            if self.peek().text != "]":
                self.expect(",")
        self.expect("]")
        return _make_list(tuple(items), start.pos)

    def field(self, token: Token) -> FieldRef:
        spec = FIELDS.get(token.text)
        if spec is None:
            close = difflib.get_close_matches(token.text, list(FIELDS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (fields: {', '.join(FIELDS)})"
            raise self.error(token.pos, f"unknown field '{token.text}'", hint)
        return FieldRef(spec.name, spec.vtype, token.pos)

    # -- typed constructors ----------------------------------------------------------------------------
    def require(self, node: Node, vtype: VType, what: str) -> None:
        if node.vtype != vtype:
            raise self.error(node.pos, f"{what} needs {_a(vtype)}, but this is {_a(node.vtype)}")

    def bool_op(self, token: Token, left: Node, right: Node) -> BoolOp:
        self.require(left, VType.BOOL, f"'{token.text}'")
        self.require(right, VType.BOOL, f"'{token.text}'")
        operands = (*_flatten(left, token.text), *_flatten(right, token.text))
        return BoolOp(token.text, operands, left.pos)

    def compare(self, token: Token, left: Node, right: Node) -> Compare:
        ordered = token.text not in ("==", "!=")
        same = left.vtype == right.vtype or (left.vtype in _LISTS and right.vtype in _LISTS and not ordered)
        if ordered and left.vtype not in (VType.NUMBER, VType.STRING):
            same = False
        if not same:
            raise self.error(
                token.pos, f"cannot compare {_a(left.vtype)} with {_a(right.vtype)} using '{token.text}'"
            )
        return Compare(token.text, left, right, token.pos)

    def member(self, token: Token, item: Node, container: Node, negated: bool) -> Member:
        if container.vtype == VType.STRING:
            wanted = VType.STRING
        elif container.vtype in _ELEMENT:
            wanted = _ELEMENT[container.vtype]
        elif container.vtype == VType.EMPTY:
            wanted = item.vtype if item.vtype in (VType.NUMBER, VType.STRING) else VType.STRING
        else:
            raise self.error(
                container.pos, f"'in' needs a list or a string on its right, not {_a(container.vtype)}"
            )
        if item.vtype != wanted:
            raise self.error(token.pos, f"cannot look for {_a(item.vtype)} in {_a(container.vtype)}")
        return Member(item, container, negated, token.pos)


def _make_list(items: tuple[Literal, ...], pos: int) -> ListLiteral:
    if not items:
        return ListLiteral(items, frozenset(), VType.EMPTY, pos)
    if items[0].vtype == VType.STRING:
        return ListLiteral(items, frozenset(str(i.value) for i in items), VType.STRINGS, pos)
    return ListLiteral(items, frozenset(float(i.value) for i in items), VType.NUMBERS, pos)


def _a(vtype: VType) -> str:
    return f"an {vtype}" if vtype[0] in "aeiou" else f"a {vtype}"


def _flatten(node: Node, op: str) -> tuple[Node, ...]:
    return node.operands if isinstance(node, BoolOp) and node.op == op else (node,)


def _describe(token: Token) -> str:
    if token.kind == Tok.END:
        return "the end of the rule"
    return f"{token.kind} '{token.text}'"


# ------------------------------------------------------------------------------------------- evaluation


def _evaluate(node: Node, article: Article, now: datetime) -> Value:
    """Value of ``node``; types were checked at compile time, so only well-typed operations happen here."""
    match node:
        case Literal(value=value):
            return value
        case ListLiteral(values=values):
            return values
        case FieldRef(name=name):
            return FIELDS[name].get(article, now)
        case Not(operand=operand):
            return not _evaluate(operand, article, now)
        case BoolOp(op="and", operands=operands):
            return all(_evaluate(o, article, now) for o in operands)
        case BoolOp(operands=operands):
            return any(_evaluate(o, article, now) for o in operands)
        case Compare():
            return _compare(node.op, _evaluate(node.left, article, now), _evaluate(node.right, article, now))
        case Member():
            found = _contains(_evaluate(node.container, article, now), _evaluate(node.item, article, now))
            return found != node.negated
    raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover - the match is exhaustive


def _compare(op: str, left: Value, right: Value) -> bool:
    if op not in ("==", "!="):  # ordering: both numbers or both strings (checked at compile time)
        return bool(_ORDER[op](left, right))
    if isinstance(left, tuple | frozenset) and isinstance(right, tuple | frozenset):
        equal = set(left) == set(right)  # list equality ignores order
    else:
        equal = left == right
    return equal == (op == "==")


_ORDER: Mapping[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _contains(container: Value, item: Value) -> bool:
    if isinstance(container, str):
        return str(item).casefold() in container.casefold()
    assert isinstance(container, tuple | frozenset)
    return item in container


# ------------------------------------------------------------------------------------------ public API


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: ``source`` as written and its type-checked syntax tree."""

    source: str
    tree: Node

    def evaluate(self, article: Article, *, now: datetime) -> bool:
        """Whether ``article`` matches at time ``now`` (``now`` only matters for ``age_hours``)."""
        return bool(_evaluate(self.tree, article, now))

    def fields(self) -> frozenset[str]:
        """Names of the fields the rule reads (e.g. to tell an editor what a rule depends on)."""
        return frozenset(_fields(self.tree))


def _fields(node: Node) -> Iterator[str]:
    match node:
        case FieldRef(name=name):
            yield name
        case Not(operand=operand):
            yield from _fields(operand)
        case BoolOp(operands=operands):
            for operand in operands:
                yield from _fields(operand)
        case Compare(left=left, right=right) | Member(item=left, container=right):
            yield from _fields(left)
            yield from _fields(right)


def compile_rule(text: str) -> Rule:
    """Parse and type-check ``text``; :class:`RuleError` (with column and caret) if it is not a valid rule."""
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(f"rule is too long ({len(text)} characters, at most {MAX_RULE_CHARS})")
    if not text.strip():
        raise RuleError("rule is empty")
    return Rule(text, _Parser(text).parse())


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of the first matching rule: the action and, as the reason, the rule text."""

    action: Action
    reason: str

    @property
    def published(self) -> bool:
        return self.action == Action.PUBLISH


def decide(rules: Sequence[tuple[Rule, Action]], article: Article, now: datetime) -> Decision | None:
    """Apply ordered ``rules``: the first that matches decides; ``None`` when none matches, which sends the
    article to the editor's review queue."""
    for rule, action in rules:
        if rule.evaluate(article, now=now):
            return Decision(action, rule.source)
    return None


def parse_rule_line(line: str) -> tuple[Rule, Action]:
    """Parse one ``publish_rules`` setting entry, ``"<publish|reject>: <rule>"``."""
    head, colon, body = line.partition(":")
    action = head.strip().lower()
    if not colon or action not in (Action.PUBLISH, Action.REJECT):
        raise RuleError(f"a rule starts with 'publish:' or 'reject:', got {line.strip()[:60]!r}")
    return compile_rule(body.strip()), Action(action)


def parse_rules(lines: Sequence[str]) -> tuple[tuple[Rule, Action], ...]:
    """Parse the ``publish_rules`` setting in order; the error names the rule's position (1-based)."""
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            parsed.append(parse_rule_line(line))
        except RuleError as e:
            raise RuleError(f"publish rule {number}: {e.message}") from e
    log.debug("publish rules compiled", extra={"rule_count": len(parsed)})
    return tuple(parsed)
