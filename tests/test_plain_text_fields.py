"""A hostile source end to end: markup in a feed's and a page's plain-text fields never reaches the
stored article, the record file, or the RSS / Atom / JSON Feed outputs, and no SVG is published as an
image (issue 11, item 4).

The feed and its pages are served over loopback. One entry's page answers (its page metadata carries
the markup: og:title, og:site_name, author, description), the other's is gone (the entry is stored from
the feed: title, description, dc:creator and the channel title as provider carry the markup). Every
``&amp;`` in the sources stands for one ampersand, and that is what must come out: decoded exactly once.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from PIL import Image as PILImage

from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience
from newsdesk.config import load_settings
from newsdesk.model import Article, Source
from newsdesk.publish.feeds import FeedInfo, render_atom, render_json_feed, render_rss
from newsdesk.record import dump_record
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(9)</script></svg>'
# What a template would execute or render as markup, raw or escaped once more.
FORBIDDEN = ("<script", "&lt;script", "alert(", "onerror", "onclick", "<img", "&lt;img", "<b>", "&lt;b&gt;")
PAGE_TITLE, FEED_TITLE = "Fish & Chips", "Salt & Vinegar"
UPDATED = datetime(2026, 12, 6, tzinfo=UTC)


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def feed(base: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title><![CDATA[<script>alert(0)</script>Hostile &amp; Feed]]></title><link>{base}/</link>
<item><title><![CDATA[<b>Fish</b> first]]></title><link>{base}/news/1</link></item>
<item>
  <title><![CDATA[<script>alert(1)</script>Salt &amp; Vinegar <img src=x onerror=alert(2)>]]></title>
  <link>{base}/news/gone</link>
  <description><![CDATA[<p onclick="x()">Cheap <b>salt</b> &amp; vinegar</p><script>alert(3)</script>]]></description>
  <dc:creator><![CDATA[<b>Mallory</b> &amp; Trent]]></dc:creator>
</item>
</channel></rss>""".encode()


def page(base: str) -> bytes:
    words = "The harbour stall fried its catch in beef dripping and sold out before noon every day. " * 6
    metas = {
        "og:title": "&lt;script&gt;alert(5)&lt;/script&gt;Fish &amp;amp; Chips &lt;img src=x onerror=alert(6)&gt;",
        "og:site_name": "&lt;script&gt;alert(4)&lt;/script&gt;Evil &amp;amp; Co",
        "author": "&lt;b&gt;Eve&lt;/b&gt; &amp;amp; Bob",
        "description": "&lt;p onclick=&quot;x()&quot;&gt;Cheap fish &amp;amp; chips&lt;/p&gt;&lt;script&gt;alert(7)&lt;/script&gt;",
    }  # fmt: skip
    head = "".join(f'<meta property="{k}" name="{k}" content="{v}">' for k, v in metas.items())
    images = "".join(f'<meta property="og:image" content="{base}/img/{name}">' for name in
                     ("logo.svg", "pic.png", "real.png"))  # fmt: skip
    return (f"<html><head><title>Fish</title>{head}{images}</head>"
            f"<body><article><p>{words}</p><p>{words}</p></article></body></html>").encode()  # fmt: skip


def served() -> LoopbackServer:
    server = LoopbackServer()
    base = server.base_url
    server.route("/feed.xml", Reply(body=feed(base), content_type="application/rss+xml"))
    server.route("/news/1", Reply(body=page(base)))
    server.route("/img/logo.svg", Reply(body=SVG, content_type="image/svg+xml"))
    server.route("/img/pic.png", Reply(body=SVG, content_type="image/png"))  # lies: the bytes are SVG
    server.route("/img/real.png", Reply(body=png(320, 200), content_type="image/png"))
    return server


def assert_no_markup(text: str, where: str) -> None:
    for needle in (*FORBIDDEN, "&amp;amp;"):
        assert needle not in text, f"{needle!r} in {where}"


def plain_fields(article: Article) -> list[str]:
    return [article.title, article.excerpt, article.provider.name, article.author or "", article.category]


def test_a_hostile_feed_and_page_publish_plain_text_and_no_svg(tmp_path: Path) -> None:
    env = quiet_env(tmp_path, NEWSDESK_CACHE_IMAGES="1")
    with served() as server, Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
        nd.sources.add(Source(server.url("/feed.xml"), allow_loopback=True))
        summary = nd.run()
        assert summary.new == 2, summary.as_dict()
        from_page = nd.store.find_article(server.url("/news/1"))
        from_feed = nd.store.find_article(server.url("/news/gone"))
        assert from_page is not None and from_feed is not None and from_feed.fetch_error

        # The stored articles: plain text, every entity decoded once.
        assert from_page.title == PAGE_TITLE and from_page.provider.name == "Evil & Co"
        assert from_page.author == "Eve & Bob"
        assert (from_feed.title, from_feed.excerpt) == (FEED_TITLE, "Cheap salt & vinegar")
        assert (from_feed.author, from_feed.provider.name) == ("Mallory & Trent", "Hostile & Feed")
        for article in (from_page, from_feed):
            for value in plain_fields(article):
                assert_no_markup(value, f"stored {article.web_url}")
                assert "&amp;" not in value and "&lt;" not in value

        # SVG by extension and SVG served as image/png are gone; the raster image is cached and kept.
        assert [(i.url, i.is_cached) for i in from_page.images] == [(server.url("/img/real.png"), True)]

        articles = [
            nd.catalog.article(a.id, Audience.TRUSTED) for a in (from_page, from_feed) if a.id is not None
        ]
        nd.outputs.export(tmp_path / "records")
        records = sorted((tmp_path / "records").rglob("*.md"))
        assert len(records) == 2
        for path in records:
            assert_no_markup(path.read_text(encoding="utf-8"), path.name)
        assert "&amp;" not in dump_record(articles[0]) and "Evil & Co" in dump_record(articles[0])

    info = FeedInfo("desk", "https://desk.example/", "https://desk.example/feed", "d", "en", UPDATED)
    for render in (render_rss, render_atom):
        data = render(articles, info)
        assert_no_markup(data.decode(), render.__name__)
        assert b"svg" not in data.lower() and b"/img/pic.png" not in data
        parsed = feedparser.parse(data)
        assert not parsed.bozo
        assert [e.title for e in parsed.entries] == [PAGE_TITLE, FEED_TITLE]
        assert parsed.entries[1].summary == "Cheap salt & vinegar"
        assert [e.author for e in parsed.entries] == ["Eve & Bob", "Mallory & Trent"]
    document = json.loads(render_json_feed(articles, info))
    assert_no_markup(json.dumps(document, ensure_ascii=False), "json feed")
    item = document["items"][1]
    assert (item["title"], item["summary"], item["content_text"]) == (
        FEED_TITLE,
        *["Cheap salt & vinegar"] * 2,
    )
    assert item["authors"] == [{"name": "Mallory & Trent"}]
    assert document["items"][0]["_newsdesk"]["provider"]["name"] == "Evil & Co"
    assert document["items"][0]["image"] == articles[0].images[0].url
