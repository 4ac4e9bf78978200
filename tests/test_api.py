"""The REST API against a real store (SQLite in tmp_path; PostgreSQL too where the ``store_url`` fixture is
used and configured), through FastAPI's TestClient."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from newsdesk.api import create_app
from newsdesk.api.routes import ROUTES
from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience
from newsdesk.config import load_settings
from newsdesk.model import Alternate, Article, Provider, Reason, Story, TopicScore
from newsdesk.record import dump_record, load_record
from newsdesk.secure import KeyRing

SECRET = base64.b64encode(bytes(range(32))).decode()
BASE = "/api/v1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def make_desk(tmp_path: Path, database_url: str = "", **settings: str) -> Newsdesk:
    env = {
        "NEWSDESK_CONFIG": str(tmp_path / "absent.toml"),
        "NEWSDESK_DATA_DIR": str(tmp_path / "data"),
        "NEWSDESK_DATABASE_URL": database_url,
        "NEWSDESK_SECRET_KEY": SECRET,
        **{f"NEWSDESK_{k.upper()}": v for k, v in settings.items()},
    }
    return Newsdesk(load_settings(env=env, base_dir=tmp_path))


def article(n: int, **changes: Any) -> Article:
    fields: dict[str, Any] = {
        "title": f"Article number {n}",
        "web_url": f"https://news{n % 3}.example.com/story/{n}",
        "original_url": f"https://news{n % 3}.example.com/story/{n}?utm_source=x",
        "provider": Provider(f"News {n % 3}", f"news{n % 3}.example.com"),
        "excerpt": f"Excerpt of article {n}.",
        "published_at": T0 + timedelta(hours=n),
        "quality": 10 * n,
        "heat": n,
        "topics": ("AI in Finance", "AI") if n % 2 else ("Payments", "Fintech"),
    }
    return Article(**(fields | changes))


def seed(nd: Newsdesk, count: int = 7) -> list[int]:
    return [nd.store.save_article(article(n)).id for n in range(1, count + 1)]


def token(nd: Newsdesk, scope: str, name: str | None = None) -> dict[str, str]:
    _, secret = nd.tokens.create(name or f"{scope}-token", scope)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    yield nd
    nd.close()


@pytest.fixture
def reader(desk: Newsdesk) -> dict[str, str]:
    """A read-scope token's header: with it a caller sees unpublished articles too."""
    return token(desk, "read", "reader")


@pytest.fixture
def client(desk: Newsdesk) -> Iterator[TestClient]:
    with TestClient(create_app(desk, include_web=False)) as test_client:
        yield test_client


