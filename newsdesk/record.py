"""The record format: Markdown files with YAML front matter, exactly in the shape of the reference record.

A record file is::

    ---
    <front matter>
    ---
    <blank line>
    <optional Markdown body>

The front matter is written by hand here rather than by ``yaml.dump`` because the contract is byte-level:
fixed key order, camelCase keys, a blank line between groups, double quotes on free text and URLs, plain
scalars on names and enums, no line folding. PyYAML parses it (``safe_load``), so what we write is plain
YAML that any static-site generator reads. Dumping what was loaded reproduces the file byte for byte.

Optional fields are omitted the way the reference omits them: an empty list (``topics``, ``images``,
``related``, a related entry's ``images``), an empty excerpt, an unknown date and an absent ``secured``.

Site generators may render any field as HTML, so the writer guarantees what ingestion already does, also
for rows stored before it did: plain-text fields carry no markup
(:func:`~newsdesk.sources.sanitize.without_markup`, a no-op on clean text, so round trips stay exact)
and no SVG is listed as an image (:func:`~newsdesk.sources.sanitize.publishable_images`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import RecordError
from .model import Article, Image, Provider, RelatedRef, utc
from .sources.sanitize import publishable_images
from .sources.sanitize import without_markup as _text

DELIMITER = "---\n"
TOP_KEYS = (
    "category",
    "title",
    "excerpt",
    "publishedDateTime",
    "originalUrl",
    "webUrl",
    "type",
    "quality",
    "heat",
    "published",
    "provider",
    "topics",
    "images",
    "related",
    "secured",
)
REQUIRED_KEYS = ("title", "webUrl", "originalUrl", "provider")
RELATED_KEYS = ("title", "excerpt", "publishedDateTime", "webUrl", "type", "provider", "quality", "images")
IMAGE_KEYS = ("url", "width", "height", "isCached")
PROVIDER_KEYS = ("name", "domain")
T = TypeVar("T")

# YAML double-quoted escapes for characters that may not appear raw (YAML 1.1 §5.7 / 1.2 §5.7).
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\0": "\\0",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


# ---------------------------------------------------------------------------------------------- dumping


def dump_record(article: Article) -> str:
    """The record file text for ``article``."""
    groups = [_scalar_lines(article), _provider_lines(article.provider, "")]
    if article.topics:
        groups.append(["topics:", *(f"  - {_plain(_text(t))}" for t in article.topics)])
    images = publishable_images(article.images)
    if images:
        groups.append(["images:", *_image_lines(images, "  ")])
    if article.related:
        groups.append(["related:", *_related_lines(article.related)])
    if article.secured is not None:
        groups.append([f"secured: {_quoted(article.secured)}"])
    front = "\n\n".join("\n".join(lines) for lines in groups)
    body = str(article.extra.get("body", ""))
    return f"{DELIMITER}{front}\n{DELIMITER}\n{body}"


def _scalar_lines(a: Article) -> list[str]:
    lines = [f"category: {_plain(_text(a.category))}", f"title: {_quoted(_text(a.title) or a.web_url)}"]
    excerpt = _text(a.excerpt)
    if excerpt:
        lines.append(f"excerpt: {_quoted(excerpt)}")
    if a.published_at is not None:
        lines.append(f"publishedDateTime: {format_datetime(a.published_at)}")
    lines += [
        f"originalUrl: {_quoted(a.original_url)}",
        f"webUrl: {_quoted(a.web_url)}",
        f"type: {_plain(_text(a.type))}",
        f"quality: {a.quality}",
        f"heat: {a.heat}",
        f"published: {'true' if a.published else 'false'}",
    ]
    return lines


def _provider_lines(provider: Provider, indent: str) -> list[str]:
    return [
        f"{indent}provider:",
        f"{indent}  name: {_plain(_text(provider.name) or provider.domain)}",
        f"{indent}  domain: {_plain(provider.domain)}",
    ]


def _image_lines(images: tuple[Image, ...], indent: str) -> Iterator[str]:
    for image in images:
        yield f"{indent}- url: {_quoted(image.url)}"
        if image.width is not None and image.height is not None:
            yield f"{indent}  width: {image.width}"
            yield f"{indent}  height: {image.height}"
        yield f"{indent}  isCached: {'true' if image.is_cached else 'false'}"


def _related_lines(related: tuple[RelatedRef, ...]) -> Iterator[str]:
    for ref in related:
        yield f"  - title: {_quoted(_text(ref.title) or ref.web_url)}"
        excerpt = _text(ref.excerpt)
        if excerpt:
            yield f"    excerpt: {_quoted(excerpt)}"
        if ref.published_at is not None:
            yield f"    publishedDateTime: {format_datetime(ref.published_at)}"
        yield f"    webUrl: {_quoted(ref.web_url)}"
        yield f"    type: {_plain(_text(ref.type))}"
        yield from _provider_lines(ref.provider, "    ")
        yield f"    quality: {ref.quality}"
        images = publishable_images(ref.images)
        if images:
            yield "    images:"
            yield from _image_lines(images, "      ")


def format_datetime(value: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix and whole seconds: ``2021-12-24T01:41:00Z``."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar. One regular-expression pass: most texts need no escape,
    and a record's ``secured`` value is tens of KB of base64 (a loop over each character was most of
    an export's time; docs/benchmarks.md, "Lean pipeline")."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


# What YAML's double-quoted style cannot hold as itself: the escapes above, C0 and C1 controls, DEL,
# the byte-order mark and the two non-characters.
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]')


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _ESCAPES.get(ch)
    if named is not None:
        return named
    return f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}"


# Cached: names and enums repeat, and the YAML probe was most of the dump time (docs/benchmarks.md).
@functools.lru_cache(maxsize=65_536)
def _plain(text: str) -> str:
    """``text`` as a plain scalar when YAML reads it back as the same string, else double-quoted
    (a provider called ``Yes``, ``null`` or ``AI: the newsletter`` must survive the round trip)."""
    if not text or text != text.strip() or any(c in text for c in "\n\r\t\"'\\#") or not text.isprintable():
        return _quoted(text)
    try:
        same = yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        same = False
    return text if same else _quoted(text)


# ---------------------------------------------------------------------------------------------- loading


def load_record(text: str, *, path: str | None = None) -> Article:
    """Parse a record file's text; :class:`RecordError` names the field (and the path) on any problem."""
    front, body = _split(text, path)
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as e:
        raise RecordError(f"front matter is not valid YAML ({_yaml_problem(e)})", path=path) from e
    if not isinstance(data, dict):
        raise RecordError("front matter is not a mapping of keys", path=path)
    try:
        article = _article(data)
    except RecordError as e:
        raise RecordError(e.detail, field=e.field, path=path) from e
    return article.replace(extra={"body": body}) if body else article


