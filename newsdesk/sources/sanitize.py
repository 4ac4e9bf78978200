"""HTML from feeds, made safe to store and show.

Feeds are hostile input: the feedparser test corpus alone carries hundreds of XSS vectors (``<script>``,
``on*=`` handlers, ``javascript:`` links, CSS expressions). Everything a feed hands us as HTML goes
through :func:`clean_html` before it leaves the sources stage, and every field documented as plain text
goes through :func:`plain_text`. Both wrap nh3 (the Rust ``ammonia`` sanitiser), which parses like a
browser, so the output is safe whatever the input looked like.

Contract:

* :func:`clean_html` keeps ammonia's conservative tag/attribute allow-list, drops ``<script>``/``<style>``
  with their content, keeps only http(s)/mailto URLs, resolves relative ``href``/``src`` against the base
  URL (so stored content still works out of context) and marks links ``noopener noreferrer nofollow``.
* :func:`plain_text` returns text without any markup, entities decoded, whitespace collapsed. Angle
  brackets around a word that is no HTML element (``<AI>``) are kept as ``‹AI›``: text, not a tag.
* :func:`publishable_images` drops what must not be published as an image: SVG, by the URL's
  extension, or because the fetcher or the image cache sniffed or was told it is SVG (``SVG_REFUSED``
  in its error). SVG is a document that can carry script; readers and templates embed it as an image.
* :func:`without_markup` is the guard for a field that is already plain text (a title, an excerpt, a
  provider or author name): text with nothing an HTML parser reads as a tag comes back unchanged (its
  entities were decoded once already; decoding again would turn a headline about "&amp;" into "&");
  text with tags goes through :func:`plain_text`. Its output is a fixed point of itself, so the decider
  and every output writer can apply it and a record still loads and dumps to the same bytes.

Records land in Hugo/Astro sites whose templates may render a field as HTML: a plain-text field must
never carry markup, from ingestion on, and the writers apply the guard again for rows stored before.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from urllib.parse import urljoin, urlsplit

import nh3

from newsdesk.fetch.sniff import SVG_REFUSED
from newsdesk.model import Image, is_http_url

LINK_REL = "noopener noreferrer nofollow"
"""Feed links are third-party: no opener access, no referrer, no ranking credit."""

URL_SCHEMES = frozenset({"http", "https", "mailto"})

PLAIN_TEXT_PASSES = 3
"""How many times :func:`plain_text` re-strips text that still looks like markup after decoding.
Double-escaped markup (``&amp;lt;script&amp;gt;``) needs two passes; three covers triple escaping,
which the feedparser corpus does not go beyond."""

SVG_EXTENSIONS = (".svg", ".svgz")

_MARKUP = re.compile(r"<(?=/?[a-zA-Z!])")  # what an HTML parser reads as a tag opener
_TAG_LIKE = re.compile(r"<(/?)([a-zA-Z][^\s/<>]*)([^<>]*)(>?)")
_REFERENCE = re.compile(r"&[#A-Za-z0-9]")  # what an HTML parser may read as a character reference
_TAG_NAME = re.compile(r"</?([a-zA-Z][^\s/<>]*)")  # starts where _TAG_LIKE does, captures its name
_SERIALISED_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')
"""A tag as the sanitiser writes one out: every ``<`` of the text is escaped, so each ``<`` opens a tag,
and attribute values are always in double quotes (a ``"`` inside is ``&quot;``, a ``>`` is not
escaped), so a ``>`` inside quotes ends no tag."""

# fmt: skip below: a word list, one word a line, would run to twenty lines of noise.
_NEWER_ELEMENTS = frozenset({
    "data", "dialog", "frame", "image", "listing", "main", "noembed", "noframes", "picture", "plaintext",
    "portal", "search", "slot", "template", "xmp",
})  # fmt: skip


@cache
def html_elements() -> frozenset[str]:
    """Element names an HTML parser knows (lxml's list plus the HTML Living Standard's newer and legacy
    ones). Angle brackets around any other word are text: Korean and Chinese pages write titles of works
    so (``<The Palace: Tale of Jang Noksu>``, 2 of the 181 benchmark pages' descriptions). Read on first
    use: lxml is ≈ 25 CPU-ms to load, and a run that parses nothing (every feed 304) needs neither."""
    from lxml.html import defs

    return frozenset(defs.tags) | _NEWER_ELEMENTS


KEPT_ANGLES = ("\u2039", "\u203a")
"""What ``<`` and ``>`` around a word that is no HTML element become: single angle quotation marks,
which read the same but open no tag in a template that renders the field as HTML."""


def clean_html(fragment: str, base_url: str | None = None) -> str:
    """Sanitised HTML for ``fragment``; relative URLs are resolved against ``base_url`` when it is an
    absolute http(s) URL and dropped otherwise (they would point nowhere once stored). Empty URLs are
    dropped too: feedparser's own sanitiser blanks ``javascript:`` links, and resolving ``""`` would
    turn them into links to the feed itself."""
    return _html_cleaner(base_url).clean(fragment)


@lru_cache(maxsize=256)
def _html_cleaner(base_url: str | None) -> nh3.Cleaner:
    """The sanitiser for fragments under ``base_url``, built once per base (every item of a feed shares
    it): ``nh3.clean`` builds one per call, which costs more than cleaning a short fragment
    (docs/benchmarks.md, "Polling at reader's cost")."""
    return nh3.Cleaner(link_rel=LINK_REL, url_schemes=set(URL_SCHEMES), url_relative=_resolver(base_url))


_TAG_STRIPPER = nh3.Cleaner(tags=set())
"""No tag allowed: what :func:`plain_text` reads text with (script and style bodies go, as in
:func:`clean_html`). Built once, for the reason :func:`_html_cleaner` gives."""


_URL_PATH_CHARS = r"[A-Za-z0-9\-._~%!$&'()*+,=:@/"
_PLAIN_ROOTED_PATH = re.compile(
    rf"/(?!/){_URL_PATH_CHARS}]*"  # a path from the root: not "//host", no ";" (urljoin splits it off)
    rf"(?:\?{_URL_PATH_CHARS};?]+)?(?:#{_URL_PATH_CHARS};?#]+)?"  # a query and a fragment, neither empty
)
"""A link from the site's root (``/images/a.jpg``) that ``urljoin`` would only prefix with the base's
scheme and host: the common relative link inside feed content, joined here without two URL parses.
A path with a dot segment (any ``/.``) takes the long way, which removes them."""


def _resolver(base_url: str | None) -> Callable[[str], str | None]:
    """The ``url_relative`` callback for ``base_url`` (made once per base, with its cleaner)."""
    base = base_url if base_url is not None and is_http_url(base_url) else None
    origin = _origin(base) if base is not None else None

    def resolve(url: str) -> str | None:
        link = url.strip()
        if base is None or not link:
            return None
        if origin is not None and _PLAIN_ROOTED_PATH.fullmatch(link) and "/." not in link:
            return origin + link
        try:
            return urljoin(base, link)
        except ValueError:
            return None

    return resolve


def _origin(base: str) -> str | None:
    """``scheme://netloc`` of ``base`` as ``urljoin`` writes it for a link from the root (the scheme
    lower-cased, the rest as given), or None when ``base`` does not parse."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def plain_text(fragment: str, *, cleaned: str | None = None) -> str:
    """``fragment`` (HTML or text) as one line of plain text: tags and script/style bodies removed,
    entities decoded, whitespace collapsed. Text that decodes into markup again is stripped again.

    ``cleaned``: ``clean_html(fragment)``, when the caller has it (a feed entry's content is both
    stored as HTML and read as text). The first pass then reads the text out of it instead of parsing
    ``fragment`` a second time: the same parse made both, the sanitiser removes the same script and
    style bodies either way, and the tags it keeps hold the same text, escaped the same way (none of
    them is a raw-text element). Not when ``fragment`` has angled words (``<AI>``), which the first
    pass keeps as text and the sanitiser drops as unknown tags."""
    return " ".join(spaced_text(fragment, cleaned=cleaned).split())


