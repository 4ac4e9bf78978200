"""HTML pages of the demo providers: article pages, home pages, video embeds, robots.txt, 404s.

Article pages carry what real news pages carry and what newsdesk's extractor has to cope with: a
site-suffixed ``<title>``, ``rel=canonical``, OpenGraph and Twitter tags, meta description/author,
a JSON-LD object (plain or inside an ``@graph``), and around the story the usual boilerplate —
cookie banner, navigation, "most read", newsletter box, share links and footer — which a good
extractor drops. Everything is a pure function returning text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from newsdesk.demo.feeds import DISCOVERY_TYPES, iso
from newsdesk.demo.media import LOGO_SIZE
from newsdesk.demo.world import DemoArticle, DemoImage, DemoProvider

MOST_READ_COUNT = 5
HOME_PAGE_COUNT = 20
BODY_IMAGE_AFTER = 3  # the second picture sits after the third paragraph, as CMS layouts place it
CATEGORY_SCHEMA_TYPES = {"opinion": "OpinionNewsArticle", "analysis": "AnalysisNewsArticle"}
TYPE_SCHEMA_TYPES = {"video": "VideoObject", "podcast": "PodcastEpisode"}


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _human_date(article: DemoArticle) -> str:
    return f"{article.published_at:%d %B %Y, %H:%M} UTC"


def _iso_duration(seconds: int) -> str:
    return f"PT{seconds // 60}M{seconds % 60}S"


# --- JSON-LD ------------------------------------------------------------------------------------------


def schema_type(provider: DemoProvider, article: DemoArticle) -> str:
    """The schema.org type of the page: by media type first, then by category, else the site's default."""
    return (
        TYPE_SCHEMA_TYPES.get(article.type)
        or CATEGORY_SCHEMA_TYPES.get(article.category)
        or provider.schema_type
    )


def _publisher(provider: DemoProvider) -> dict[str, object]:
    logo = {"@type": "ImageObject", "url": provider.logo_url, "width": LOGO_SIZE[0], "height": LOGO_SIZE[1]}
    return {"@type": "Organization", "name": provider.name, "url": provider.base_url + "/", "logo": logo}


def _image_object(image: DemoImage) -> dict[str, object]:
    return {"@type": "ImageObject", "url": image.url, "width": image.width, "height": image.height}


def json_ld(provider: DemoProvider, article: DemoArticle) -> dict[str, object]:
    """The page's JSON-LD document (``@context`` included)."""
    node: dict[str, object] = {
        "@type": schema_type(provider, article),
        "headline": article.title,
        "description": article.description,
        "datePublished": iso(article.published_at),
        "dateModified": iso(article.modified_at),
        "author": [
            {
                "@type": "Person",
                "name": article.author,
                "url": f"{provider.base_url}/authors/{_slug(article.author)}",
            }
        ],
        "publisher": _publisher(provider),
        "image": [_image_object(i) for i in article.images],
        "mainEntityOfPage": {"@type": "WebPage", "@id": article.url},
        "articleSection": article.section,
        "keywords": list(article.tags),
        "inLanguage": provider.language,
    }
    node.update(_media_fields(provider, article))
    if not provider.jsonld_graph:
        return {"@context": "https://schema.org", **node}
    website = {"@type": "WebSite", "@id": provider.base_url + "/#website", "name": provider.name}
    return {"@context": "https://schema.org", "@graph": [website, {**node, "@id": article.url + "#article"}]}


def _media_fields(provider: DemoProvider, article: DemoArticle) -> dict[str, object]:
    media = article.media
    if media is None:
        return {"wordCount": article.word_count}
    fields: dict[str, object] = {"name": article.title, "duration": _iso_duration(media.seconds)}
    if media.kind == "video":
        fields |= {"uploadDate": iso(article.published_at), "embedUrl": media.url}
        fields["thumbnailUrl"] = [i.url for i in article.images]
    else:
        fields["associatedMedia"] = {
            "@type": "MediaObject",
            "contentUrl": media.url,
            "encodingFormat": "audio/mpeg",
        }
        fields["partOfSeries"] = {
            "@type": "PodcastSeries",
            "name": f"{provider.name} Weekly",
            "url": provider.base_url + "/podcast",
        }
    return fields


