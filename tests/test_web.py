"""The web UI against a real SQLite store: pages render, hostile text stays text, actions need a session
and a CSRF token, sources are found from a site's URL over loopback HTTP."""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.finishing import apply_rules, seal_texts
from newsdesk.model import Article, Provider, Reason, Source, SourceHealth, Story, TopicScore, now
from newsdesk.publish.rules import parse_rules
from newsdesk.web import charts, session
from newsdesk.web.routes import create_web_app
from tests.httpserver import LoopbackServer, Reply

HOSTILE_SCRIPT = "<script>alert(1)</script>"
SECRET_KEY = base64.b64encode(bytes(range(32))).decode()  # a fixed test key: 32 bytes, base64
TEXT_LINE = "Second paragraph with detail."  # from every seeded article's full text
HOSTILE_IMG = '<img src=x onerror="window.__pwned=1">'
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Seeded:
    nd: Newsdesk
    ids: dict[str, int]
    story_id: int
    image_sha: str
    write_token: str
    read_token: str


def _png(rgb: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (640, 360), rgb).save(buffer, "PNG")
    return buffer.getvalue()


def _article(
    slug: str, title: str, provider: Provider, topics: tuple[str, ...], hours: int, **extra: object
) -> Article:
    url = f"https://{provider.domain}/news/{slug}"
    scores = tuple(TopicScore(t, 0.8, "zero-shot" if i == 0 else "ancestor") for i, t in enumerate(topics))
    fields: dict[str, object] = {
        "excerpt": f"{title} — what happened, who is affected and what comes next.",
        "published_at": now() - timedelta(hours=hours),
        "topics": topics,
        "topic_scores": scores,
        "quality": 68,
        "heat": 12,
        "quality_reasons": (
            Reason("depth", 15.0, "640 words, 9 paragraphs"),
            Reason("headline", -4.0, "question headline"),
        ),
        "heat_reasons": (Reason("providers", 9.0, "2 providers, 1.6 after decay"),),
        "text": "First paragraph of the story.\nSecond paragraph with detail.",
    }
    fields.update(extra)
    return Article(
        title=title, web_url=url, original_url=url + "?utm_source=feed", provider=provider, **fields
    )  # type: ignore[arg-type]


def seed(data_dir: Path, **settings: str) -> Seeded:
    """A store with two stories' worth of articles, one hostile article, images, related records,
    a source and two tokens (write, read)."""
    env = {
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_ENCRYPT": "0",
        "NEWSDESK_PER_HOST_DELAY": "0",
        **settings,
    }
    nd = Newsdesk(load_settings(env=env))
    store = nd.store
    image = nd.images.store("https://cdn.ledger.example/rates.png", _png((37, 99, 235)), "image/png")
    courier, ledger = (
        Provider("The Business Courier", "courier.example"),
        Provider("Ledger Daily", "ledger.example"),
    )
    ids = {}
    for key, article in {
        "rates": _article(
            "rates",
            "Central bank holds rates, signals cuts next year",
            ledger,
            ("Rates", "Markets"),
            2,
            images=(image,),
            heat=24,
        ),
        "rates2": _article(
            "rates-2",
            "Borrowers left waiting as central bank holds",
            courier,
            ("Rates", "Markets"),
            3,
            heat=24,
        ),
        "ai": _article(
            "ai-audit", "Banks put AI models under audit", courier, ("AI in Finance", "AI"), 5, quality=81
        ),
        "hostile": _article(
            "hostile",
            f"Breaking {HOSTILE_SCRIPT} {HOSTILE_IMG}",
            ledger,
            ("Payments", "Fintech"),
            1,
            excerpt=f"Excerpt {HOSTILE_IMG}",
        ),
    }.items():
        ids[key] = store.save_article(article).id
    story = Story(
        None,
        "Central bank holds rates",
        now() - timedelta(hours=3),
        now(),
        size=2,
        providers=("ledger.example", "courier.example"),
        heat=24,
    )
    story_id = store.create_story(story, None, {})
    store.update_story_heat(story_id, 24)
    for key in ("rates", "rates2"):
        store.save_article(store.get_article(ids[key]).replace(story_id=story_id))
    store.set_related(ids["rates"], [(ids["ai"], 0.61), (ids["rates2"], 0.55)])
    nd.sources.add(Source(url="https://ledger.example/feed.xml", name="Ledger Daily"))
    _, write = nd.tokens.create("maria", "write")
    _, read = nd.tokens.create("reader", "read")
    assert image.sha256 is not None
    return Seeded(nd, ids, story_id, image.sha256, write, read)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    data = seed(tmp_path / "nd", NEWSDESK_ALLOW_PRIVATE_NETWORKS="1")
    yield data
    data.nd.close()


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_web_app(seeded.nd)) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/login") -> str:
    match = CSRF_INPUT.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def publish(seeded: Seeded, *keys: str) -> None:
    for key in keys:
        seeded.nd.editorial.publish(seeded.ids[key], actor="test", reason="")