def spaced_text(fragment: str, *, cleaned: str | None = None) -> str:
    """:func:`plain_text` before its whitespace is collapsed: the same characters between the spaces,
    for a caller that reads only the start (a content's text compared with its summary; collapsing
    the whole of a long content's text was a tenth of a new feed entry's work)."""
    if "<" not in fragment and ("&" not in fragment or _literal_ampersands(fragment)):
        return fragment  # already plain: most titles, authors, tags
    if cleaned is not None and _only_html_elements(fragment):
        text = html.unescape(_SERIALISED_TAG.sub("", cleaned))
    else:
        text = _text_pass(fragment)
    for _ in range(PLAIN_TEXT_PASSES - 1):
        if not _MARKUP.search(text):
            break
        text = _text_pass(text)
    else:
        text = _MARKUP.sub("", text)  # still markup after the last pass: drop every tag opener
    return text


def _text_pass(text: str) -> str:
    """One pass of :func:`plain_text`: the text the sanitiser leaves with no tag allowed, decoded."""
    return html.unescape(_TAG_STRIPPER.clean(_keep_angled_words(text)))


def _literal_ampersands(text: str) -> bool:
    """True when every ``&`` in ``text`` (which has no ``<``) is a plain character to an HTML parser,
    as in "Tom & Jerry": no letter, digit or ``#`` follows it, so nothing can be decoded and the
    sanitiser would hand the text back as is (NUL and a byte-order mark aside, which it drops)."""
    return "\x00" not in text and "\ufeff" not in text and not _REFERENCE.search(text)


