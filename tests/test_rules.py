"""Tests for the publish-rule language: parsing, type checking, evaluation, error messages and decide()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsdesk.errors import RuleError
from newsdesk.model import Article, Image, Provider
from newsdesk.publish.rules import (
    FIELDS,
    MAX_DEPTH,
    MAX_RULE_CHARS,
    Action,
    BoolOp,
    Decision,
    compile_rule,
    decide,
    parse_rule_line,
    parse_rules,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_article(**changes: object) -> Article:
    base = Article(
        title="Bitcoin ETF flows hit a record",
        web_url="https://ft.example/markets/etf",
        original_url="https://ft.example/markets/etf?utm_source=x",
        provider=Provider("Financial Times", "ft.example"),
        category="news",
        type="article",
        quality=55,
        heat=12,
        topics=("AI in Finance", "AI"),
        images=(Image("https://ft.example/i.jpg", 800, 600, True),),
        published_at=NOW - timedelta(hours=5),
        source_id=7,
        language="en",
        text=" ".join(["word"] * 350),
    )
    return base.replace(**changes)


def matches(rule: str, **changes: object) -> bool:
    return compile_rule(rule).evaluate(make_article(**changes), now=NOW)


# ------------------------------------------------------------------------------------------ evaluation


@pytest.mark.parametrize(
    ("rule", "changes", "expected"),
    [
        ('quality >= 40 and "AI in Finance" in topics', {}, True),
        ('quality >= 40 and "AI in Finance" in topics', {"quality": 39}, False),
        ('quality >= 40 and "AI in Finance" in topics', {"topics": ("AI",)}, False),
        ('provider.domain in ["ft.example", "wire.example"] and not (heat < 10)', {}, True),
        ('provider.domain in ["ft.example", "wire.example"] and not (heat < 10)', {"heat": 9}, False),
        (
            'provider.domain in ["ft.example", "wire.example"]',
            {"provider": Provider("X", "x.example")},
            False,
        ),
        ('category == "press-release"', {"category": "press-release"}, True),
        ('category == "press-release"', {}, False),
        ('words > 300 or type == "video"', {}, True),
        ('words > 300 or type == "video"', {"text": "short"}, False),
        ('words > 300 or type == "video"', {"text": "", "type": "video"}, True),
        ("age_hours < 6", {}, True),
        ("age_hours < 4", {}, False),
        ("age_hours < 1000", {"published_at": None, "first_seen_at": None}, False),
        ("age_hours < 2", {"published_at": None, "first_seen_at": NOW - timedelta(hours=1)}, True),
        ("has_image", {}, True),
        ("not has_image", {"images": ()}, True),
        ("has_image == false", {"images": ()}, True),
        ('provider == "Financial Times" and provider.name == "Financial Times"', {}, True),
        ('language == ""', {"language": None}, True),
        ('language in ["en", "de"]', {}, True),
        ("source_id in [7, 8]", {}, True),
        ("source_id == -1", {"source_id": None}, True),
        ("heat > -1", {"heat": -1}, False),
        ("quality == 55.0", {}, True),
        ('"bitcoin" in title', {}, True),
        ('"BITCOIN ETF" in title', {}, True),
        ('"gold" not in title', {}, True),
        ('"AI" not in topics', {}, False),
        ('"ai" in topics', {}, False),  # list membership is exact
        ('title < "C"', {}, True),
        ("topics == []", {"topics": ()}, True),
        ('topics != ["AI", "AI in Finance"]', {}, False),  # list equality ignores order
        ("true or false and false", {}, True),  # and binds tighter than or
        ("(true or false) and false", {}, False),
        ("not false and false", {}, False),  # not binds tighter than and
        ("not quality < 10", {}, True),  # ... but looser than a comparison
        ("quality >= 40 AND Not (heat < 10) Or FALSE", {}, True),  # keywords are case-insensitive
        ("quality >= 40 and\n    heat >= 10", {}, True),  # rules may span lines
    ],
)
def test_rule_evaluates(rule: str, changes: dict[str, object], expected: bool) -> None:
    assert matches(rule, **changes) is expected


def test_strings_take_both_quotes_and_escapes() -> None:
    article = make_article(title="He said \"hi\"\tand 'bye' — ünïcode")
    assert compile_rule(r'"said \"hi\"\t" in title').evaluate(article, now=NOW)
    assert compile_rule("'\\'bye\\'' in title").evaluate(article, now=NOW)
    assert compile_rule(r'"\u00fcn" in title').evaluate(article, now=NOW)


def test_rule_keeps_source_and_fields() -> None:
    rule = compile_rule('quality >= 40 and "x" in topics and provider.domain == "a"')
    assert rule.source == 'quality >= 40 and "x" in topics and provider.domain == "a"'
    assert rule.fields() == {"quality", "topics", "provider.domain"}


def test_long_and_chains_are_flat() -> None:
    rule = compile_rule(" and ".join(["quality > 1"] * 250))
    assert isinstance(rule.tree, BoolOp)
    assert len(rule.tree.operands) == 250
    assert rule.evaluate(make_article(), now=NOW)


def test_every_documented_field_compiles_and_evaluates() -> None:
    samples = {
        "number": "{f} >= 0",
        "string": '{f} != "zz"',
        "boolean": "{f} or true",
        "list of strings": '"zz" not in {f}',
    }
    for name, spec in FIELDS.items():
        rule = compile_rule(samples[spec.vtype].format(f=name))
        assert rule.evaluate(make_article(), now=NOW) is True, name


# ---------------------------------------------------------------------------------------------- errors


def error_of(rule: str) -> str:
    with pytest.raises(RuleError) as info:
        compile_rule(rule)
    return str(info.value)


def test_unknown_field_suggests_the_closest() -> None:
    message = error_of("qualty >= 40")
    assert message.splitlines() == [
        "unknown field 'qualty' at column 1 (did you mean 'quality'?)",
        "  qualty >= 40",
        "  ^",
    ]


def test_caret_points_at_the_offending_token() -> None:
    lines = error_of("quality >= 40 and topics > 3").splitlines()
    assert lines[0] == "cannot compare a list of strings with a number using '>' at column 26"
    assert lines[2].index("^") == lines[1].index(">", lines[1].index("topics"))


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ('"abc', "unterminated string at column 1"),
        ("title == 'abc", "unterminated string at column 10"),
        ("quality >= 40 quality", "unexpected name 'quality' after a complete rule at column 15"),
        ("quality >= 40)", "unexpected punctuation ')' after a complete rule"),
        ("(quality >= 40", "expected ')' but found the end of the rule"),
        ("quality >=", "expected a field, a value or '(' but found the end of the rule"),
        ("1 < quality < 50", "comparisons cannot be chained"),
        ("quality && heat > 1", "unexpected character '&' at column 9 (use 'and', 'or', 'not')"),
        ("quality = 4", "(use '==')"),
        ("quality", "a rule needs a boolean, but this is a number"),
        ("quality and true", "'and' needs a boolean, but this is a number"),
        ("not title", "'not' needs a boolean, but this is a string"),
        ("topics == 3", "cannot compare a list of strings with a number using '=='"),
        ('quality == "40"', "cannot compare a number with a string"),
        ("topics < []", "cannot compare a list of strings with an empty list using '<'"),
        ("has_image > false", "cannot compare a boolean with a boolean using '>'"),
        ('quality in "40"', "cannot look for a number in a string"),
        ("1 in topics", "cannot look for a number in a list of strings"),
        ('"a" in quality', "'in' needs a list or a string on its right, not a number"),
        ('[1, "a"] == []', "a list cannot mix numbers and strings at column 5"),
        ("title in [true]", "a list holds numbers or strings, not keyword 'true'"),
        ("title in [heat]", "a list holds numbers or strings, not name 'heat'"),
        ('title in ["a" "b"]', "expected ',' but found string"),
        (r'"\q" in title', "unknown escape '\\q' in string at column 2"),
        ("1.2.3 > quality", "invalid number '1.2.3'"),
        ("", "rule is empty"),
        ("Quality > 1", "unknown field 'Quality' at column 1 (did you mean 'quality'?)"),
        ("quality > 1 and\n  topicz == []", "unknown field 'topicz' at line 2, column 3"),
    ],
)
def test_invalid_rules_are_explained(rule: str, fragment: str) -> None:
    assert fragment in error_of(rule)


def test_nesting_and_length_are_bounded() -> None:
    assert compile_rule("(" * MAX_DEPTH + "true" + ")" * MAX_DEPTH).evaluate(make_article(), now=NOW)
    assert "rule nests too deeply" in error_of("(" * 1900 + "true" + ")" * 1900)
    assert "rule nests too deeply" in error_of("not " * (MAX_DEPTH + 5) + "true")
    assert "rule is too long" in error_of("true or " * MAX_RULE_CHARS + "true")


# -------------------------------------------------------------------------------------------- decisions


def test_decide_returns_first_matching_rule() -> None:
    rules = parse_rules(
        [
            'reject: provider.domain == "spam.example"',
            'publish: quality >= 40 and "AI in Finance" in topics',
            "reject: quality < 20",
        ]
    )
    assert decide(rules, make_article(), NOW) == Decision(
        Action.PUBLISH, 'quality >= 40 and "AI in Finance" in topics'
    )
    spam = make_article(provider=Provider("Spam", "spam.example"))
    decision = decide(rules, spam, NOW)
    assert decision is not None and decision.action == Action.REJECT and not decision.published
    assert decision.reason == 'provider.domain == "spam.example"'
    assert decide(rules, make_article(quality=10), NOW) == Decision(Action.REJECT, "quality < 20")


def test_decide_without_match_goes_to_review() -> None:
    rules = [(compile_rule("quality > 90"), Action.PUBLISH)]
    assert decide(rules, make_article(), NOW) is None
    assert decide([], make_article(), NOW) is None


def test_rule_lines_name_the_bad_rule() -> None:
    rule, action = parse_rule_line("  Publish :  heat >= 50 ")
    assert action == Action.PUBLISH and rule.source == "heat >= 50"
    with pytest.raises(RuleError, match="publish rule 2: unknown field 'hot'"):
        parse_rules(["publish: heat > 1", "reject: hot > 1"])
    with pytest.raises(RuleError, match="starts with 'publish:' or 'reject:'"):
        parse_rule_line("quality > 40")