def sign_in(client: TestClient, token: str) -> None:
    response = client.post(
        "/login",
        data={"token": token, "csrf_token": csrf_of(client), "next": "/review"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


# ------------------------------------------------------------------------------------------- pages


def test_every_page_renders(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)  # the editor's view: unpublished articles render too
    pages = [
        "/",
        "/topics",
        "/topics/rates",
        "/topics/AI in Finance",
        f"/articles/{seeded.ids['rates']}",
        "/search?q=central",
        "/sources",
        "/stats",
        "/stats?parent=markets&days=30",
        "/login",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
    assert client.get("/review").status_code == 200


def test_front_page_shows_hot_story_with_its_providers(client: TestClient, seeded: Seeded) -> None:
    publish(seeded, "rates", "rates2")  # what an anonymous reader sees: the published story
    html = client.get("/").text
    hot = html.split('id="latest"')[0]
    assert "Central bank holds rates, signals cuts next year" in hot
    assert "The Business Courier" in hot and "Ledger Daily" in hot
    assert "Borrowers left waiting as central bank holds" in hot


def test_article_page_shows_record_fields_and_why(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    html = client.get(f"/articles/{seeded.ids['rates']}").text
    for text in (
        "Central bank holds rates, signals cuts next year",
        "https://ledger.example/news/rates?utm_source=feed",
        "zero-shot",
        "ancestor",
        "640 words, 9 paragraphs",
        "-4.0",
        "2 providers, 1.6 after decay",
        "Banks put AI models under audit",
        "61% similar",
        "Borrowers left waiting",
        f"/images/{seeded.image_sha}",
    ):
        assert text in html, text


def test_unknown_ids_are_404(client: TestClient) -> None:
    for path in ("/articles/999999", "/articles/not-a-number", "/topics/no-such-topic"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]


def test_search_finds_by_text(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    html = client.get("/search", params={"q": "audit"}).text
    assert "Banks put AI models under audit" in html
    assert "Central bank holds rates" not in html.split("results-count")[1]


def test_hostile_titles_are_escaped_everywhere(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    for path in (
        "/",
        f"/articles/{seeded.ids['hostile']}",
        "/search?q=breaking",
        "/review",
        "/topics/payments",
    ):
        html = client.get(path).text
        assert HOSTILE_SCRIPT not in html, path
        assert "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_images_are_served_from_the_cache(client: TestClient, seeded: Seeded) -> None:
    publish(seeded, "rates")  # its image is public from now on
    thumb = client.get(f"/images/{seeded.image_sha}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert client.get(f"/images/{seeded.image_sha}").content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/images/" + "0" * 64 + "/thumb").status_code == 404
    assert client.get("/images/..%2F..%2Fetc/thumb").status_code == 404


def test_stats_chart_counts_articles_per_day_per_topic(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    html = client.get("/stats?parent=markets").text
    assert '<svg class="chart"' in html
    assert re.search(r"<title>Rates: 2 on \d{4}-\d\d-\d\d</title>", html) or re.search(
        r"<title>Rates: 1 on", html
    )


def test_search_shows_no_raw_scores_and_one_search_box(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    html = client.get("/search", params={"q": "central bank"}).text
    results = html.split("results-count")[1]
    assert "Central bank holds rates" in results
    assert not re.search(r"\d\.\d{3}", results), "a raw relevance score is shown"
    assert html.count('name="q"') == 1  # the page's own form, not the top bar's as well
    assert client.get("/").text.count('name="q"') == 1  # other pages keep the top bar's


def test_hybrid_search_says_how_each_hit_matched(seeded: Seeded) -> None:
    api = pytest.importorskip("newsdesk.api.app")
    from newsdesk.enrich.embed import load_embedder

    embedder = load_embedder(backend="onnx")
    for article in seeded.nd.store.get_articles(list(seeded.ids.values())).values():
        vector = embedder.embed([f"{article.title}. {article.excerpt}"])[0]
        seeded.nd.store.save_embedding(article.id or 0, embedder.name, vector)
    with TestClient(api.create_app(seeded.nd, embedder=embedder)) as c:
        sign_in(c, seeded.write_token)
        html = c.get("/search", params={"q": "central bank holds rates", "mode": "hybrid"}).text
    results = html.split("results-count")[1]
    rates = results.split("Central bank holds rates")[1].split('class="row"')[0]
    assert "Matches your words and meaning" in rates  # found by both lists
    assert "Close in meaning" in results  # an article without those words, found by meaning alone
    assert not re.search(r"\d\.\d{3}", results) and "text + semantic" not in results


def test_a_rule_decision_shows_the_rule_once(client: TestClient, seeded: Seeded) -> None:
    rule = "quality >= 40"
    decided = apply_rules(seeded.nd.store, parse_rules([f"publish: {rule}"]), [seeded.ids["ai"]], now())
    assert decided["published_by_rule"] == 1
    html = client.get(f"/articles/{seeded.ids['ai']}").text
    panel = html.split("Decisions</h2>")[1].split("</ol>")[0]
    assert panel.count(rule.replace(">", "&gt;")) == 1, panel
    assert "by a publish rule" in panel


def test_sources_count_failures_in_a_row_beside_the_last_error(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    source = seeded.nd.sources.list()[0]
    assert source.id is not None
    error = {"last_error": "HTTP 503 from ledger.example", "last_error_kind": "fetch"}
    recovered = SourceHealth(last_polled_at=now(), last_success_at=now(), error_count=0, **error)
    seeded.nd.store.save_health(source.id, recovered)
    html = client.get("/sources").text
    assert "<th" in html.split("Failures in a row")[0][-120:]  # the column's label
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "Recovered — before the last success: fetch, HTTP 503 from ledger.example" in row
    assert "s-rejected" not in row  # not shown as a current error beside a count of 0
    seeded.nd.store.save_health(source.id, SourceHealth(last_polled_at=now(), error_count=3, **error))
    row = client.get("/sources").text.split("<tbody>")[1].split("</tr>")[0]
    assert re.search(r'<td class="num"[^>]*>3</td>', row) and "s-rejected" in row and "Recovered" not in row


# ------------------------------------------------------------------------------------- visibility


def test_anonymous_readers_see_published_articles_only(client: TestClient, seeded: Seeded) -> None:
    publish(seeded, "rates")
    ids = seeded.ids
    front = client.get("/").text
    assert "Central bank holds rates, signals cuts next year" in front
    for hidden in (
        "Borrowers left waiting",
        "Banks put AI models under audit",
        "Breaking",
        "The Business Courier",
    ):
        assert hidden not in front, hidden
    for key in ("rates2", "ai", "hostile"):
        assert client.get(f"/articles/{ids[key]}").status_code == 404, key
    page = client.get(f"/articles/{ids['rates']}").text
    assert "Banks put AI models under audit" not in page  # an unpublished related record
    assert "Borrowers left waiting" not in page  # an unpublished article of the same story
    assert "— 1 article from 1 provider." in page  # the story as its published articles tell it
    found = client.get("/search", params={"q": "central bank"}).text.split("results-count")[1]
    assert "Central bank holds rates" in found and "Borrowers left waiting" not in found
    assert "Banks put AI models" not in client.get("/topics/ai-in-finance").text
    stats = client.get("/stats?parent=markets").text
    assert re.search(r"<title>Rates: 1 on", stats) and '<span class="figure-value">1</span>' in stats
    sign_in(client, seeded.write_token)  # the editor sees everything again
    assert client.get(f"/articles/{ids['rates2']}").status_code == 200
    assert "Borrowers left waiting" in client.get("/").text


def test_a_revoked_editor_reads_as_the_public(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    assert client.get(f"/articles/{seeded.ids['ai']}").status_code == 200
    for row in seeded.nd.tokens.list():
        seeded.nd.tokens.revoke(row["id"])
    assert client.get(f"/articles/{seeded.ids['ai']}").status_code == 404
    assert client.get("/review", follow_redirects=False).headers["location"].startswith("/login")


# ------------------------------------------------------------------------------------- full text


@pytest.fixture
def sealed(tmp_path: Path, store_url: str) -> Iterator[Seeded]:
    """The seed with encryption on, on either engine: every full text sealed, none left in the clear."""
    env = {"NEWSDESK_ENCRYPT": "1", "NEWSDESK_SECRET_KEY": SECRET_KEY, "NEWSDESK_DATABASE_URL": store_url}
    data = seed(tmp_path / "sealed", **env)
    seal_texts(data.nd.store, data.nd.key_ring)
    yield data
    data.nd.close()


def test_editors_read_the_decrypted_full_text_uncached(sealed: Seeded) -> None:
    stored = sealed.nd.store.get_article(sealed.ids["rates"])
    assert stored.text == "" and stored.secured  # the premise: only the sealed form is stored
    with TestClient(create_web_app(sealed.nd)) as c:
        sign_in(c, sealed.write_token)
        for path in (f"/articles/{sealed.ids['rates']}", "/review"):
            response = c.get(path)
            assert TEXT_LINE in response.text, path
            assert response.headers["cache-control"] == "no-store", path
        card = c.get("/review").text.split(f'id="card-{sealed.ids["ai"]}"')[1].split("</li>")[0]
        assert '<details class="fulltext">' in card and TEXT_LINE in card  # collapsed in the card


def test_anonymous_readers_and_read_tokens_never_see_the_full_text(sealed: Seeded, seeded: Seeded) -> None:
    for data in (sealed, seeded):  # encryption on, and off (the text in the clear in the store)
        _assert_no_full_text_without_an_editor(data)


def _assert_no_full_text_without_an_editor(data: Seeded) -> None:
    publish(data, "rates")
    path = f"/articles/{data.ids['rates']}"
    with TestClient(create_web_app(data.nd)) as c:
        anonymous = c.get(path)
        assert anonymous.status_code == 200 and "Central bank holds rates" in anonymous.text
        assert TEXT_LINE not in anonymous.text and "Full text" not in anonymous.text
        as_reader = c.get(path, headers={"Authorization": f"Bearer {data.read_token}"})
        assert as_reader.status_code == 200 and TEXT_LINE not in as_reader.text
        signer = c.app.state.newsdesk_web.signer  # type: ignore[attr-defined]
        reader = next(row for row in data.nd.tokens.list() if row["scope"] == "read")
        c.cookies.set(session.SESSION_COOKIE, session.session_value(signer, reader, time.time()))
        assert TEXT_LINE not in c.get(path).text  # a read-scope session, signed by this very app
        assert c.get("/review", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("key", "said"),
    [
        (base64.b64encode(bytes(range(1, 33))).decode(), "unknown key id"),  # another key
        ("", "no key: set NEWSDESK_SECRET_KEY"),  # no key at all (and no key file)
    ],
)
def test_a_text_that_cannot_be_opened_is_reported_not_fatal(sealed: Seeded, key: str, said: str) -> None:
    env = {"NEWSDESK_DATA_DIR": str(sealed.nd.settings.data_dir), "NEWSDESK_SECRET_KEY": key,
           "NEWSDESK_DATABASE_URL": sealed.nd.settings.database}  # fmt: skip
    with Newsdesk(load_settings(env=env)) as nd, TestClient(create_web_app(nd)) as c:
        sign_in(c, sealed.write_token)
        for path in (f"/articles/{sealed.ids['rates']}", "/review"):
            response = c.get(path)
            assert response.status_code == 200 and "Central bank holds rates" in response.text, path
            assert f"The sealed full text could not be opened: {said}" in response.text, path
            assert TEXT_LINE not in response.text, path


# ---------------------------------------------------------------------------------- session, CSRF


def test_review_page_needs_sign_in(client: TestClient) -> None:
    response = client.get("/review", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_session_cookie_is_httponly_and_strict(client: TestClient, seeded: Seeded) -> None:
    response = client.post(
        "/login", data={"token": seeded.write_token, "csrf_token": csrf_of(client)}, follow_redirects=False
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("nd_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_read_only_or_wrong_token_cannot_sign_in(client: TestClient, seeded: Seeded) -> None:
    for token in (seeded.read_token, "nd_wrong"):
        response = client.post(
            "/login", data={"token": token, "csrf_token": csrf_of(client)}, follow_redirects=False
        )
        assert response.status_code == 401
        assert "nd_session" not in response.cookies


def test_login_refuses_to_redirect_off_site(client: TestClient, seeded: Seeded) -> None:
    data = {"token": seeded.write_token, "csrf_token": csrf_of(client), "next": "//evil.example/"}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.headers["location"] == "/review"


def test_publish_needs_a_session(client: TestClient, seeded: Seeded) -> None:
    article_id = seeded.ids["rates"]
    response = client.post(f"/review/{article_id}/publish", data={"csrf_token": csrf_of(client)})
    assert response.status_code == 401
    assert seeded.nd.store.get_article(article_id).review_state == "pending"


def test_publish_needs_the_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    article_id = seeded.ids["rates"]
    forged = session.new_csrf(session.Signer.random())  # well-formed, but not signed by this app
    for data in ({}, {"csrf_token": "x"}, {"csrf_token": forged}):
        assert client.post(f"/review/{article_id}/publish", data=data).status_code == 403
    assert seeded.nd.store.get_article(article_id).review_state == "pending"
    assert seeded.nd.store.decisions(article_id) == []


def test_publish_reject_and_fix_topics(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    store, token = seeded.nd.store, csrf_of(client, "/review")
    published = client.post(
        f"/review/{seeded.ids['rates']}/publish", data={"csrf_token": token}, follow_redirects=False
    )
    assert published.status_code == 303
    assert store.get_article(seeded.ids["rates"]).published
    assert store.decisions(seeded.ids["rates"])[0]["actor"] == "web:maria"
    assert "Published" in client.get(published.headers["location"]).text
    no_reason = client.post(f"/review/{seeded.ids['ai']}/reject", data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 400
    client.post(f"/review/{seeded.ids['ai']}/reject", data={"csrf_token": token, "reason": "off-topic"})
    assert store.get_article(seeded.ids["ai"]).review_state == "rejected"
    client.post(f"/review/{seeded.ids['rates2']}/topics", data={"csrf_token": token, "topic": ["Crypto"]})
    assert store.get_article(seeded.ids["rates2"]).topics == ("Crypto", "Fintech")
    unknown = client.post(
        f"/review/{seeded.ids['rates2']}/topics", data={"csrf_token": token, "topic": ["Nope"]}
    )
    assert unknown.status_code == 400


def test_a_decision_sends_the_queue_on_to_the_named_card(client: TestClient, seeded: Seeded) -> None:
    """Each queue card's forms name the card that follows it on the page; the redirect passes it on
    (and drops anything that is not an id)."""
    sign_in(client, seeded.write_token)
    ids, html = seeded.ids, client.get("/review").text
    card = html.split(f'id="card-{ids["rates"]}"')[1].split("</li>")[0]
    assert f'name="then" value="{ids["rates2"]}"' in card  # newest first: rates2 follows rates
    token = csrf_of(client, "/review")
    done = client.post(f"/review/{ids['rates']}/publish", data={"csrf_token": token, "then": str(ids["rates2"])},
                       follow_redirects=False)  # fmt: skip
    assert done.headers["location"] == f"/review?done=publish&id={ids['rates']}&then={ids['rates2']}"
    odd = client.post(f"/review/{ids['ai']}/publish", data={"csrf_token": token, "then": "1&x=<b>"},
                      follow_redirects=False)  # fmt: skip
    assert odd.headers["location"] == f"/review?done=publish&id={ids['ai']}"
    assert seeded.nd.store.get_article(ids["ai"]).published  # a bad hint loses no decision


def test_revoked_token_ends_the_session(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    token = csrf_of(client, "/review")
    for row in seeded.nd.tokens.list():
        seeded.nd.tokens.revoke(row["id"])
    assert (
        client.post(f"/review/{seeded.ids['rates']}/publish", data={"csrf_token": token}).status_code == 401
    )


def test_signer_rejects_tampering_and_expiry() -> None:
    signer = session.Signer.random()
    value = session.session_value(signer, {"id": 3, "name": "maria", "scope": "write"}, now_s=1000.0)
    assert session.read_session(signer, value, 1001.0) == session.Editor(
        3, "maria", "write", 1000.0 + session.SESSION_TTL_S
    )
    assert session.read_session(signer, value, 1000.0 + session.SESSION_TTL_S + 1) is None
    body, mac = value.split(".")
    assert session.read_session(signer, body + "x." + mac, 1001.0) is None
    assert session.read_session(session.Signer.random(), value, 1001.0) is None
    assert session.read_session(signer, "garbage", 1001.0) is None
    read_only = session.session_value(signer, {"id": 4, "name": "r", "scope": "read"}, now_s=1000.0)
    assert session.read_session(signer, read_only, 1001.0) is None


# ----------------------------------------------------------------------------------------- sources


def _site(feed_path: str = "/news/feed.xml") -> LoopbackServer:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Loop News</title><link>http://x/</link>'
        b"<item><title>One</title><link>http://x/1</link></item></channel></rss>"
    )
    page = f'<html><head><link rel="alternate" type="application/rss+xml" href="{feed_path}"></head></html>'
    return LoopbackServer(
        {"/": Reply(body=page.encode()), feed_path: Reply(body=rss, content_type="application/rss+xml")}
    )


def test_add_source_discovers_the_feed_and_remove_it(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    token = csrf_of(client, "/sources")
    with _site() as site:
        response = client.post(
            "/sources", data={"url": site.url("/"), "csrf_token": token}, follow_redirects=False
        )
    assert response.status_code == 303
    added = next(s for s in seeded.nd.sources.list() if s.url.endswith("/news/feed.xml"))
    assert added.name == "Loop News" and added.kind.value == "feed"
    assert "Added Loop News" in client.get(response.headers["location"]).text
    removed = client.post(f"/sources/{added.id}/remove", data={"csrf_token": token}, follow_redirects=False)
    assert removed.status_code == 303
    assert all(s.id != added.id for s in seeded.nd.sources.list())


def test_add_source_reports_a_site_without_feeds(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.write_token)
    token = csrf_of(client, "/sources")
    with LoopbackServer({"/": Reply(body=b"<html><body>No feeds here</body></html>")}) as site:
        response = client.post("/sources", data={"url": site.url("/"), "csrf_token": token})
    assert response.status_code == 422
    assert "no feed or sitemap found" in response.text
    bad = client.post("/sources", data={"url": "javascript:alert(1)", "csrf_token": token})
    assert bad.status_code == 422 and "full http(s) address" in bad.text


def test_add_source_keeps_the_ssrf_guard(tmp_path: Path) -> None:
    data = seed(tmp_path / "guarded")  # private networks not allowed
    with TestClient(create_web_app(data.nd)) as c, _site() as site:
        sign_in(c, data.write_token)
        response = c.post("/sources", data={"url": site.url("/"), "csrf_token": csrf_of(c, "/sources")})
    assert response.status_code == 422
    assert len(data.nd.sources.list()) == 1
    data.nd.close()


def test_source_actions_need_a_session(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client)
    source_id = seeded.nd.sources.list()[0].id
    assert client.post(f"/sources/{source_id}/remove", data={"csrf_token": token}).status_code == 401
    assert client.post("/sources", data={"url": "https://a.example/", "csrf_token": token}).status_code == 401
    assert len(seeded.nd.sources.list()) == 1


# ------------------------------------------------------------------------------------------ charts


def test_chart_axis_is_round_and_names_are_escaped() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 4, 5, 26, 120)] == [4, 4, 4, 8, 40, 200]
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
    svg = charts.stacked_bars(days, [("<b>AI</b>", [1, 0, 2]), ("Rates", [3, 1, 0])])
    assert "<b>" not in svg and "&lt;b&gt;AI&lt;/b&gt;: 2 on 2026-11-03" in svg
    assert svg.count("<rect") == 4  # zero counts draw nothing


def test_search_offers_semantic_modes_only_with_the_api(client: TestClient, seeded: Seeded) -> None:
    assert 'name="mode"' not in client.get("/search?q=rates").text  # the UI alone: text search only
    api = pytest.importorskip("newsdesk.api.app")
    with TestClient(api.create_app(seeded.nd)) as full:
        html = full.get("/search?q=rates").text
    assert 'name="mode"' in html and '<option value="hybrid"' in html