def _keep_angled_words(text: str) -> str:
    """``text`` with ``<word …>`` turned into ``‹word …›`` when ``word`` is no HTML element, so that
    stripping tags keeps it: it is text in brackets, and as text it can no longer open a tag.
    Markup whose every tag is an HTML element (nearly all of it) is returned as is without a
    per-tag rewrite: ``_TAG_NAME`` finds the same names at the same places as ``_TAG_LIKE``, since
    what ``_TAG_LIKE`` consumes after a name holds no ``<``."""
    if _only_html_elements(text):
        return text

    known = html_elements()

    def keep(match: re.Match[str]) -> str:
        slash, name, rest, close = match.groups()
        if name.lower() in known:
            return match.group(0)
        return f"{KEPT_ANGLES[0]}{slash}{name}{rest}{KEPT_ANGLES[1] if close else ''}"

    return _TAG_LIKE.sub(keep, text)


def _only_html_elements(text: str) -> bool:
    return html_elements().issuperset(map(str.lower, _TAG_NAME.findall(text)))


def without_markup(text: str) -> str:
    """``text``, a plain-text field, with any markup removed: unchanged when nothing in it reads as a
    tag opener, else :func:`plain_text` of it (tags and script bodies stripped, entities decoded once,
    whitespace collapsed). Applying it twice gives the same result as once."""
    if not _MARKUP.search(text):
        return text
    return plain_text(text)


def is_svg_url(url: str) -> bool:
    """Whether ``url``'s path names an SVG file (``.svg``/``.svgz``, any case)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return path.lower().endswith(SVG_EXTENSIONS)


def publishable_images(images: Iterable[Image]) -> tuple[Image, ...]:
    """``images`` without the SVGs: named so by their URL, or refused as SVG by the image cache (by
    content type or sniffed bytes). Applied by every writer, so rows stored before the check hold too."""
    return tuple(
        image for image in images if not is_svg_url(image.url) and SVG_REFUSED not in (image.error or "")
    )
