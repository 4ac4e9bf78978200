"""The record format: byte-exact round trips, and invalid records rejected with the field named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from newsdesk import record
from newsdesk.errors import RecordError
from newsdesk.model import Article, Image, Provider, RelatedRef
from newsdesk.record import dump_record, load_record, read_record

from .conftest import ROOT

REFERENCE = ROOT / "docs" / "examples" / "record.md"  # the in-repo copy of the reference record
OWN = sorted((Path(__file__).parent / "data" / "records").glob("*.md"))


def test_reference_record_round_trips_byte_for_byte() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    article = load_record(text)
    assert dump_record(article) == text
    assert article.provider == Provider("EJ Insight", "ejinsight.com")
    assert article.topics == ("AI in Finance", "AI")
    assert article.published_at == datetime(2021, 12, 24, 1, 41, tzinfo=UTC)
    assert article.quality == 24 and article.heat == -1 and article.published is False
    assert article.related[0].images == () and article.related[1].images[0].width == 1400
    assert article.secured is not None and article.secured.endswith("==")


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_own_records_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert dump_record(read_record(path)) == text


def test_dumped_record_is_plain_yaml_with_the_reference_key_order() -> None:
    article = Article(
        title='Quotes " and \\ backslashes, a tab\tand émojis 💶',
        web_url="https://x.example/a",
        original_url="https://x.example/a?utm_source=x",
        provider=Provider("null", "x.example"),
        topics=("true", "AI"),
        images=(Image("https://x.example/i.png"),),
        related=(RelatedRef("R", "https://y.example/r", Provider("Y: news", "y.example"), excerpt="e"),),
        published_at=datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC),
    )
    text = dump_record(article)
    data = yaml.safe_load(text.split("---\n")[1])
    assert list(data) == ["category", "title", "publishedDateTime", "originalUrl", "webUrl", "type", "quality",
                          "heat", "published", "provider", "topics", "images", "related"]  # fmt: skip
    assert data["title"] == article.title
    assert data["provider"]["name"] == "null" and data["topics"] == ["true", "AI"]
    assert data["related"][0]["provider"]["name"] == "Y: news"
    assert "publishedDateTime: 2026-01-02T03:04:05Z\n" in text
    assert '  - url: "https://x.example/i.png"\n    isCached: false\n' in text  # no size until cached
    again = load_record(text)
    assert again == article.replace(published_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert dump_record(again) == text


def _reference_with(old: str, new: str) -> str:
    text = (Path(__file__).parent / "data" / "records" / "payments-outage.md").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('title: "Card network', 'headline: "Card network', "title"),
        ("publishedDateTime: 2026-11-21T08:15:00Z", "publishedDateTime: last Tuesday", "publishedDateTime"),
        ("quality: 61", "quality: high", "quality"),
        ("published: true", "published: 3", "published"),
        ("type: article\nquality: 61", "type: article\nmood: sunny\nquality: 61", "mood"),
        ("  name: Fintech Daily\n", "", "provider.name"),
        ('webUrl: "https://fintechdaily', 'webUrl: "ftp://fintechdaily', "webUrl"),
        ("quality: 48", "quality: 480", "related[0].quality"),
        ("  - Payments", "  - [Payments]", "topics[0]"),
    ],
)
def test_invalid_records_name_the_field(old: str, new: str, field: str) -> None:
    with pytest.raises(RecordError) as info:
        load_record(_reference_with(old, new), path="bad.md")
    assert info.value.field is not None and info.value.field.startswith(field)
    assert str(info.value).startswith("bad.md: ")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no front matter",
        "---\ntitle: x\n",
        "---\n- a list\n---\n\n",
        "---\ntitle: [unclosed\n---\n\n",
        "\x00\x01",
    ],
)
def test_corrupt_files_are_record_errors(text: str) -> None:
    with pytest.raises(RecordError):
        load_record(text)


def test_unreadable_file_is_a_record_error(tmp_path: Path) -> None:
    bad = tmp_path / "binary.md"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecordError, match=r"binary\.md"):
        read_record(bad)


def test_every_character_survives_the_double_quoted_scalar() -> None:
    """The writer double-quotes titles, URLs and the sealed payload (``_quoted``): every code point a
    stored string can hold reads back the same through a YAML parser, and the escapes keep their
    spelling (another spelling would rewrite every record file of every store)."""
    text = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF) + "\ufeff\ufffe\uffff"
    quoted = record._quoted(text)
    assert yaml.safe_load(f"k: {quoted}") == {"k": text}
    escapes = [
        r"\\",
        r"\"",
        r"\n",
        r"\t",
        r"\r",
        r"\0",
        r"\N",
        r"\L",
        r"\P",
        r"\x01",
        r"\x7f",
        r"\x9f",
        r"\ufeff",
    ]
    assert all(escape in quoted for escape in escapes)
    assert not any(ch in quoted for ch in "\x00\x1f\x7f\x85\x9f\u2028\u2029\ufeff\uffff")
    assert record._quoted("QUJD" * 1000) == '"' + "QUJD" * 1000 + '"'
