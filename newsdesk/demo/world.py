"""The demo news world: providers and articles loaded from ``content/*.yaml`` and dated from ``now``.

The bundled content is data, not code: ``content/providers.yaml`` describes each fictional publisher
(its host, feed kind, page conventions) and ``content/<provider>.yaml`` holds its articles. Dates are
stored as *hours before now*, so the same files give a fresh, time-clustered news stream whenever the
demo starts, and a fixed ``now`` gives byte-identical feeds and pages (tests rely on that).

:func:`build_world` is pure: YAML text in, frozen :class:`World` out. The HTTP server only renders it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from newsdesk.errors import NewsdeskError
from newsdesk.model import utc

CONTENT_DIR = Path(__file__).parent / "content"
FEED_KINDS = ("rss", "atom", "jsonfeed", "news-sitemap")
IMAGE_FORMATS = ("jpeg", "png")
REDIRECT_CODES = (301, 302)
# What a syndicated copy does not take over from its original: how the original's own feed links to
# it, its availability and its media belong to the original's site.
NOT_INHERITED = ("link", "status", "private", "media", "modified_hours")


class DemoContentError(NewsdeskError):
    """The bundled demo content is inconsistent (unknown syndication source, duplicate URL, …)."""

    kind = "demo-content"


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """A fictional publisher: one virtual host (plus an optional media host) and one feed."""

    key: str
    name: str
    host: str
    media_host: str
    feed_kind: str
    feed_path: str
    category: str
    schema_type: str
    title_separator: str
    url_pattern: str
    tagline: str
    nav: tuple[str, ...]
    colours: tuple[str, str]
    twitter: str
    robots_disallow: tuple[str, ...]
    ttl_minutes: int | None = None
    feed_full_text: bool = False  # items carry the whole article (content:encoded / content_html)
    jsonld_graph: bool = False
    sitemap_index: bool = False
    language: str = "en"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    @property
    def domain(self) -> str:
        """The registered domain (``www.`` dropped), as a record's ``provider.domain`` shows it."""
        return self.host.removeprefix("www.")

    @property
    def feed_url(self) -> str:
        return self.base_url + self.feed_path

    @property
    def logo_url(self) -> str:
        return f"http://{self.media_host}/assets/logo.png"


@dataclass(frozen=True, slots=True)
class DemoImage:
    """An image the site generates on request; ``broken`` ones are served truncated on purpose."""

    url: str
    width: int
    height: int
    format: str  # jpeg | png
    word: str
    caption: str = ""
    broken: bool = False

    @property
    def content_type(self) -> str:
        return f"image/{self.format}"


@dataclass(frozen=True, slots=True)
class DemoMedia:
    """The audio enclosure of a podcast episode or the player of a video page."""

    kind: str  # audio | video
    url: str
    seconds: int


@dataclass(frozen=True, slots=True)
class DemoArticle:
    """Ground truth for one article of the demo world.

    ``url`` is the canonical URL (what a record's ``webUrl`` should become); ``feed_url`` is the link
    as the feed or sitemap lists it (``originalUrl``): with tracking parameters or through a ``/r/``
    redirect for a few articles. ``page_status`` is 404 for the one broken feed link, and
    ``robots_allowed`` is false for the page robots.txt forbids. ``body`` holds the paragraphs of the
    article text separated by blank lines, without any page boilerplate.
    """

    id: str
    provider: str
    provider_domain: str
    url: str
    feed_url: str
    title: str
    description: str
    author: str
    category: str
    type: str
    section: str
    published_at: datetime
    modified_at: datetime
    story: str | None
    syndicated_from: str | None
    images: tuple[DemoImage, ...]
    body: str
    tags: tuple[str, ...] = ()
    page_status: int = 200
    robots_allowed: bool = True
    redirect_status: int | None = None
    media: DemoMedia | None = None

    @property
    def image_urls(self) -> tuple[str, ...]:
        return tuple(image.url for image in self.images)

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p for p in self.body.split("\n\n") if p.strip())

    @property
    def word_count(self) -> int:
        return len(self.body.split())

    @property
    def story_key(self) -> str:
        """The story this article belongs to (ground truth for clustering): its ``story``, or its own id
        when it has none — an article without a ``story`` is the only report of its event. A syndicated
        copy takes its original's story."""
        return self.story or self.id


@dataclass(frozen=True, slots=True)
class World:
    """Everything the demo site serves, in provider order; articles newest first per provider."""

    now: datetime
    providers: tuple[DemoProvider, ...]
    articles: tuple[DemoArticle, ...]

    def provider(self, key_or_name: str) -> DemoProvider:
        for provider in self.providers:
            if key_or_name in (provider.key, provider.name):
                return provider
        raise KeyError(key_or_name)

    def of(self, provider: DemoProvider) -> tuple[DemoArticle, ...]:
        """The provider's articles, newest first."""
        mine = [a for a in self.articles if a.provider == provider.name]
        return tuple(sorted(mine, key=lambda a: a.published_at, reverse=True))