def ids_of(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["instance"].startswith(BASE)
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


# ------------------------------------------------------------------------------------------- articles


def test_filters_select_the_matching_articles(store_url: str, tmp_path: Path) -> None:
    nd = make_desk(tmp_path, store_url)
    ids = seed(nd)
    nd.store.set_review_state(ids[2], "published")
    reading = token(nd, "read")
    with TestClient(create_app(nd, include_web=False)) as c:
        assert ids_of(c.get(f"{BASE}/articles", headers=reading)) == ids[::-1]  # newest first
        assert ids_of(c.get(f"{BASE}/articles", params={"topic": "AI"}, headers=reading)) == [7, 5, 3, 1]
        assert ids_of(
            c.get(f"{BASE}/articles", params={"provider": "news1.example.com"}, headers=reading)
        ) == [7, 4, 1]
        assert ids_of(c.get(f"{BASE}/articles", params={"published": "true"}, headers=reading)) == [3]
        assert ids_of(c.get(f"{BASE}/articles", params={"min_quality": 50}, headers=reading)) == [7, 6, 5]
        window = {"since": (T0 + timedelta(hours=2)).isoformat(), "until": "2024-05-01T16:00:00Z"}
        assert ids_of(c.get(f"{BASE}/articles", params=window, headers=reading)) == [4, 3, 2]
        assert ids_of(c.get(f"{BASE}/articles", params={"q": "number 6"}, headers=reading)) == [6]
    nd.close()


def test_cursor_pages_cover_everything_once(
    client: TestClient, desk: Newsdesk, reader: dict[str, str]
) -> None:
    ids = seed(desk)
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{BASE}/articles", params=params, headers=reader).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_list_items_are_record_shaped(client: TestClient, desk: Newsdesk, reader: dict[str, str]) -> None:
    seed(desk, 1)
    item = client.get(f"{BASE}/articles", headers=reader).json()["items"][0]
    record_keys = ["category", "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl", "type",
                   "quality", "heat", "published", "provider", "topics", "images", "secured"]  # fmt: skip
    assert [k for k in item if k in record_keys] == record_keys  # the record's key order
    assert item["publishedDateTime"] == "2024-05-01T13:00:00Z"
    assert item["provider"] == {"name": "News 1", "domain": "news1.example.com"}


def test_detail_carries_related_reasons_alternates_and_decisions(
    client: TestClient, desk: Newsdesk, reader: dict[str, str]
) -> None:
    first, second = seed(desk, 2)
    store = desk.store
    store.save_article(
        store.get_article(first).replace(
            quality_reasons=(Reason("depth", 12.0, "1,240 words"),),
            heat_reasons=(Reason("providers", 3.0, "3 providers"),),
            topic_scores=(TopicScore("AI in Finance", 0.91, "zero-shot"), TopicScore("AI", 0.91, "ancestor")),
        )
    )
    store.set_related(first, [(second, 0.83)])
    store.add_alternate(first, Alternate("https://mirror.example.org/copy", None, T0, "same-content"))
    client.post(
        f"{BASE}/articles/{first}/publish", headers=token(desk, "write", "ed"), json={"reason": "good"}
    )
    body = client.get(f"{BASE}/articles/{first}", headers=reader).json()
    assert body["qualityReasons"] == [{"name": "depth", "value": 12.0, "detail": "1,240 words"}]
    assert body["heatReasons"][0]["name"] == "providers"
    assert [t["signal"] for t in body["topicScores"]] == ["zero-shot", "ancestor"]
    assert body["related"][0]["id"] == second and body["related"][0]["similarity"] == pytest.approx(0.83)
    assert body["alternates"][0]["url"] == "https://mirror.example.org/copy"
    assert [(d["action"], d["actor"], d["reason"]) for d in body["decisions"]] == [("publish", "ed", "good")]
    assert body["published"] is True and body["reviewState"] == "published"


def test_record_md_is_the_record_file(client: TestClient, desk: Newsdesk, reader: dict[str, str]) -> None:
    (first,) = seed(desk, 1)
    response = client.get(f"{BASE}/articles/{first}/record.md", headers=reader)
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text == dump_record(desk.catalog.article(first, Audience.TRUSTED))
    assert load_record(response.text).web_url == "https://news1.example.com/story/1"


def test_unknown_ids_are_404_problems(client: TestClient, desk: Newsdesk) -> None:
    for path in ("/articles/999", "/articles/999/record.md", "/stories/999", "/nowhere"):
        assert_problem(client.get(BASE + path), 404)
    headers = token(desk, "admin")
    assert_problem(client.get(f"{BASE}/sources/999", headers=headers), 404)  # sources need a token
    assert_problem(client.post(f"{BASE}/articles/999/publish", headers=headers), 404)
    assert_problem(client.get(f"{BASE}/articles/999/secured", headers=headers), 404)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_quality": 101}, "min_quality"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"published": "maybe"}, "published"),
        ({"topic": "Astrology"}, "topic"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "until"),
    ],
)
def test_bad_filters_are_422_naming_the_field(client: TestClient, params: dict[str, Any], field: str) -> None:
    assert_problem(client.get(f"{BASE}/articles", params=params), 422, field)


def test_hostile_html_comes_back_as_json_data(
    client: TestClient, desk: Newsdesk, reader: dict[str, str]
) -> None:
    (first,) = [desk.store.save_article(article(1, title=HOSTILE, excerpt=HOSTILE)).id]
    response = client.get(f"{BASE}/articles/{first}", headers=reader)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["title"] == HOSTILE and response.json()["excerpt"] == HOSTILE
    assert ids_of(client.get(f"{BASE}/search", params={"q": "script alert"}, headers=reader)) == [first]


# ------------------------------------------------------------------------------------ auth and limits


