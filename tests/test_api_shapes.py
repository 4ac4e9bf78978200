"""The API's output shapes: one declaration (the pydantic models of ``api/schemas.py``) gives both what
``/openapi.json`` promises and what a handler sends. These tests pin the wire body of a full record, key for
key and in order, and check that every JSON answer carries exactly the keys its documented schema lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.model import Alternate, Image, Reason, Source, Story, TopicScore
from tests.test_api import BASE, T0, make_desk, seed, token

CACHED = "ab" * 32  # a sha256 in hex


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    """Two articles, the first with every optional part filled (reasons, images, related, alternate)."""
    nd = make_desk(tmp_path)
    first, second = seed(nd, 2)
    store = nd.store
    images = (
        Image("https://img.example.com/a.png", 10, 20, True, CACHED),
        Image("https://img.example.com/b.png"),
    )
    store.save_article(
        store.get_article(first).replace(
            quality_reasons=(Reason("depth", 12.0, "1,240 words"),),
            heat_reasons=(Reason("providers", 3.0, "3 providers"),),
            topic_scores=(TopicScore("AI", 0.91, "zero-shot"),),
            images=images,
        )
    )
    store.set_related(first, [(second, 0.83)])
    store.add_alternate(first, Alternate("https://mirror.example.org/copy", None, T0, "same-content"))
    story = store.create_story(Story(None, "A story", T0, T0, 1, ("news1.example.com",), 7), None, {})
    store.save_article(store.get_article(second).replace(story_id=story))
    nd.sources.add(Source("https://feeds.example.com/rss", topics=("AI",), reputation=0.5))
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk) -> Iterator[TestClient]:
    with TestClient(create_app(desk, include_web=False)) as test_client:
        yield test_client


def test_a_full_record_on_the_wire(client: TestClient, desk: Newsdesk) -> None:
    body = client.get(f"{BASE}/articles/1", headers=token(desk, "read")).json()
    first_seen = body.pop("firstSeenAt")
    assert first_seen.endswith("Z")
    provider = {"name": "News 1", "domain": "news1.example.com"}
    assert body == {
        "id": 1, "category": "news", "title": "Article number 1", "excerpt": "Excerpt of article 1.",
        "publishedDateTime": "2024-05-01T13:00:00Z", "originalUrl": "https://news1.example.com/story/1?utm_source=x",
        "webUrl": "https://news1.example.com/story/1", "type": "article", "quality": 10, "heat": 1,
        "published": False, "provider": provider, "topics": ["AI in Finance", "AI"],
        "images": [
            {"url": "https://img.example.com/a.png", "width": 10, "height": 20, "isCached": True,
             "cachedUrl": f"{BASE}/images/{CACHED}"},
            {"url": "https://img.example.com/b.png", "width": None, "height": None, "isCached": False,
             "cachedUrl": None},
        ],
        "secured": None, "reviewState": "pending",
        "related": [
            {"id": 2, "title": "Article number 2", "excerpt": "Excerpt of article 2.",
             "publishedDateTime": "2024-05-01T14:00:00Z", "webUrl": "https://news2.example.com/story/2",
             "type": "article", "provider": {"name": "News 2", "domain": "news2.example.com"}, "quality": 20,
             "images": [], "similarity": pytest.approx(0.83)},
        ],
        "topicScores": [{"name": "AI", "score": 0.91, "signal": "zero-shot"}],
        "qualityReasons": [{"name": "depth", "value": 12.0, "detail": "1,240 words"}],
        "heatReasons": [{"name": "providers", "value": 3.0, "detail": "3 providers"}],
        "alternates": [{"url": "https://mirror.example.org/copy", "sourceId": None,
                        "seenAt": "2024-05-01T12:00:00Z", "reason": "same-content", "provider": None}],
        "decisions": [], "storyId": None, "sourceId": None, "language": None, "author": None,
        "fetchedAt": None, "fetchError": None,
    }  # fmt: skip
    record_order = ["id", "category", "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl"]
    assert list(body)[: len(record_order)] == record_order


def _schema(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _assert_documented(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """Every object in ``value`` has exactly the properties its schema lists, in the listed order."""
    schema = _schema(spec, schema)
    options = [_schema(spec, s) for s in schema.get("anyOf", [])]
    if value is None and options:
        return
    if options:
        schema = next(s for s in options if s.get("type") != "null")
    if schema.get("type") == "object" and "properties" in schema:
        assert list(value) == list(schema["properties"]), where
        for key, item in value.items():
            _assert_documented(spec, schema["properties"][key], item, f"{where}.{key}")
    elif schema.get("type") == "array":
        for index, item in enumerate(value):
            _assert_documented(spec, schema["items"], item, f"{where}[{index}]")


@pytest.mark.parametrize(
    "path",
    ["/articles", "/articles/1", "/stories", "/stories/1", "/topics", "/search?q=article", "/sources",
     "/health"],
)  # fmt: skip
def test_every_answer_has_the_documented_keys(client: TestClient, desk: Newsdesk, path: str) -> None:
    spec = client.get("/openapi.json").json()
    template = next(p for p in spec["paths"] if _matches(p, BASE + path.split("?")[0]))
    response = client.get(BASE + path, headers=token(desk, "admin"))
    assert response.status_code == 200, response.text
    documented = spec["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
    _assert_documented(spec, documented["schema"], response.json(), path)


def _matches(template: str, path: str) -> bool:
    parts, wanted = template.split("/"), path.split("/")
    return len(parts) == len(wanted) and all(
        p == w or p.startswith("{") for p, w in zip(parts, wanted, strict=True)
    )