def load_world(now: datetime, content_dir: Path = CONTENT_DIR) -> World:
    """Read the bundled YAML files and build the world for ``now``."""
    providers_doc = _read_yaml(content_dir / "providers.yaml")
    articles_docs = {path.stem: _read_yaml(path) for path in sorted(content_dir.glob("*.yaml"))}
    articles_docs.pop("providers", None)
    return build_world(now, providers_doc, articles_docs)


def build_world(now: datetime, providers_doc: Any, articles_docs: dict[str, Any]) -> World:
    """Turn parsed YAML into a :class:`World`; raises :class:`DemoContentError` on inconsistent data."""
    now = utc(now)
    providers = tuple(_provider(item) for item in _as_list(providers_doc, "providers.yaml"))
    raw = _raw_articles(providers, articles_docs)
    originals = {item["id"]: (provider, item) for provider, item in raw if "syndicate_of" not in item}
    articles = tuple(_article(now, provider, item, originals) for provider, item in raw)
    _check_unique(articles)
    return World(now=now, providers=providers, articles=articles)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise DemoContentError(f"{path.name}: {e}") from e


def _as_list(doc: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(doc, list) or not all(isinstance(item, dict) for item in doc):
        raise DemoContentError(f"{where}: expected a list of mappings")
    return doc


def _provider(item: dict[str, Any]) -> DemoProvider:
    try:
        feed = item["feed"]
        provider = DemoProvider(
            key=item["key"],
            name=item["name"],
            host=item["host"],
            media_host=item.get("media_host", item["host"]),
            feed_kind=feed["kind"],
            feed_path=feed["path"],
            ttl_minutes=feed.get("ttl"),
            feed_full_text=bool(feed.get("full_text", False)),
            category=item["category"],
            schema_type=item["schema_type"],
            title_separator=item["title_separator"],
            url_pattern=item["url_pattern"],
            tagline=item["tagline"],
            nav=tuple(item["nav"]),
            colours=(item["colours"][0], item["colours"][1]),
            twitter=item["twitter"],
            robots_disallow=tuple(item.get("robots_disallow", ())),
            jsonld_graph=bool(item.get("jsonld_graph", False)),
            sitemap_index=bool(item.get("sitemap_index", False)),
        )
    except (KeyError, IndexError, TypeError) as e:
        raise DemoContentError(f"providers.yaml: provider {item.get('key')!r} lacks {e}") from e
    if provider.feed_kind not in FEED_KINDS:
        raise DemoContentError(f"providers.yaml: {provider.key}: unknown feed kind {provider.feed_kind!r}")
    return provider


def _raw_articles(
    providers: tuple[DemoProvider, ...], docs: dict[str, Any]
) -> list[tuple[DemoProvider, dict[str, Any]]]:
    by_key = {p.key: p for p in providers}
    unknown = set(docs) - set(by_key)
    if unknown:
        raise DemoContentError(f"article files for unknown providers: {sorted(unknown)}")
    return [(by_key[key], item) for key in by_key for item in _as_list(docs.get(key, []), f"{key}.yaml")]


def _article(
    now: datetime,
    provider: DemoProvider,
    item: dict[str, Any],
    originals: dict[str, tuple[DemoProvider, dict[str, Any]]],
) -> DemoArticle:
    try:
        source = _syndication_source(item, originals)
        merged = _merge_syndicated(item, source[1]) if source else item
        return _build_article(now, provider, merged, source, originals)
    except (KeyError, TypeError, ValueError) as e:
        raise DemoContentError(f"{provider.key}.yaml: article {item.get('id')!r}: {e!r}") from e


def _syndication_source(
    item: dict[str, Any], originals: dict[str, tuple[DemoProvider, dict[str, Any]]]
) -> tuple[DemoProvider, dict[str, Any]] | None:
    if "syndicate_of" not in item:
        return None
    if item["syndicate_of"] not in originals:
        raise DemoContentError(f"article {item['id']!r} syndicates unknown article {item['syndicate_of']!r}")
    return originals[item["syndicate_of"]]


def _merge_syndicated(item: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """A syndicated copy: the original's text, with the copy's own intro, headline suffix and outro."""
    paragraphs = [p for p in str(original["body"]).split("\n\n") if p.strip()]
    if "intro" in item:
        paragraphs[0] = item["intro"]
    if "outro" in item:
        paragraphs.append(item["outro"])
    merged = {k: v for k, v in original.items() if k not in NOT_INHERITED} | item
    merged["title"] = item.get("title", original["title"] + item.get("title_suffix", ""))
    merged["body"] = "\n\n".join(p.strip() for p in paragraphs)
    return merged


def _build_article(
    now: datetime,
    provider: DemoProvider,
    item: dict[str, Any],
    source: tuple[DemoProvider, dict[str, Any]] | None,
    originals: dict[str, tuple[DemoProvider, dict[str, Any]]],
) -> DemoArticle:
    published = now - timedelta(hours=float(item["hours_ago"]))
    url = _page_url(provider, item, published)
    link = item.get("link", {})
    return DemoArticle(
        id=item["id"],
        provider=provider.name,
        provider_domain=provider.domain,
        url=url,
        feed_url=_feed_link(provider, item["id"], url, link),
        title=item["title"].strip(),
        description=" ".join(item["description"].split()),
        author=item["author"],
        category=item.get("category", provider.category),
        type=item.get("type", "article"),
        section=item["section"],
        published_at=published,
        modified_at=published + timedelta(hours=float(item.get("modified_hours", 0))),
        story=item.get("story"),
        syndicated_from=_original_url(now, source) if source else None,
        images=_images(provider, item, published),
        body=_clean_body(str(item.get("body", ""))),
        tags=tuple(item.get("tags", ())),
        page_status=int(item.get("status", 200)),
        robots_allowed=not item.get("private", False),
        redirect_status=link.get("redirect"),
        media=_media(provider, item),
    )


def _original_url(now: datetime, source: tuple[DemoProvider, dict[str, Any]]) -> str:
    provider, item = source
    return _page_url(provider, item, now - timedelta(hours=float(item["hours_ago"])))


def _page_url(provider: DemoProvider, item: dict[str, Any], published: datetime) -> str:
    path = provider.url_pattern.format(
        yyyy=f"{published.year:04d}",
        mm=f"{published.month:02d}",
        dd=f"{published.day:02d}",
        slug=item["slug"],
        section=_slugify(item["section"]),
    )
    if item.get("private"):
        path = "/private" + path
    return provider.base_url + path


def _feed_link(provider: DemoProvider, article_id: str, url: str, link: dict[str, Any]) -> str:
    """The URL the feed lists: canonical, with tracking parameters, or a short ``/r/`` redirect."""
    if link.get("redirect") is not None:
        if link["redirect"] not in REDIRECT_CODES:
            raise ValueError(f"redirect must be one of {REDIRECT_CODES}")
        return f"{provider.base_url}/r/{short_id(article_id)}"
    query = link.get("query")
    return f"{url}?{query}" if query else url


def short_id(article_id: str) -> str:
    """A stable short token for ``/r/<token>`` links (the kind of id link shorteners hand out)."""
    return hashlib.sha1(article_id.encode()).hexdigest()[:8]


def _images(provider: DemoProvider, item: dict[str, Any], published: datetime) -> tuple[DemoImage, ...]:
    out = []
    for n, spec in enumerate(item.get("images", []), start=1):
        width, height = (int(v) for v in str(spec["size"]).lower().split("x"))
        fmt = spec.get("format", "jpeg")
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f"image format must be one of {IMAGE_FORMATS}")
        ext = "jpg" if fmt == "jpeg" else "png"
        url = f"http://{provider.media_host}/media/{published:%Y/%m}/{item['slug']}-{n}.{ext}"
        out.append(
            DemoImage(
                url, width, height, fmt, spec["word"], spec.get("caption", ""), spec.get("broken", False)
            )
        )
    return tuple(out)


def _media(provider: DemoProvider, item: dict[str, Any]) -> DemoMedia | None:
    spec = item.get("media")
    if not spec:
        return None
    if spec["kind"] == "audio":
        return DemoMedia(
            "audio", f"http://{provider.media_host}/audio/{item['slug']}.mp3", int(spec["seconds"])
        )
    return DemoMedia("video", f"{provider.base_url}/embed/{item['slug']}", int(spec["seconds"]))


def _clean_body(body: str) -> str:
    """Re-flow YAML block text: one paragraph per blank-line-separated block, single spaces inside."""
    paragraphs = (" ".join(block.split()) for block in body.split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _slugify(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _check_unique(articles: tuple[DemoArticle, ...]) -> None:
    for attr in ("id", "url"):
        values = [getattr(a, attr) for a in articles]
        duplicates = {v for v in values if values.count(v) > 1}
        if duplicates:
            raise DemoContentError(f"duplicate article {attr}: {sorted(duplicates)}")
