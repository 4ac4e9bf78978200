"""The bundled demo news world, fetched over real loopback HTTP with the Host header set."""

from __future__ import annotations

import gzip
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import fastfeedparser
import feedparser
import httpx
import lxml.html
import pytest
from PIL import Image

from newsdesk.demo import DemoArticle, DemoContentError, DemoSite
from newsdesk.demo.feeds import iso
from newsdesk.demo.server import accepts_gzip, host_name, not_modified
from newsdesk.demo.world import build_world

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
# The categories page metadata can name (extract/metadata.py); a source may set any other label.
EXTRACTED_CATEGORIES = (
    "news",
    "blog",
    "research",
    "press-release",
    "opinion",
    "analysis",
    "review",
    "interview",
)


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(now=NOW) as demo:
        yield demo


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def fetch(
    client: httpx.Client, site: DemoSite, url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> httpx.Response:
    """Request ``url`` from the demo server the way newsdesk's fetcher will: loopback + Host header."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.request(
        method, f"http://127.0.0.1:{site.port}{target}", headers={"Host": parts.netloc, **(headers or {})}
    )


def live(site: DemoSite) -> list[DemoArticle]:
    return [a for a in site.articles() if a.page_status == 200]


def json_ld_article(doc: dict[str, object]) -> dict[str, object]:
    nodes = doc.get("@graph", [doc])
    assert isinstance(nodes, list)
    found = [n for n in nodes if isinstance(n, dict) and "headline" in n]
    assert len(found) == 1
    return found[0]


# --- the content ------------------------------------------------------------------------------------


def test_world_has_enough_fetchable_articles_and_providers(site: DemoSite) -> None:
    fetchable = [a for a in live(site) if a.robots_allowed]
    assert len(fetchable) >= 64
    assert len({a.provider for a in site.articles()}) >= 7
    assert len({a.url for a in site.articles()}) == len(site.articles())


def test_every_article_is_complete_and_sized_like_news(site: DemoSite) -> None:
    for article in live(site):
        assert 250 <= article.word_count <= 900, article.id
        assert len(article.paragraphs) >= 4, article.id
        assert article.title and article.author and article.section, article.id
        assert article.description.endswith((".", "?", "!")), article.id
        assert article.category in EXTRACTED_CATEGORIES, article.id
        assert 1 <= len(article.images) <= 2, article.id
        assert timedelta(0) < NOW - article.published_at <= timedelta(hours=120), article.id
        assert article.modified_at >= article.published_at


def test_stories_are_covered_by_several_providers_in_their_own_words(site: DemoSite) -> None:
    by_story: dict[str, set[str]] = defaultdict(set)
    for article in site.articles():
        if article.story:
            by_story[article.story].add(article.provider)
    multi = [story for story, providers in by_story.items() if 2 <= len(providers) <= 4]
    assert len(multi) >= 8
    singles = [a for a in site.articles() if a.story is None]
    assert len(singles) >= 20
    own_words = [a for a in site.articles() if a.story and not a.syndicated_from]
    first_paragraphs = [a.paragraphs[0] for a in own_words if a.paragraphs]
    assert len(set(first_paragraphs)) == len(first_paragraphs)


def test_syndicated_copies_repeat_an_original_on_another_provider(site: DemoSite) -> None:
    by_url = {a.url: a for a in site.articles()}
    copies = [a for a in site.articles() if a.syndicated_from]
    assert len(copies) >= 4
    for copy in copies:
        original = by_url[copy.syndicated_from or ""]
        assert original.provider != copy.provider
        shared = set(copy.paragraphs) & set(original.paragraphs)
        assert len(shared) >= len(original.paragraphs) - 1, copy.id
        assert copy.title.startswith(original.title[:30]), copy.id
    assert any(set(c.paragraphs) != set(by_url[c.syndicated_from or ""].paragraphs) for c in copies)


def test_feed_links_include_tracking_parameters_redirects_and_one_broken_link(site: DemoSite) -> None:
    articles = site.articles()
    tracked = [a for a in articles if urlsplit(a.feed_url).query]
    assert len(tracked) >= 4
    assert all(re.search(r"(utm_|fbclid|gclid)", urlsplit(a.feed_url).query) for a in tracked)
    redirected = [a for a in articles if a.redirect_status]
    assert len(redirected) >= 2 and {a.redirect_status for a in redirected} <= {301, 302}
    assert len([a for a in articles if a.page_status == 404]) == 1
    assert len([a for a in articles if not a.robots_allowed]) == 1


def test_world_is_deterministic_for_a_fixed_now(site: DemoSite) -> None:
    again = DemoSite(now=NOW)
    assert again.articles() == site.articles()


def test_inconsistent_content_is_refused() -> None:
    provider = {
        "key": "p",
        "name": "P",
        "host": "p.example",
        "feed": {"kind": "rss", "path": "/rss"},
        "category": "news",
        "schema_type": "NewsArticle",
        "title_separator": " - ",
        "url_pattern": "/{slug}",
        "tagline": "t",
        "nav": [],
        "colours": ["#000", "#fff"],
        "twitter": "@p",
    }
    item = {
        "id": "a",
        "slug": "s",
        "hours_ago": 1,
        "title": "T",
        "description": "D.",
        "author": "A",
        "section": "S",
    }
    with pytest.raises(DemoContentError, match="duplicate article url"):
        build_world(NOW, [provider], {"p": [item, {**item, "id": "b"}]})
    with pytest.raises(DemoContentError, match="unknown article"):
        build_world(NOW, [provider], {"p": [{"id": "c", "syndicate_of": "zzz", "hours_ago": 1}]})
    with pytest.raises(DemoContentError, match="unknown feed kind"):
        build_world(NOW, [{**provider, "feed": {"kind": "rdf", "path": "/x"}}], {})


# --- the server's surface ---------------------------------------------------------------------------


def test_sources_and_resolve_map_cover_every_host(site: DemoSite) -> None:
    sources = site.sources()
    assert len(sources) == len({a.provider for a in site.articles()})
    assert all(s["allow_loopback"] is True and str(s["url"]).startswith("http://") for s in sources)
    assert {s["kind"] for s in sources} == {"feed", "sitemap"}
    mapping = site.resolve_map()
    assert set(mapping.values()) == {f"127.0.0.1:{site.port}"}
    urls = [str(s["url"]) for s in sources]
    for article in site.articles():
        urls += [article.url, article.feed_url, *article.image_urls]
        urls += [article.media.url] if article.media else []
    assert {urlsplit(u).hostname for u in urls} <= set(mapping)
    assert all(urlsplit(u).port is None for u in urls)


def test_every_feed_kind_is_used_and_parses(site: DemoSite, client: httpx.Client) -> None:
    kinds = {p.feed_kind for p in site.world.providers}
    assert kinds == {"rss", "atom", "jsonfeed", "news-sitemap"}
    entries = 0
    for provider in site.world.providers:
        response = fetch(client, site, provider.feed_url)
        assert response.status_code == 200
        links = _feed_links(provider.feed_kind, response.content)
        expected = {a.feed_url for a in site.world.of(provider)}
        assert set(links) == expected, provider.name
        entries += len(links)
    assert entries == len(site.articles()) >= 64


def _feed_links(kind: str, body: bytes) -> list[str]:
    if kind in ("rss", "atom"):
        parsed = feedparser.parse(body)
        assert not parsed.bozo and parsed.version in ("rss20", "atom10")
        assert len(fastfeedparser.parse(body).entries) == len(parsed.entries)
        return [e.link for e in parsed.entries]
    if kind == "jsonfeed":
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert all(("content_html" in i or "content_text" in i) and i["id"] for i in document["items"])
        assert len(fastfeedparser.parse(body.decode()).entries) == len(document["items"])
        return [i["url"] for i in document["items"]]
    root = ET.fromstring(body)
    news = [u.find(f"{NEWS}news") for u in root.iter(f"{SM}url")]
    assert all(n is not None and n.findtext(f"{NEWS}publication/{NEWS}name") for n in news)
    assert all(
        n is not None and n.findtext(f"{NEWS}publication_date") and n.findtext(f"{NEWS}title") for n in news
    )
    return [u.findtext(f"{SM}loc") or "" for u in root.iter(f"{SM}url")]


def test_rss_ttl_and_podcast_enclosure(site: DemoSite, client: httpx.Client) -> None:
    ttls = [p for p in site.world.providers if p.ttl_minutes]
    assert len(ttls) == 1
    assert feedparser.parse(fetch(client, site, ttls[0].feed_url).content).feed.ttl == str(
        ttls[0].ttl_minutes
    )
    podcast = next(a for a in site.articles() if a.type == "podcast")
    feed_url = site.world.provider(podcast.provider).feed_url
    entry = next(
        e
        for e in feedparser.parse(fetch(client, site, feed_url).content).entries
        if e.link == podcast.feed_url
    )
    enclosure = entry.enclosures[0]
    assert enclosure.type == "audio/mpeg"
    audio = fetch(client, site, enclosure.href)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert len(audio.content) == int(enclosure.length) and audio.content[:2] == b"\xff\xfb"


def test_conditional_get_answers_304(site: DemoSite, client: httpx.Client) -> None:
    url = site.world.providers[0].feed_url
    first = fetch(client, site, url)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = fetch(client, site, url, {"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.content == b""
    by_date = fetch(client, site, url, {"If-Modified-Since": last_modified})
    assert by_date.status_code == 304
    stale = fetch(client, site, url, {"If-None-Match": '"stale"', "If-Modified-Since": last_modified})
    assert stale.status_code == 200 and stale.content == first.content
    older = format_datetime(NOW - timedelta(days=30), usegmt=True)
    assert fetch(client, site, url, {"If-Modified-Since": older}).status_code == 200


def test_gzip_only_when_asked(site: DemoSite, client: httpx.Client) -> None:
    for provider in site.world.providers:
        zipped = fetch(client, site, provider.feed_url, {"Accept-Encoding": "gzip"})
        plain = fetch(client, site, provider.feed_url, {"Accept-Encoding": "identity"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert zipped.content == plain.content
        assert int(zipped.headers["content-length"]) < len(plain.content)
        assert zipped.headers["etag"] != plain.headers["etag"]


def test_sitemap_index_points_at_a_gzipped_urlset(site: DemoSite, client: httpx.Client) -> None:
    provider = next(p for p in site.world.providers if p.sitemap_index)
    robots = fetch(client, site, provider.base_url + "/robots.txt").text
    index_url = re.search(r"^Sitemap: (\S+)$", robots, re.M)
    assert index_url is not None
    index = ET.fromstring(fetch(client, site, index_url.group(1)).content)
    urlset_url = index.findtext(f"{SM}sitemap/{SM}loc") or ""
    assert urlset_url.endswith(".xml.gz")
    response = fetch(client, site, urlset_url, {"Accept-Encoding": "identity"})
    urlset = ET.fromstring(gzip.decompress(response.content))
    locs = {u.findtext(f"{SM}loc") for u in urlset.iter(f"{SM}url")}
    assert locs == {a.url for a in site.world.of(provider) if a.page_status == 200}


# --- pages -----------------------------------------------------------------------------------------


def test_every_page_carries_consistent_metadata(site: DemoSite, client: httpx.Client) -> None:
    for article in live(site):
        provider = site.world.provider(article.provider)
        response = fetch(client, site, article.url)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        tree = lxml.html.fromstring(response.content)
        assert tree.get("lang") == "en"
        assert tree.findtext(".//title") == f"{article.title}{provider.title_separator}{provider.name}"
        assert _meta(tree, "property", "og:url") == _link(tree, "canonical") == article.url
        assert _meta(tree, "property", "og:title") == article.title
        assert _meta(tree, "property", "og:site_name") == provider.name
        assert _meta(tree, "property", "article:published_time") == iso(article.published_at)
        assert _meta(tree, "name", "description") == article.description
        assert _meta(tree, "name", "author") == article.author
        assert _meta(tree, "name", "twitter:card") == "summary_large_image"
        expected_og_type = "video.other" if article.type == "video" else "article"
        assert _meta(tree, "property", "og:type") == expected_og_type
        _check_json_ld(tree, article, provider.name)
        _check_boilerplate_and_body(tree, article)


def _meta(tree: lxml.html.HtmlElement, attribute: str, name: str) -> str:
    values = tree.xpath(f'//meta[@{attribute}="{name}"]/@content')
    assert len(values) == 1, name
    return str(values[0])


def _link(tree: lxml.html.HtmlElement, rel: str) -> str:
    values = tree.xpath(f'//link[@rel="{rel}"]/@href')
    assert len(values) == 1, rel
    return str(values[0])


def _check_json_ld(tree: lxml.html.HtmlElement, article: DemoArticle, provider_name: str) -> None:
    scripts = tree.xpath('//script[@type="application/ld+json"]/text()')
    node = json_ld_article(json.loads(scripts[0]))
    expected_type = {"video": "VideoObject", "podcast": "PodcastEpisode"}.get(article.type)
    assert expected_type is None or node["@type"] == expected_type
    assert node["headline"] == article.title
    assert node["datePublished"] == iso(article.published_at)
    assert node["dateModified"] == iso(article.modified_at)
    assert node["author"][0]["name"] == article.author  # type: ignore[index]
    assert node["publisher"]["name"] == provider_name  # type: ignore[index]
    assert node["publisher"]["logo"]["url"]  # type: ignore[index]
    assert node["mainEntityOfPage"]["@id"] == article.url  # type: ignore[index]
    assert [i["url"] for i in node["image"]] == list(article.image_urls)  # type: ignore[attr-defined]


def _check_boilerplate_and_body(tree: lxml.html.HtmlElement, article: DemoArticle) -> None:
    for selector in ("cookie-consent", "most-read", "newsletter", "site-footer"):
        assert tree.xpath(f'//*[@id="{selector}" or contains(@class, "{selector}")]'), selector
    assert tree.xpath("//nav//a")
    body_text = " ".join(tree.xpath('//div[@class="article-body"]//text()'))
    for paragraph in article.paragraphs:
        assert paragraph.removeprefix("## ") in body_text


def test_home_pages_list_articles_and_announce_their_feed(site: DemoSite, client: httpx.Client) -> None:
    for provider in site.world.providers:
        tree = lxml.html.fromstring(fetch(client, site, provider.base_url + "/").content)
        listed = set(tree.xpath('//section[@class="latest"]//a/@href'))
        assert listed and listed <= {a.url for a in live(site)}
        alternates = tree.xpath('//link[@rel="alternate"]')
        if provider.feed_kind == "news-sitemap":
            assert alternates == []
        else:
            assert [a.get("href") for a in alternates] == [provider.feed_url]
            assert alternates[0].get("type").startswith("application/")


def test_images_decode_at_their_declared_sizes(site: DemoSite, client: httpx.Client) -> None:
    broken = 0
    for image in {i.url: i for a in live(site) for i in a.images}.values():
        response = fetch(client, site, image.url)
        assert response.headers["content-type"] == image.content_type
        picture = Image.open(io.BytesIO(response.content))
        assert picture.size == (image.width, image.height) and picture.format == image.format.upper()
        if image.broken:
            broken += 1
            with pytest.raises(OSError):
                picture.load()
        else:
            picture.load()
    assert broken == 1
    sizes = {(i.width, i.height) for a in live(site) for i in a.images}
    assert {(1200, 675), (835, 526), (640, 640), (1400, 788)} <= sizes


def test_images_are_deterministic_and_cached(site: DemoSite, client: httpx.Client) -> None:
    image = live(site)[0].images[0]
    first = fetch(client, site, image.url).content
    assert fetch(client, site, image.url).content == first
    assert DemoSite(now=NOW).respond(urlsplit(image.url).netloc, urlsplit(image.url).path, {}).body == first


def test_redirect_links_lead_to_the_canonical_page(site: DemoSite, client: httpx.Client) -> None:
    for article in (a for a in site.articles() if a.redirect_status):
        response = fetch(client, site, article.feed_url)
        assert response.status_code == article.redirect_status
        assert response.headers["location"] == article.url != article.feed_url


def test_broken_link_and_unknown_paths_answer_404(site: DemoSite, client: httpx.Client) -> None:
    missing = next(a for a in site.articles() if a.page_status == 404)
    assert fetch(client, site, missing.feed_url).status_code == 404
    assert fetch(client, site, "http://fintechdaily.example/no/such/page").status_code == 404
    assert fetch(client, site, "http://unknown.example/").status_code == 404


def test_tracking_parameter_links_serve_the_same_page(site: DemoSite, client: httpx.Client) -> None:
    tracked = [a for a in site.articles() if urlsplit(a.feed_url).query]
    for article in tracked:
        with_params = fetch(client, site, article.feed_url)
        assert with_params.status_code == 200
        assert with_params.content == fetch(client, site, article.url).content


def test_robots_txt_forbids_the_private_page_a_sitemap_lists(site: DemoSite, client: httpx.Client) -> None:
    private = next(a for a in site.articles() if not a.robots_allowed)
    provider = site.world.provider(private.provider)
    robots = RobotFileParser()
    robots.parse(fetch(client, site, provider.base_url + "/robots.txt").text.splitlines())
    assert "/private/" in private.url and not robots.can_fetch("newsdesk", private.url)
    assert private.feed_url in fetch(client, site, provider.feed_url).text
    rules: dict[str, RobotFileParser] = {}
    for article in (a for a in site.articles() if a.robots_allowed):
        host = urlsplit(article.url).netloc
        if host not in rules:
            rules[host] = RobotFileParser()
            rules[host].parse(fetch(client, site, f"http://{host}/robots.txt").text.splitlines())
        assert rules[host].can_fetch("newsdesk", article.url), article.url


def test_head_and_request_counting(site: DemoSite, client: httpx.Client) -> None:
    article = live(site)[1]
    path = urlsplit(article.url).path
    before = site.request_count(path)
    head = fetch(client, site, article.url, method="HEAD")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    fetch(client, site, article.url)
    assert site.request_count(path) == before + 2
    assert site.request_count(path, host=urlsplit(article.url).netloc) == before + 2
    assert site.request_count(path, host="elsewhere.example") == 0
    assert site.request_count() >= site.request_count(path)


def test_loopback_index_lists_the_virtual_hosts(site: DemoSite, client: httpx.Client) -> None:
    page = client.get(f"http://127.0.0.1:{site.port}/").text
    assert all(host in page for host in site.resolve_map())


def test_stop_closes_the_port() -> None:
    demo = DemoSite(now=NOW).start()
    port = demo.port
    demo.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0)
    with pytest.raises(RuntimeError):
        _ = demo.port


# --- HTTP helpers ------------------------------------------------------------------------------------


def test_gzip_negotiation() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("")


def test_validators_follow_rfc_9110() -> None:
    modified = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    tags = ('"abc"', '"abc-gzip"')
    assert not_modified({"if-none-match": 'W/"abc", "x"'}, tags, modified)
    assert not_modified({"if-none-match": "*"}, tags, modified)
    since = format_datetime(modified, usegmt=True)
    assert not not_modified({"if-none-match": '"x"', "if-modified-since": since}, tags, modified)
    assert not_modified({"if-modified-since": since}, tags, modified)
    assert not not_modified({"if-modified-since": "yesterday"}, tags, modified)
    assert not not_modified({}, tags, modified)


def test_host_header_parsing() -> None:
    assert host_name("FintechDaily.example:8080") == "fintechdaily.example"
    assert host_name("[::1]:80") == "::1"
    assert host_name("rulebook.example") == "rulebook.example"