def _json_ld_script(document: dict[str, object]) -> str:
    text = json.dumps(document, ensure_ascii=False, indent=1).replace("</", "<\\/")
    return f'<script type="application/ld+json">\n{text}\n</script>'


# --- head ---------------------------------------------------------------------------------------------


def _feed_link(provider: DemoProvider) -> str:
    kind = DISCOVERY_TYPES.get(provider.feed_kind)
    if kind is None:
        return ""  # a sitemap-only site has nothing to announce with rel=alternate
    return f'<link rel="alternate" type="{kind}" title="{_attr(provider.name)}" href="{_attr(provider.feed_url)}">'


def _og_type(article: DemoArticle) -> str:
    # OpenGraph has no podcast type; podcast pages use "article" and say "PodcastEpisode" in JSON-LD.
    return "video.other" if article.type == "video" else "article"


def _article_head(provider: DemoProvider, article: DemoArticle) -> str:
    meta = [
        f"<title>{escape(article.title)}{escape(provider.title_separator)}{escape(provider.name)}</title>",
        f'<meta name="description" content="{_attr(article.description)}">',
        f'<meta name="author" content="{_attr(article.author)}">',
        f'<link rel="canonical" href="{_attr(article.url)}">',
        f'<meta property="og:type" content="{_og_type(article)}">',
        f'<meta property="og:title" content="{_attr(article.title)}">',
        f'<meta property="og:description" content="{_attr(article.description)}">',
        f'<meta property="og:url" content="{_attr(article.url)}">',
        f'<meta property="og:site_name" content="{_attr(provider.name)}">',
        '<meta property="og:locale" content="en_US">',
        *_og_images(article.images),
        f'<meta property="article:published_time" content="{iso(article.published_at)}">',
        f'<meta property="article:modified_time" content="{iso(article.modified_at)}">',
        f'<meta property="article:author" content="{_attr(article.author)}">',
        f'<meta property="article:section" content="{_attr(article.section)}">',
        *(f'<meta property="article:tag" content="{_attr(tag)}">' for tag in article.tags),
        *_twitter(provider, article),
        _feed_link(provider),
        _json_ld_script(json_ld(provider, article)),
    ]
    return _head(provider, meta)


def _og_images(images: Sequence[DemoImage]) -> list[str]:
    out = []
    for image in images[:1]:
        out += [
            f'<meta property="og:image" content="{_attr(image.url)}">',
            f'<meta property="og:image:width" content="{image.width}">',
            f'<meta property="og:image:height" content="{image.height}">',
            f'<meta property="og:image:type" content="{image.content_type}">',
        ]
    return out


def _twitter(provider: DemoProvider, article: DemoArticle) -> list[str]:
    card = "summary_large_image" if article.images else "summary"
    tags = [
        f'<meta name="twitter:card" content="{card}">',
        f'<meta name="twitter:site" content="{_attr(provider.twitter)}">',
        f'<meta name="twitter:title" content="{_attr(article.title)}">',
        f'<meta name="twitter:description" content="{_attr(article.description)}">',
    ]
    if article.images:
        tags.append(f'<meta name="twitter:image" content="{_attr(article.images[0].url)}">')
    return tags


def _head(provider: DemoProvider, lines: Sequence[str]) -> str:
    style = (
        f"body{{font-family:Georgia,serif;margin:0;color:#222}}header.site{{background:{provider.colours[0]};"
        f"color:{provider.colours[1]};padding:8px 16px}}main{{display:flex;gap:32px;max-width:1100px;margin:auto}}"
        "article{flex:3}aside{flex:1;font-size:.9em}img{max-width:100%;height:auto}.cookie{background:#eee;padding:8px}"
    )
    inner = "\n".join(line for line in lines if line)
    return (
        '<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{inner}\n<style>{style}</style>\n</head>"
    )


# --- boilerplate ----------------------------------------------------------------------------------------


def _cookie_banner(provider: DemoProvider) -> str:
    return (
        '<div class="cookie" id="cookie-consent" role="dialog" aria-label="Cookie consent">\n'
        f"<p>{escape(provider.name)} and our 143 advertising partners use cookies and similar technologies to "
        "personalise content, measure audiences and keep the site secure. Choose Accept all to agree, or "
        "Manage options to decide for each purpose. You can change your mind at any time under Privacy "
        "settings.</p>\n<button>Accept all</button> <button>Manage options</button>\n</div>"
    )