def read_record(path: Path) -> Article:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RecordError(f"cannot read record file: {e}", path=str(path)) from e
    return load_record(text, path=str(path))


def _split(text: str, path: str | None) -> tuple[str, str]:
    if not text.startswith(DELIMITER):
        raise RecordError("does not start with a '---' front-matter line", path=path)
    end = text.find("\n" + DELIMITER, len(DELIMITER) - 1)
    if end < 0:
        raise RecordError("front matter is not closed by a '---' line", path=path)
    front = text[len(DELIMITER) : end + 1]
    rest = text[end + 1 + len(DELIMITER) :]
    return front, rest[1:] if rest.startswith("\n") else rest


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)


def _article(data: Mapping[str, Any]) -> Article:
    _check_keys(data, TOP_KEYS, REQUIRED_KEYS, "")
    fields: dict[str, Any] = {
        "title": _str(data, "title"),
        "web_url": _str(data, "webUrl"),
        "original_url": _str(data, "originalUrl"),
        "provider": _provider(data["provider"], "provider"),
        "category": _str(data, "category", "news"),
        "excerpt": _str(data, "excerpt", ""),
        "published_at": _datetime(data, "publishedDateTime"),
        "type": _str(data, "type", "article"),
        "quality": _int(data, "quality", -1),
        "heat": _int(data, "heat", -1),
        "published": _bool(data, "published", False),
        "topics": tuple(_str_list(data, "topics")),
        "images": _images(data.get("images"), "images"),
        "related": tuple(_related(item, f"related[{i}]") for i, item in enumerate(_list(data, "related"))),
        "secured": _str(data, "secured") if data.get("secured") is not None else None,
    }
    return _build(Article, fields, "")


