"""OPML 1.0/2.0 subscription lists: read them to import sources, write them to export ours.

Contract: :func:`parse_opml` returns one :class:`OpmlOutline` per outline that carries an http(s)
``xmlUrl``, in document order, each once; its ``category`` is the path of enclosing folder outlines
(``"Tech/AI"``), or the outline's own ``category`` attribute when it sits at the top level. Anything
that is not OPML raises :class:`ParseError`. The XML parser refuses entities and network access, as
for sitemaps: OPML files come from users and other tools.

:func:`write_opml` writes sources grouped into one folder per category (sources without one at the
top level), so that ``parse_opml(write_opml(sources, t))`` gives back each source's url, name,
category and site URL (``htmlUrl``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from typing import TYPE_CHECKING

from newsdesk.errors import ParseError
from newsdesk.model import Source, SourceKind, is_http_url, now
from newsdesk.sources.sanitize import without_markup

if TYPE_CHECKING:
    from lxml import etree

CATEGORY_SEPARATOR = "/"
_OUTLINE_TYPE = {SourceKind.FEED: "rss", SourceKind.SITEMAP: "sitemap", SourceKind.PAGE: "link"}


@dataclass(frozen=True, slots=True)
class OpmlOutline:
    """A subscription from an OPML file."""

    title: str | None
    xml_url: str
    html_url: str | None = None
    category: str | None = None


def parse_opml(content: bytes) -> list[OpmlOutline]:
    """The subscriptions in an OPML document (see the module docstring for the contract)."""
    root = _root(content)
    body = next((child for child in root if child.tag == "body"), None)
    if body is None:
        raise ParseError("OPML without <body>")
    found: dict[str, OpmlOutline] = {}
    for outline in _walk(body, ()):
        found.setdefault(outline.xml_url, outline)
    return list(found.values())


def _root(content: bytes) -> etree._Element:
    # lxml imported where an OPML document is read or written: every run that syncs a sources file
    # imports this module, and reads none (≈ 25 CPU-ms; docs/benchmarks.md, "The cold 304 poll")
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as e:
        raise ParseError(f"OPML is not well-formed XML: {e}") from e
    if root is None or root.tag != "opml":
        raise ParseError(f"not OPML: root element <{getattr(root, 'tag', None)}>")
    return root


def _walk(node: etree._Element, folders: tuple[str, ...]) -> Iterator[OpmlOutline]:
    for child in node:
        if child.tag != "outline":
            continue
        label = _name(_attr(child, "title") or _attr(child, "text"))  # a source name or folder: plain
        xml_url = _attr(child, "xmlUrl") or _attr(child, "xmlurl")
        if xml_url and is_http_url(xml_url):
            yield OpmlOutline(
                title=label,
                xml_url=xml_url,
                html_url=_http(_attr(child, "htmlUrl") or _attr(child, "htmlurl")),
                category=CATEGORY_SEPARATOR.join(folders) or _category_attr(child),
            )
        yield from _walk(child, (*folders, label) if label and not xml_url else folders)


def _attr(node: etree._Element, name: str) -> str | None:
    value = node.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _name(value: str | None) -> str | None:
    """An outline's label without markup: it becomes a source's name, and so a record's provider."""
    return (without_markup(value) or None) if value else None


def _http(url: str | None) -> str | None:
    return url if url and is_http_url(url) else None


def _category_attr(node: etree._Element) -> str | None:
    """OPML 2.0 ``category``: comma-separated slash paths; the first path, without its leading slash."""
    value = _attr(node, "category")
    if not value:
        return None
    first = value.split(",")[0].strip().strip(CATEGORY_SEPARATOR)
    return _name(first)


def write_opml(sources: Sequence[Source], title: str) -> bytes:
    """An OPML 2.0 document listing ``sources``, one folder per category (see module docstring)."""
    from lxml import etree  # see _root

    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(now(), usegmt=True)
    body = etree.SubElement(opml, "body")
    folders: dict[str, etree._Element] = {}
    for source in sources:
        parent = body
        if source.category:
            if source.category not in folders:
                folders[source.category] = etree.SubElement(body, "outline", text=source.category)
            parent = folders[source.category]
        _source_outline(parent, source)
    return bytes(etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _source_outline(parent: etree._Element, source: Source) -> None:
    from lxml import etree  # loaded by write_opml, its caller

    label = source.name or source.url
    outline = etree.SubElement(parent, "outline", type=_OUTLINE_TYPE[source.kind], text=label, title=label)
    outline.set("xmlUrl", source.url)
    if source.site_url:
        outline.set("htmlUrl", source.site_url)