def _site_header(provider: DemoProvider) -> str:
    items = "".join(f'<li><a href="/section/{_slug(name)}">{escape(name)}</a></li>' for name in provider.nav)
    return (
        '<header class="site">\n'
        f'<a class="logo" href="/"><img src="{_attr(provider.logo_url)}" alt="{_attr(provider.name)}" '
        f'width="{LOGO_SIZE[0]}" height="{LOGO_SIZE[1]}"></a>\n'
        f'<nav aria-label="Sections"><ul>{items}</ul></nav>\n'
        '<a class="subscribe" href="/subscribe">Subscribe</a> <a href="/login">Sign in</a> '
        '<form action="/search" role="search"><input name="q" placeholder="Search"></form>\n</header>'
    )


def _most_read(others: Sequence[DemoArticle]) -> str:
    items = "".join(
        f'<li><a href="{_attr(a.url)}">{escape(a.title)}</a></li>' for a in others[:MOST_READ_COUNT]
    )
    return f'<section class="most-read"><h2>Most read</h2>\n<ol>{items}</ol>\n</section>'


def _newsletter(provider: DemoProvider) -> str:
    return (
        '<section class="newsletter"><h2>Get the morning briefing</h2>\n'
        f"<p>The five stories that matter, from the {escape(provider.name)} newsroom, in your inbox before "
        "8am. Free, and you can unsubscribe whenever you like.</p>\n"
        '<form action="/newsletter" method="post"><input type="email" name="email" placeholder="Your email">'
        "<button>Sign up</button></form>\n</section>"
    )


def _site_footer(provider: DemoProvider) -> str:
    links = (
        "About us",
        "Contact",
        "Advertise",
        "Careers",
        "Privacy policy",
        "Terms of use",
        "Cookie settings",
    )
    items = "".join(f'<li><a href="/{_slug(name)}">{name}</a></li>' for name in links)
    return (
        f'<footer class="site-footer">\n<ul>{items}</ul>\n'
        f"<p>© 2026 {escape(provider.name)}. All rights reserved. {escape(provider.tagline)}</p>\n</footer>"
    )


def _aside(provider: DemoProvider, others: Sequence[DemoArticle]) -> str:
    ad = '<div class="ad" data-slot="mpu">Advertisement</div>'
    return f'<aside class="sidebar">\n{_most_read(others)}\n{ad}\n{_newsletter(provider)}\n</aside>'


# --- article pages --------------------------------------------------------------------------------------


def _figure(image: DemoImage, title: str) -> str:
    alt = image.caption or title
    caption = f"<figcaption>{escape(image.caption)}</figcaption>" if image.caption else ""
    return (
        f'<figure><img src="{_attr(image.url)}" width="{image.width}" height="{image.height}" '
        f'alt="{_attr(alt)}" loading="lazy">{caption}</figure>'
    )


def _article_body(article: DemoArticle) -> str:
    parts = []
    for n, paragraph in enumerate(article.paragraphs, start=1):
        if paragraph.startswith("## "):
            parts.append(f"<h2>{escape(paragraph[3:])}</h2>")
        else:
            parts.append(f"<p>{escape(paragraph)}</p>")
        if n == BODY_IMAGE_AFTER and len(article.images) > 1:
            parts.append(_figure(article.images[1], article.title))
    return '<div class="article-body">\n' + "\n".join(parts) + "\n</div>"


def _player(article: DemoArticle) -> str:
    media = article.media
    if media is None:
        return ""
    if media.kind == "audio":
        return f'<audio controls preload="none" src="{_attr(media.url)}"></audio>'
    return (
        f'<iframe src="{_attr(media.url)}" width="800" height="450" title="{_attr(article.title)}"></iframe>'
    )