def _related(item: Any, where: str) -> RelatedRef:
    if not isinstance(item, dict):
        raise RecordError("must be a mapping", field=where)
    _check_keys(item, RELATED_KEYS, ("title", "webUrl", "provider"), where + ".")
    fields = {
        "title": _str(item, "title", where=where),
        "excerpt": _str(item, "excerpt", "", where=where),
        "published_at": _datetime(item, "publishedDateTime", where=where),
        "web_url": _str(item, "webUrl", where=where),
        "type": _str(item, "type", "article", where=where),
        "provider": _provider(item["provider"], f"{where}.provider"),
        "quality": _int(item, "quality", -1, where=where),
        "images": _images(item.get("images"), f"{where}.images"),
    }
    return _build(RelatedRef, fields, where + ".")


def _provider(value: Any, where: str) -> Provider:
    if not isinstance(value, dict):
        raise RecordError("must be a mapping with name and domain", field=where)
    _check_keys(value, PROVIDER_KEYS, PROVIDER_KEYS, where + ".")
    return _build(
        Provider,
        {"name": _str(value, "name", where=where), "domain": _str(value, "domain", where=where)},
        where + ".",
    )


def _images(value: Any, where: str) -> tuple[Image, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError("must be a list", field=where)
    out = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise RecordError("must be a mapping", field=here)
        _check_keys(item, IMAGE_KEYS, ("url",), here + ".")
        fields = {
            "url": _str(item, "url", where=here),
            "width": _int(item, "width", None, where=here),
            "height": _int(item, "height", None, where=here),
            "is_cached": _bool(item, "isCached", False, where=here),
        }
        out.append(_build(Image, fields, here + "."))
    return tuple(out)


def _build(factory: Callable[..., T], fields: dict[str, Any], prefix: str) -> T:
    """Construct a model object; its validation message names the record field where it can."""
    try:
        return factory(**fields)
    except ValueError as e:
        message = str(e)
        first = message.split(" ", 1)[0].rsplit(".", 1)[-1]
        known = first in TOP_KEYS or first in RELATED_KEYS or first in IMAGE_KEYS or first in PROVIDER_KEYS
        raise RecordError(message, field=prefix + first if known else prefix.rstrip(".") or None) from e


def _check_keys(
    data: Mapping[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], prefix: str
) -> None:
    for key in required:
        if data.get(key) is None:
            raise RecordError("is required", field=f"{prefix}{key}")
    for key in data:
        if key not in allowed:
            raise RecordError(f"unknown key (expected one of: {', '.join(allowed)})", field=f"{prefix}{key}")


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _str(data: Mapping[str, Any], key: str, default: str | None = None, *, where: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise RecordError(f"must be a string, got {type(value).__name__}", field=_field(where, key))
    return value


def _int(data: Mapping[str, Any], key: str, default: int | None, *, where: str = "") -> Any:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise RecordError(f"must be an integer, got {value!r}", field=_field(where, key))
    return value


def _bool(data: Mapping[str, Any], key: str, default: bool, *, where: str = "") -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise RecordError(f"must be true or false, got {value!r}", field=_field(where, key))
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise RecordError("must be a list", field=key)
    return value


def _str_list(data: Mapping[str, Any], key: str) -> list[str]:
    items = _list(data, key)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise RecordError(f"must be a string, got {item!r}", field=f"{key}[{i}]")
    return items


def _datetime(data: Mapping[str, Any], key: str, *, where: str = "") -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise RecordError(f"is not an ISO-8601 date-time: {value!r}", field=_field(where, key))
