"""Feed and sitemap documents of the demo providers: RSS 2.0, Atom 1.0, JSON Feed 1.1, Google News
sitemaps, and a sitemap index over a gzipped urlset.

Each renderer is a pure function of a provider and its articles (newest first) and returns the
document as text. The documents are written by hand rather than through an XML library so that the
namespace prefixes look like the ones real publishers emit (``dc:``, ``content:``, ``media:``,
``news:``) and so the output is byte-stable for a fixed ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from newsdesk.demo.media import mp3_length
from newsdesk.demo.world import DemoArticle, DemoProvider

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
GENERATOR = "DemoPress 4.2"  # a fictional CMS name, as real feeds carry their CMS in <generator>
FEED_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "jsonfeed": "application/feed+json; charset=utf-8",
    "news-sitemap": "application/xml; charset=utf-8",
}
DISCOVERY_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "jsonfeed": "application/feed+json",
}


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, as newsdesk records print dates."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def body_html(article: DemoArticle) -> str:
    """The article text as simple HTML paragraphs (``## `` lines become subheadings)."""
    parts = []
    for paragraph in article.paragraphs:
        if paragraph.startswith("## "):
            parts.append(f"<h2>{escape(paragraph[3:])}</h2>")
        else:
            parts.append(f"<p>{escape(paragraph)}</p>")
    return "\n".join(parts)


def render_feed(provider: DemoProvider, articles: Sequence[DemoArticle], now: datetime) -> str:
    """The provider's one feed document, of its declared kind."""
    renderers = {
        "rss": render_rss,
        "atom": render_atom,
        "jsonfeed": render_json_feed,
        "news-sitemap": render_news_sitemap,
    }
    return renderers[provider.feed_kind](provider, articles, now)


def newest(articles: Sequence[DemoArticle], now: datetime) -> datetime:
    return max((a.modified_at for a in articles), default=now)


# --- RSS 2.0 -----------------------------------------------------------------------------------------


def render_rss(provider: DemoProvider, articles: Sequence[DemoArticle], now: datetime) -> str:
    ttl = f"    <ttl>{provider.ttl_minutes}</ttl>\n" if provider.ttl_minutes else ""
    items = "".join(_rss_item(provider, a) for a in articles)
    return (
        XML_DECLARATION + '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">\n'
        "  <channel>\n"
        f"    <title>{escape(provider.name)}</title>\n"
        f"    <link>{escape(provider.base_url)}/</link>\n"
        f"    <description>{escape(provider.tagline)}</description>\n"
        f"    <language>{provider.language}</language>\n"
        f"    <lastBuildDate>{format_datetime(newest(articles, now), usegmt=True)}</lastBuildDate>\n"
        f"    <generator>{GENERATOR}</generator>\n{ttl}"
        f'    <atom:link href={quoteattr(provider.feed_url)} rel="self" type="application/rss+xml"/>\n'
        f"    <image><url>{escape(provider.logo_url)}</url><title>{escape(provider.name)}</title>"
        f"<link>{escape(provider.base_url)}/</link></image>\n"
        f"{items}  </channel>\n</rss>\n"
    )


def _rss_item(provider: DemoProvider, article: DemoArticle) -> str:
    lines = [
        f"      <title>{escape(article.title)}</title>",
        f"      <link>{escape(article.feed_url)}</link>",
        f'      <guid isPermaLink="false">{provider.domain}:{article.id}</guid>',
        f"      <pubDate>{format_datetime(article.published_at, usegmt=True)}</pubDate>",
        f"      <dc:creator>{escape(article.author)}</dc:creator>",
        f"      <category>{escape(article.section)}</category>",
        *(f"      <category>{escape(tag)}</category>" for tag in article.tags),
        f"      <description>{escape(article.description)}</description>",
    ]
    if provider.feed_full_text:
        lines.append(f"      <content:encoded>{escape(body_html(article))}</content:encoded>")
    lines.extend(_rss_media(article))
    return "    <item>\n" + "\n".join(lines) + "\n    </item>\n"


def _rss_media(article: DemoArticle) -> list[str]:
    lines = [
        f'      <media:content url={quoteattr(i.url)} medium="image" type="{i.content_type}"'
        f' width="{i.width}" height="{i.height}"/>'
        for i in article.images[:1]
    ]
    if article.media is not None and article.media.kind == "audio":
        length = mp3_length(article.media.seconds)
        lines.append(
            f'      <enclosure url={quoteattr(article.media.url)} length="{length}" type="audio/mpeg"/>'
        )
        lines.append(f"      <itunes:duration>{article.media.seconds}</itunes:duration>")
        lines.append("      <itunes:episodeType>full</itunes:episodeType>")
    return lines


# --- Atom 1.0 ----------------------------------------------------------------------------------------


def render_atom(provider: DemoProvider, articles: Sequence[DemoArticle], now: datetime) -> str:
    entries = "".join(_atom_entry(provider, a) for a in articles)
    return (
        XML_DECLARATION + '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">\n'
        f"  <id>tag:{provider.domain},2026:feed</id>\n"
        f"  <title>{escape(provider.name)}</title>\n"
        f"  <subtitle>{escape(provider.tagline)}</subtitle>\n"
        f"  <updated>{iso(newest(articles, now))}</updated>\n"
        f'  <link rel="self" type="application/atom+xml" href={quoteattr(provider.feed_url)}/>\n'
        f'  <link rel="alternate" type="text/html" href={quoteattr(provider.base_url + "/")}/>\n'
        f"  <logo>{escape(provider.logo_url)}</logo>\n"
        f"  <author><name>{escape(provider.name)}</name></author>\n"
        f'  <generator version="4.2">DemoPress</generator>\n'
        f"{entries}</feed>\n"
    )


def _atom_entry(provider: DemoProvider, article: DemoArticle) -> str:
    lines = [
        f"    <id>tag:{provider.domain},{article.published_at:%Y-%m-%d}:{article.id}</id>",
        f'    <title type="text">{escape(article.title)}</title>',
        f'    <link rel="alternate" type="text/html" href={quoteattr(article.feed_url)}/>',
        f"    <published>{iso(article.published_at)}</published>",
        f"    <updated>{iso(article.modified_at)}</updated>",
        f"    <author><name>{escape(article.author)}</name></author>",
        f"    <category term={quoteattr(article.section)}/>",
        *(f"    <category term={quoteattr(tag)}/>" for tag in article.tags),
        f'    <summary type="text">{escape(article.description)}</summary>',
        *(
            f'    <link rel="enclosure" type="{i.content_type}" href={quoteattr(i.url)}/>'
            for i in article.images[:1]
        ),
    ]
    return "  <entry>\n" + "\n".join(lines) + "\n  </entry>\n"


# --- JSON Feed 1.1 -----------------------------------------------------------------------------------


def render_json_feed(provider: DemoProvider, articles: Sequence[DemoArticle], now: datetime) -> str:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": provider.name,
        "home_page_url": provider.base_url + "/",
        "feed_url": provider.feed_url,
        "description": provider.tagline,
        "icon": provider.logo_url,
        "language": provider.language,
        "authors": [{"name": provider.name, "url": provider.base_url + "/"}],
        "items": [_json_item(provider, a) for a in articles],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _json_item(provider: DemoProvider, article: DemoArticle) -> dict[str, object]:
    item: dict[str, object] = {
        "id": f"{provider.domain}/{article.id}",
        "url": article.feed_url,
        "title": article.title,
        "summary": article.description,
        "date_published": iso(article.published_at),
        "date_modified": iso(article.modified_at),
        "authors": [{"name": article.author}],
        "tags": [article.section, *article.tags],
    }
    if provider.feed_full_text:
        item["content_html"] = body_html(article)
    else:
        item["content_text"] = article.description  # JSON Feed 1.1 requires one of the two
    if article.images:
        item["image"] = article.images[0].url
    return item


# --- sitemaps ----------------------------------------------------------------------------------------


def render_news_sitemap(provider: DemoProvider, articles: Sequence[DemoArticle], now: datetime) -> str:
    """A Google News sitemap: one ``<url>`` per article with ``news:publication``, date and title."""
    urls = "".join(_news_url(provider, a) for a in articles)
    return (
        XML_DECLARATION + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
        ' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
        f"{urls}</urlset>\n"
    )


def _news_url(provider: DemoProvider, article: DemoArticle) -> str:
    images = "".join(
        f"    <image:image><image:loc>{escape(i.url)}</image:loc></image:image>\n" for i in article.images
    )
    return (
        "  <url>\n"
        f"    <loc>{escape(article.feed_url)}</loc>\n"
        f"    <lastmod>{iso(article.modified_at)}</lastmod>\n"
        "    <news:news>\n"
        "      <news:publication>\n"
        f"        <news:name>{escape(provider.name)}</news:name>\n"
        f"        <news:language>{provider.language}</news:language>\n"
        "      </news:publication>\n"
        f"      <news:publication_date>{iso(article.published_at)}</news:publication_date>\n"
        f"      <news:title>{escape(article.title)}</news:title>\n"
        "    </news:news>\n"
        f"{images}  </url>\n"
    )


def render_sitemap_index(sitemap_urls: Sequence[tuple[str, datetime]]) -> str:
    entries = "".join(
        f"  <sitemap>\n    <loc>{escape(url)}</loc>\n    <lastmod>{iso(when)}</lastmod>\n  </sitemap>\n"
        for url, when in sitemap_urls
    )
    return (
        XML_DECLARATION
        + f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n'
    )


def render_urlset(articles: Sequence[DemoArticle]) -> str:
    """A plain sitemap urlset (canonical URLs, ``lastmod``), the kind CMSs split per month and gzip."""
    urls = "".join(
        f"  <url>\n    <loc>{escape(a.url)}</loc>\n    <lastmod>{iso(a.modified_at)}</lastmod>\n  </url>\n"
        for a in articles
    )
    return (
        XML_DECLARATION + f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n'
    )