def _story(provider: DemoProvider, article: DemoArticle) -> str:
    lead = _figure(article.images[0], article.title) if article.images else ""
    tags = "".join(f'<a href="/tag/{_slug(t)}">{escape(t)}</a> ' for t in article.tags)
    return (
        '<article class="story">\n<header>\n'
        f'<p class="kicker"><a href="/section/{_slug(article.section)}">{escape(article.section)}</a></p>\n'
        f"<h1>{escape(article.title)}</h1>\n"
        f'<p class="standfirst">{escape(article.description)}</p>\n'
        f'<p class="byline">By <a rel="author" href="/authors/{_slug(article.author)}">{escape(article.author)}</a>'
        f' · <time datetime="{iso(article.published_at)}">{_human_date(article)}</time></p>\n</header>\n'
        f"{_player(article)}\n{lead}\n{_article_body(article)}\n"
        f'<footer class="tags">Topics: {tags}</footer>\n'
        '<div class="share">Share this article: <a href="#">X</a> <a href="#">LinkedIn</a> <a href="#">Email</a></div>\n'
        "</article>"
    )


def render_article_page(provider: DemoProvider, article: DemoArticle, others: Sequence[DemoArticle]) -> str:
    """The article's page; ``others`` (newest first) fill the "most read" box."""
    return (
        f'<!DOCTYPE html>\n<html lang="{provider.language}">\n{_article_head(provider, article)}\n'
        f'<body class="article-page">\n{_cookie_banner(provider)}\n{_site_header(provider)}\n'
        f"<main>\n{_story(provider, article)}\n{_aside(provider, others)}\n</main>\n"
        f"{_site_footer(provider)}\n</body>\n</html>\n"
    )


# --- other pages ----------------------------------------------------------------------------------------


def _teaser(article: DemoArticle) -> str:
    return (
        f'<article class="teaser"><h2><a href="{_attr(article.url)}">{escape(article.title)}</a></h2>'
        f"<p>{escape(article.description)}</p>"
        f'<time datetime="{iso(article.published_at)}">{_human_date(article)}</time></article>'
    )


def render_home_page(provider: DemoProvider, articles: Sequence[DemoArticle]) -> str:
    """The front page: latest articles first, with the feed announced for discovery."""
    head = _head(
        provider,
        [
            f"<title>{escape(provider.name)}{escape(provider.title_separator)}{escape(provider.tagline)}</title>",
            f'<meta name="description" content="{_attr(provider.tagline)}">',
            f'<link rel="canonical" href="{_attr(provider.base_url)}/">',
            f'<meta property="og:site_name" content="{_attr(provider.name)}">',
            '<meta property="og:type" content="website">',
            _feed_link(provider),
        ],
    )
    teasers = "\n".join(_teaser(a) for a in articles[:HOME_PAGE_COUNT])
    return (
        f'<!DOCTYPE html>\n<html lang="{provider.language}">\n{head}\n<body class="home">\n'
        f"{_cookie_banner(provider)}\n{_site_header(provider)}\n"
        f'<main>\n<section class="latest"><h1>Latest</h1>\n{teasers}\n</section>\n'
        f"{_aside(provider, articles)}\n</main>\n{_site_footer(provider)}\n</body>\n</html>\n"
    )


def render_embed_page(article: DemoArticle) -> str:
    """The video player page a ``VideoObject``'s ``embedUrl`` points at."""
    poster = f' poster="{_attr(article.images[0].url)}"' if article.images else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{escape(article.title)}</title></head>\n'
        f'<body style="margin:0;background:#000"><video controls width="100%"{poster}></video></body>\n</html>\n'
    )


def render_robots(provider: DemoProvider, sitemaps: Sequence[str]) -> str:
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in provider.robots_disallow), ""]
    lines += [f"Sitemap: {url}" for url in sitemaps]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_not_found(site_name: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Page not found - {escape(site_name)}'
        "</title></head>\n<body><h1>Sorry, we couldn't find that page</h1>\n<p>It may have been moved or deleted. "
        'Try the <a href="/">front page</a>.</p></body>\n</html>\n'
    )


def render_loopback_index(resolve_map: dict[str, str]) -> str:
    """What a browser sees on the bare loopback address: which hosts live here and how to reach them."""
    rows = "".join(
        f"<li><code>{escape(host)}</code> → <code>{escape(target)}</code> "
        f"(<code>curl --connect-to {escape(host)}:80:{escape(target)} http://{escape(host)}/</code>)</li>"
        for host, target in resolve_map.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>newsdesk demo site</title></head>\n'
        f"<body><h1>newsdesk demo news world</h1>\n<p>Virtual hosts served here:</p>\n<ul>{rows}</ul></body>\n</html>\n"
    )