def test_write_needs_a_token_of_enough_scope(client: TestClient, desk: Newsdesk) -> None:
    (first,) = seed(desk, 1)
    url = f"{BASE}/articles/{first}/publish"
    missing = assert_problem(client.post(url), 401)
    assert "needs a token" in missing["detail"]
    assert client.post(url).headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.post(url, headers={"Authorization": "Bearer nd_wrong"}), 401)
    assert_problem(client.post(url, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
    assert_problem(client.post(url, headers=token(desk, "read")), 403)
    assert client.post(url, headers=token(desk, "write")).json()["changed"] is True
    assert desk.store.get_article(first).published is True


def test_revoked_token_is_refused(client: TestClient, desk: Newsdesk) -> None:
    token_id, secret = desk.tokens.create("gone", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{BASE}/sources", headers=headers).status_code == 200
    desk.tokens.revoke(token_id)
    assert_problem(client.get(f"{BASE}/sources", headers=headers), 401)


def test_reading_needs_a_token_when_public_read_is_off(tmp_path: Path) -> None:
    nd = make_desk(tmp_path, public_read="false")
    with TestClient(create_app(nd, include_web=False)) as c:
        assert_problem(c.get(f"{BASE}/articles"), 401)
        assert c.get(f"{BASE}/articles", headers=token(nd, "read")).status_code == 200
        assert c.get(f"{BASE}/health").json()["status"] == "ok"  # the health check stays open
    nd.close()


def test_secured_text_is_for_admins_only(client: TestClient, desk: Newsdesk) -> None:
    sealed = KeyRing.from_secret(SECRET).encrypt("The whole article, in the clear.")
    saved = desk.store.save_article(article(1, secured=sealed.secured, key_id=sealed.key_id))
    url = f"{BASE}/articles/{saved.id}/secured"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=token(desk, "write")), 403)
    body = client.get(url, headers=token(desk, "admin")).json()
    assert body == {"id": saved.id, "keyId": sealed.key_id, "text": "The whole article, in the clear."}


def test_write_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    nd = make_desk(tmp_path, write_rate_limit="3")
    ids = seed(nd, 5)
    with TestClient(create_app(nd, include_web=False)) as c:
        busy, calm = token(nd, "write", "busy"), token(nd, "write", "calm")
        answers = [c.post(f"{BASE}/articles/{i}/publish", headers=busy) for i in ids[:4]]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert_problem(answers[-1], 429)
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 20  # 3/min → one every 20 s
        assert c.post(f"{BASE}/articles/{ids[4]}/publish", headers=calm).status_code == 200
        assert c.get(f"{BASE}/articles", headers=busy).status_code == 200  # reads are not limited
    assert nd.store.get_article(ids[3]).published is False
    nd.close()


def test_oversized_body_is_413_before_parsing(client: TestClient, desk: Newsdesk) -> None:
    (first,) = seed(desk, 1)
    headers = token(desk, "write") | {"Content-Type": "application/json"}
    url = f"{BASE}/articles/{first}/reject"
    big = b'{"reason": "' + b"x" * 1_100_000 + b'"}'
    assert_problem(client.post(url, content=big, headers=headers), 413)

    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "'
        for _ in range(20):
            yield b"y" * 60_000
        yield b'"}'

    assert_problem(client.post(url, content=chunks(), headers=headers), 413)
    assert desk.store.get_article(first).review_state == "pending"
    # Under the cap the body reaches validation, which has its own, smaller limit for a reason.
    assert_problem(client.post(url, json={"reason": "z" * 900_000}, headers=headers), 422, "reason")


def test_cors_is_off_unless_origins_are_set(client: TestClient, tmp_path: Path) -> None:
    origin = {"Origin": "https://reader.example.net"}
    assert "access-control-allow-origin" not in client.get(f"{BASE}/health", headers=origin).headers
    nd = make_desk(tmp_path / "cors", cors_origins="https://reader.example.net")
    with TestClient(create_app(nd, include_web=False)) as c:
        allowed = c.get(f"{BASE}/health", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://reader.example.net"
    nd.close()


# -------------------------------------------------------------------------------------------- editorial


def test_concurrent_publish_publishes_once(store_url: str, tmp_path: Path) -> None:
    nd = make_desk(tmp_path, store_url)
    (first,) = seed(nd, 1)
    headers = token(nd, "write", "racer")
    results: list[tuple[int, Any]] = []
    barrier = threading.Barrier(6)
    with TestClient(create_app(nd, include_web=False)) as c:

        def publish() -> None:
            barrier.wait()
            response = c.post(f"{BASE}/articles/{first}/publish", headers=headers)
            results.append((response.status_code, response.json()))

        threads = [threading.Thread(target=publish) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(status == 200 for status, _ in results), results
    assert sorted(body["changed"] for _, body in results) == [False] * 5 + [True]
    assert [d["action"] for d in nd.store.decisions(first)] == ["publish"]
    assert nd.store.get_article(first).published is True
    nd.close()


def test_reject_needs_a_reason_and_topics_must_exist(client: TestClient, desk: Newsdesk) -> None:
    (first,) = seed(desk, 1)
    headers = token(desk, "write", "ed")
    url = f"{BASE}/articles/{first}"
    assert_problem(client.post(f"{url}/reject", headers=headers), 422, "body")
    assert_problem(client.post(f"{url}/reject", json={"reason": "   "}, headers=headers), 422, "reason")
    assert (
        client.post(f"{url}/reject", json={"reason": "off topic"}, headers=headers).json()["changed"] is True
    )
    assert_problem(
        client.put(f"{url}/topics", json={"topics": ["AI", "Astrology"]}, headers=headers), 422, "topics.1"
    )
    changed = client.put(f"{url}/topics", json={"topics": ["Payments"], "reason": "fix"}, headers=headers)
    assert changed.json()["topics"] == ["Payments", "Fintech"]
    assert [d["action"] for d in desk.store.decisions(first)] == ["reject", "topics"]


# --------------------------------------------------------------------------------- stories and topics


def test_stories_hot_first_with_their_articles(
    client: TestClient, desk: Newsdesk, reader: dict[str, str]
) -> None:
    ids = seed(desk, 3)
    store = desk.store
    cold = store.create_story(Story(None, "Cold story", T0, T0, 1, ("news1.example.com",), 5), None, {})
    hot = store.create_story(
        Story(None, "Hot story", T0, T0, 2, ("news1.example.com", "news2.example.com"), 80), None, {}
    )
    for article_id, story_id in ((ids[0], cold), (ids[1], hot), (ids[2], hot)):
        store.save_article(store.get_article(article_id).replace(story_id=story_id))
    listed = client.get(f"{BASE}/stories", headers=reader).json()["items"]
    assert [s["id"] for s in listed] == [hot, cold]
    assert listed[0]["providers"] == ["news1.example.com", "news2.example.com"]
    detail = client.get(f"{BASE}/stories/{hot}", headers=reader).json()
    assert [a["id"] for a in detail["articles"]] == [ids[1], ids[2]]


def test_topic_tree_has_counts(client: TestClient, desk: Newsdesk, reader: dict[str, str]) -> None:
    seed(desk)
    roots = {n["name"]: n for n in client.get(f"{BASE}/topics", headers=reader).json()["items"]}
    ai = roots["AI"]
    assert ai["count"] == 4
    assert {c["name"]: c["count"] for c in ai["children"]}["AI in Finance"] == 4
    assert roots["Fintech"]["count"] == 3 and ai["feed"] == f"{BASE}/feeds/ai.rss"


# ------------------------------------------------------------------------------------------- visibility


def test_anonymous_callers_see_published_articles_only(store_url: str, tmp_path: Path) -> None:
    nd = make_desk(tmp_path, store_url)
    ids = seed(nd, 4)  # 1, 3: AI; 2, 4: Fintech
    store = nd.store
    for article_id in (ids[0], ids[2]):
        store.set_review_state(article_id, "published")
    shown = store.create_story(Story(None, "Article number 2", T0, T0, 2, ("a", "b"), 50), None, {})
    hidden = store.create_story(Story(None, "Article number 4", T0, T0, 1, ("c",), 90), None, {})
    for article_id, story_id in ((ids[0], shown), (ids[1], shown), (ids[3], hidden)):
        store.save_article(store.get_article(article_id).replace(story_id=story_id))
    store.set_related(ids[0], [(ids[1], 0.9), (ids[2], 0.8)])
    with TestClient(create_app(nd, include_web=False)) as c:
        assert ids_of(c.get(f"{BASE}/articles")) == [ids[2], ids[0]]
        assert ids_of(c.get(f"{BASE}/articles", params={"published": "false"})) == []
        for path in (f"/articles/{ids[1]}", f"/articles/{ids[1]}/record.md", f"/stories/{hidden}"):
            assert_problem(c.get(BASE + path), 404)
        assert [r["id"] for r in c.get(f"{BASE}/articles/{ids[0]}").json()["related"]] == [ids[2]]
        assert "Article number 2" not in c.get(f"{BASE}/articles/{ids[0]}/record.md").text
        assert sorted(ids_of(c.get(f"{BASE}/search", params={"q": "article number"}))) == [ids[0], ids[2]]
        stories = c.get(f"{BASE}/stories").json()["items"]
        assert [(s["id"], s["title"], s["size"], s["providers"]) for s in stories] == [
            (shown, "Article number 1", 1, ["news1.example.com"])  # as its published article tells it
        ]
        assert [a["id"] for a in c.get(f"{BASE}/stories/{shown}").json()["articles"]] == [ids[0]]
        roots = {n["name"]: n["count"] for n in c.get(f"{BASE}/topics").json()["items"]}
        assert (roots["AI"], roots["Fintech"]) == (2, 0)
        reading = token(nd, "read")  # any valid token sees everything
        assert ids_of(c.get(f"{BASE}/articles", headers=reading)) == ids[::-1]
        assert c.get(f"{BASE}/articles/{ids[1]}", headers=reading).status_code == 200
        assert [s["id"] for s in c.get(f"{BASE}/stories", headers=reading).json()["items"]] == [hidden, shown]
        roots = {n["name"]: n["count"] for n in c.get(f"{BASE}/topics", headers=reading).json()["items"]}
        assert (roots["AI"], roots["Fintech"]) == (2, 2)
    nd.close()


def test_public_search_reads_deeper_to_fill_its_page(
    client: TestClient, desk: Newsdesk, reader: dict[str, str]
) -> None:
    ids = seed(desk, 10)  # every title says "Article number n"
    ranking = ids_of(
        client.get(f"{BASE}/search", params={"q": "article number", "limit": 10}, headers=reader)
    )
    assert sorted(ranking) == ids
    chosen = sorted(ranking[-2:])  # published, but last in the ranking: past the first read (4 × 2)
    params = {"q": "article number", "limit": 2}
    for article_id in chosen:
        desk.store.set_review_state(article_id, "published")
    assert sorted(ids_of(client.get(f"{BASE}/search", params=params))) == chosen


# ----------------------------------------------------------------------------------------------- sources


def test_sources_crud_with_validation(client: TestClient, desk: Newsdesk) -> None:
    writer, admin = token(desk, "write"), token(desk, "admin")
    new = {"url": "https://feeds.example.com/rss", "name": "Example", "topics": ["AI"], "pollMinS": 600}
    created = client.post(f"{BASE}/sources", json=new, headers=writer)
    assert created.status_code == 201, created.text
    source = created.json()
    assert source["health"]["errorCount"] == 0 and source["pollMinS"] == 600
    assert_problem(client.post(f"{BASE}/sources", json=new, headers=writer), 409)
    assert_problem(
        client.post(f"{BASE}/sources", json={"url": "ftp://x.example.com/"}, headers=writer), 422, "url"
    )
    assert_problem(
        client.post(f"{BASE}/sources", json={"url": "javascript:alert(1)"}, headers=writer), 422, "url"
    )
    loopback = {"url": "http://127.0.0.1:8080/feed", "allowLoopback": True}
    assert_problem(client.post(f"{BASE}/sources", json=loopback, headers=writer), 403)
    assert client.post(f"{BASE}/sources", json=loopback, headers=admin).status_code == 201
    url = f"{BASE}/sources/{source['id']}"
    patched = client.patch(url, json={"name": "Renamed", "reputation": 0.7}, headers=writer).json()
    assert (patched["name"], patched["reputation"], patched["url"]) == ("Renamed", 0.7, new["url"])
    site = client.patch(url, json={"siteUrl": "https://example.com/"}, headers=writer).json()
    assert site["siteUrl"] == "https://example.com/" and source["siteUrl"] is None
    assert_problem(client.patch(url, json={"siteUrl": "javascript:alert(1)"}, headers=writer), 422, "siteUrl")
    assert_problem(client.patch(url, json={"pollMaxS": 60}, headers=writer), 422, "pollMinS")
    assert_problem(client.patch(url, json={"url": loopback["url"]}, headers=writer), 409)
    assert len(client.get(f"{BASE}/sources", headers=writer).json()["items"]) == 2
    assert client.delete(url, headers=writer).json()["id"] == source["id"]
    assert_problem(client.get(url, headers=writer), 404)


# ------------------------------------------------------------------------------------- feeds and images


def test_feeds_parse_back(client: TestClient, desk: Newsdesk) -> None:
    ids = seed(desk, 4)
    for article_id in ids[:3]:
        desk.store.set_review_state(article_id, "published")
    everything = feedparser.parse(client.get(f"{BASE}/feeds/all.rss").content)
    assert not everything.bozo and [e.link for e in everything.entries] == [
        desk.store.get_article(i).web_url for i in (3, 2, 1)
    ]
    atom = client.get(f"{BASE}/feeds/ai-in-finance.atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert [e.title for e in feedparser.parse(atom.content).entries] == [
        "Article number 3",
        "Article number 1",
    ]
    # feedparser 6.0 reads no JSON Feed; the document is checked against JSON Feed 1.1 by hand.
    named = client.get(f"{BASE}/feeds/Payments.json")
    assert named.headers["content-type"].startswith("application/feed+json")
    document = named.json()
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert [(i["title"], i["tags"]) for i in document["items"]] == [
        ("Article number 2", ["Payments", "Fintech"])
    ]
    assert_problem(client.get(f"{BASE}/feeds/astrology.rss"), 404)
    assert_problem(client.get(f"{BASE}/feeds/all.html"), 404)


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (640, 320), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_cached_images_are_served(client: TestClient, desk: Newsdesk) -> None:
    content = _png((200, 30, 30))
    image = desk.images.store("https://cdn.example.com/a.png", content)
    assert image.sha256 is not None
    desk.store.save_article(article(1, images=(image,), published=True))  # anonymous: published only
    original = client.get(f"{BASE}/images/{image.sha256}")
    assert original.content == content and original.headers["content-type"] == "image/png"
    assert "immutable" in original.headers["cache-control"]
    thumb = client.get(f"{BASE}/images/{image.sha256}/thumb")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(thumb.content)).size[0] == desk.settings.thumbnail_width
    for bad in ("0" * 64, image.sha256.upper(), "..%2F..%2Fetc%2Fpasswd", "abc"):
        assert_problem(client.get(f"{BASE}/images/{bad}"), 404)


def test_openapi_documents_every_route_of_the_table(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert documented == {(r.method, BASE + r.path) for r in ROUTES}
    assert "401" in paths[f"{BASE}/sources"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


def test_openapi_lists_problem_json_alone_for_every_error_answer(client: TestClient) -> None:
    """Every 4xx/5xx answer is ``application/problem+json`` (``problems.py``): the document lists that
    type alone, FastAPI's own 422 (a JSON ``HTTPValidationError`` the API never sends) included, and
    leaves the success answers as they were."""
    document = client.get("/openapi.json").json()
    answers = [
        (f"{method} {path} {status}", list(answer.get("content", {})))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
    ]
    errors = [(where, types) for where, types in answers if where.split()[-1][0] in "45"]
    assert len(errors) > 150 and [w for w, types in errors if types != ["application/problem+json"]] == []
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "422" in document["paths"][f"{BASE}/websub/{{key}}"]["post"]["responses"]
    created = document["paths"][f"{BASE}/sources"]["post"]["responses"]["201"]["content"]
    assert created == {"application/json": {"schema": {"$ref": "#/components/schemas/SourceOut"}}}
    feed = document["paths"][f"{BASE}/feeds/{{name}}"]["get"]["responses"]["200"]["content"]
    assert sorted(feed) == ["application/atom+xml", "application/feed+json", "application/rss+xml"]


def test_health(client: TestClient, desk: Newsdesk) -> None:
    desk.store.set_review_state(seed(desk, 2)[0], "published")
    assert client.get(f"{BASE}/health").json() == {"status": "ok", "articles": 1, "sources": 0}


def test_health_says_nothing_about_unpublished_articles(client: TestClient, desk: Newsdesk) -> None:
    seed(desk, 3)
    assert client.get(f"{BASE}/health").json()["articles"] == 0
    assert client.get(f"{BASE}/health", headers=token(desk, "admin")).json()["articles"] == 0


def test_a_reason_of_control_characters_is_no_reason(client: TestClient, desk: Newsdesk) -> None:
    """Found by schemathesis: whitespace-like control characters passed the schema, then the facade."""
    article_id = seed(desk, 1)[0]
    response = client.post(
        f"{BASE}/articles/{article_id}/reject", json={"reason": "\r\u001c\r"}, headers=token(desk, "write")
    )
    assert response.status_code == 422 and "reason" in response.text
    assert desk.store.get_article(article_id).review_state == "pending"
