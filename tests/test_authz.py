"""Who may do what: the authorisation matrix of the API and the UI pages that show sources, and the
loopback rule (a source allowed to reach private addresses keeps that right only while it points where an
admin allowed it), checked on every path that can add or change a source.

Real store, real app through TestClient, real HTTP on loopback for fetches; see docs/design.md,
"Authorisation".
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from newsdesk import events
from newsdesk.api import create_app
from newsdesk.api.routes import ROUTES
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.model import Article, Provider, Source, Story
from newsdesk.secure import KeyRing
from newsdesk.store import Store
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

BASE = "/api/v1"
SECRET = base64.b64encode(bytes(range(32))).decode()
INTERNAL = "http://127.0.0.1:8080/feed"  # what an admin allowed
ELSEWHERE = "http://127.0.0.1:6379/"  # where a write token would like the fetcher to go instead
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_desk(tmp_path: Path, **settings: str) -> Newsdesk:
    env = quiet_env(tmp_path / "data", NEWSDESK_SECRET_KEY=SECRET) | {
        f"NEWSDESK_{k.upper()}": v for k, v in settings.items()
    }
    return Newsdesk(load_settings(env=env, base_dir=tmp_path))


def bearer(nd: Newsdesk, scope: str, name: str | None = None) -> dict[str, str]:
    _, secret = nd.tokens.create(name or f"{scope}-token", scope)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path)
    yield nd
    nd.close()


@pytest.fixture
def client(desk: Newsdesk) -> Iterator[TestClient]:
    with TestClient(create_app(desk)) as test_client:
        yield test_client


# ------------------------------------------------------------------------------------ the loopback rule


def test_moving_an_allowed_source_clears_its_loopback_flag(client: TestClient, desk: Newsdesk) -> None:
    writer, admin = bearer(desk, "write"), bearer(desk, "admin")
    created = client.post(f"{BASE}/sources", json={"url": INTERNAL, "allowLoopback": True}, headers=admin)
    assert created.status_code == 201 and created.json()["allowLoopback"] is True
    url = f"{BASE}/sources/{created.json()['id']}"

    def patch(body: dict[str, object], headers: dict[str, str]) -> bool:
        answer = client.patch(url, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        flag: bool = answer.json()["allowLoopback"]
        assert desk.store.get_source(created.json()["id"]).allow_loopback is flag
        return flag

    assert patch({"name": "Internal", "reputation": 0.5}, writer) is True  # same address: kept
    assert patch({"url": INTERNAL}, writer) is True  # "moved" to where it already is
    assert patch({"url": ELSEWHERE}, writer) is False  # the bypass: a write token re-points it
    assert client.patch(url, json={"allowLoopback": True}, headers=writer).status_code == 403
    assert patch({"url": INTERNAL, "allowLoopback": True}, admin) is True  # an admin re-grants
    assert patch({"kind": "page"}, writer) is False  # the kind decides what is fetched, too
    assert patch({"kind": "feed", "allowLoopback": True}, admin) is True
    assert patch({"url": ELSEWHERE}, admin) is False  # admins too must say it again
    assert patch({"url": INTERNAL, "allowLoopback": True}, admin) is True


def test_a_moved_source_is_refused_before_anything_is_dialled(tmp_path: Path) -> None:
    """After the bypass attempt the next run refuses the new address before connecting, and the error
    is the same whether something listens there or not: the caller learns nothing about the port."""
    nd = make_desk(tmp_path, workers="1")
    admin, writer = bearer(nd, "admin"), bearer(nd, "write")
    listening = LoopbackServer({"/feed": Reply(body=b"<rss/>", content_type="application/rss+xml")})
    with listening, TestClient(create_app(nd)) as c:
        closed = f"http://127.0.0.1:{_closed_port()}/feed"
        errors = {}
        for n, target in enumerate((listening.url("/feed"), closed)):
            made = c.post(
                f"{BASE}/sources", json={"url": f"{INTERNAL}{n}", "allowLoopback": True}, headers=admin
            )
            moved = c.patch(f"{BASE}/sources/{made.json()['id']}", json={"url": target}, headers=writer)
            assert moved.json()["allowLoopback"] is False
            nd.run(sources=[nd.store.get_source(made.json()["id"])])
            health = c.get(f"{BASE}/sources/{made.json()['id']}", headers=writer).json()["health"]
            errors[target] = (health["lastErrorKind"], health["lastError"].replace(target, "URL"))
        assert listening.requests == []
    assert len(set(errors.values())) == 1, errors
    assert next(iter(errors.values()))[0] == "blocked"
    nd.close()


def test_the_store_keeps_the_flag_only_where_it_was_granted(store: Store) -> None:
    """The rule itself, on SQLite and PostgreSQL: kept in place, cleared by a move, given by a grant."""
    made = store.add_source(Source(INTERNAL, allow_loopback=True))
    assert made.id is not None

    def update(grant: bool = False, **changes: object) -> bool:
        current = store.get_source(made.id or 0)
        return store.update_source(
            made.id or 0, dataclasses.replace(current, **changes), grant_loopback=grant
        ).allow_loopback

    assert update(name="Renamed") is True
    assert update(url=ELSEWHERE) is False
    assert update(url=INTERNAL, allow_loopback=True) is False  # asking is not enough
    assert update(grant=True, allow_loopback=True) is True
    assert update(kind="sitemap") is False
    assert update(grant=True, kind="feed") is False  # a grant gives only what is asked for


def test_no_other_path_grants_or_carries_the_flag(desk: Newsdesk, tmp_path: Path) -> None:
    """OPML import and sources.yaml sync (what the CLI's ``source import-opml`` / ``source sync`` run)
    and the facade itself: none re-points an allowed source with its flag, none grants one."""
    allowed = desk.sources.add(Source(INTERNAL, name="Internal", allow_loopback=True))
    assert allowed.id is not None
    opml = tmp_path / "subs.opml"
    opml.write_text(
        f'<opml version="2.0"><body><outline text="Renamed" xmlUrl="{INTERNAL}"/>'
        f'<outline text="New" xmlUrl="{ELSEWHERE}"/></body></opml>'
    )
    added, _ = desk.sources.import_opml(opml)
    assert [(s.url, s.allow_loopback) for s in added] == [(ELSEWHERE, False)]
    kept = desk.store.get_source(allowed.id)
    assert (kept.name, kept.allow_loopback) == ("Renamed", True)  # renamed in place: still allowed
    listed = tmp_path / "sources.yaml"
    listed.write_text(f"- url: {INTERNAL}\n  name: From yaml\n  kind: page\n")
    assert desk.sources.sync_file(listed).known == 1
    assert desk.store.get_source(allowed.id) == kept  # a known source is not touched by a sync
    moved = desk.sources.update(allowed.id, dataclasses.replace(kept, url=f"{INTERNAL}/moved"))
    assert moved.allow_loopback is False


def test_the_ui_form_refuses_a_private_address_and_says_who_may_allow_it(
    client: TestClient, desk: Newsdesk
) -> None:
    _sign_in(client, bearer(desk, "admin")["Authorization"][len("Bearer ") :])
    with LoopbackServer({"/": Reply(body=b"<html></html>")}) as site:
        answer = client.post("/sources", data={"url": site.url("/"), "csrf_token": _csrf(client)})
    assert answer.status_code == 422
    assert "An admin token can add it" in answer.text and "allowLoopback" in answer.text
    assert site.requests == [] and desk.sources.list() == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ the matrix

CALLERS = ("none", "bogus", "read", "revoked", "write", "admin")
OPEN = (200, 200, 200, 200, 200, 200)  # no token looked at
PUBLIC = (200, 401, 200, 401, 200, 200)  # public_read: anonymous fine, a bad token never is
TOKEN = (401, 401, 200, 401, 200, 200)  # any valid token; anonymous callers get nothing
ADMIN = (401, 401, 403, 401, 403, 200)
ADMIN_MADE = (401, 401, 403, 401, 403, 201)
UNKNOWN = (404, 404, 404, 404, 404, 404)  # an open route that answers only to a secret in its path
GONE = (410, 410, 410, 410, 410, 410)  # a push to a key we do not hold: the hub may drop it (WebSub §8)


def WRITE(ok: int) -> tuple[int, ...]:  # noqa: N802 - reads as a row of the table
    return (401, 401, 403, 401, ok, ok)


# (method, path, expected status per caller in CALLERS order). Paths name the seeded items in braces;
# "{fresh}" is an article and "{doomed}" a source made for the one request.
API_MATRIX: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("GET", "/health", OPEN),
    ("GET", "/articles", PUBLIC),
    ("GET", "/articles/{article}", PUBLIC),
    ("GET", "/articles/{article}/record.md", PUBLIC),
    ("GET", "/articles/{article}/secured", ADMIN),
    ("POST", "/articles/{fresh}/publish", WRITE(200)),
    ("POST", "/articles/{fresh}/reject", WRITE(200)),
    ("PUT", "/articles/{fresh}/topics", WRITE(200)),
    ("GET", "/stories", PUBLIC),
    ("GET", "/stories/{story}", PUBLIC),
    ("GET", "/topics", PUBLIC),
    ("GET", "/search", PUBLIC),
    ("GET", "/sources", TOKEN),
    ("POST", "/sources", WRITE(201)),
    ("GET", "/sources/{source}", TOKEN),
    ("PATCH", "/sources/{source}", WRITE(200)),
    ("POST", "/sources/{source}/poll", WRITE(202)),
    ("DELETE", "/sources/{doomed}", WRITE(200)),
    ("GET", "/feeds/{feed}", PUBLIC),
    ("GET", "/images/{image}", PUBLIC),
    ("GET", "/images/{image}/thumb", PUBLIC),
    ("GET", "/webhooks", ADMIN),
    ("POST", "/webhooks", ADMIN_MADE),
    ("DELETE", "/webhooks/{doomed_webhook}", ADMIN),
    ("GET", "/webhooks/{webhook}/deliveries", ADMIN),
    ("POST", "/deliveries/{delivery}/redeliver", ADMIN),
    ("GET", "/saved-searches", WRITE(200)),
    ("POST", "/saved-searches", WRITE(201)),
    ("DELETE", "/saved-searches/{doomed_search}", WRITE(200)),
    ("GET", "/alerts", WRITE(200)),
    ("POST", "/alerts/seen", WRITE(200)),
    ("GET", "/review", TOKEN),
    ("POST", "/review/state", TOKEN),
    ("POST", "/decisions", WRITE(200)),
    ("POST", "/decisions/{decision}/undo", WRITE(200)),
    ("GET", "/websub/{websub}", UNKNOWN),  # hubs carry no token: the random key is the credential
    ("POST", "/websub/{websub}", GONE),
)
# The UI pages that show or change sources. A UI caller is who signed in with that token: read tokens
# cannot sign in, a bad one fails, a revoked one's session ends. Anybody but an editor is sent to sign in.
UI_MATRIX: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("GET", "/sources", (303, 303, 303, 303, 200, 200)),
    ("POST", "/sources", (401, 401, 401, 401, 422, 422)),  # an editor gets to the form's own check
    ("POST", "/sources/{doomed}/remove", (401, 401, 401, 401, 303, 303)),
    # the review queue's bulk tools: an editor gets to the form's own check (nothing ticked)
    ("POST", "/review/bulk", (401, 401, 401, 401, 400, 400)),
    ("POST", "/review/undo", (401, 401, 401, 401, 400, 400)),
    ("POST", "/review/flags", (401, 401, 401, 401, 400, 400)),
)
BODIES = {
    ("POST", "/articles/{fresh}/reject"): {"reason": "off topic"},
    ("PUT", "/articles/{fresh}/topics"): {"topics": ["AI"]},
    ("PATCH", "/sources/{source}"): {"name": "Renamed"},
    ("POST", "/webhooks"): {"url": "https://hooks.example.com/in", "events": ["publish"]},
    ("POST", "/saved-searches"): {"user": "eve", "name": "AI", "query": {"topics": ["AI"]}},
    ("POST", "/alerts/seen"): {"ids": [1]},
    ("POST", "/review/state"): {"ids": [1], "read": True},
    ("POST", "/decisions"): {"ids": [1], "action": "publish"},
}
QUERIES = {"/search": {"q": "sealed"}}


class World:
    """One desk for the whole matrix: a published article with a cached image and a sealed text, its
    story, a source, and a token of each kind (one revoked)."""

    def __init__(self, root: Path) -> None:
        self.nd = make_desk(root, write_rate_limit="0")
        self.app = create_app(self.nd)
        image = self.nd.images.store("https://cdn.example.com/a.png", _png())
        sealed = KeyRing.from_secret(SECRET).encrypt("The sealed text.")
        story = self.nd.store.create_story(Story(None, "A story", T0, T0, 1, ("a.example.com",), 5), None, {})
        self.made = 0
        self.article = Article(
            title="A sealed article", web_url="https://a.example.com/1", original_url="https://a.example.com/1",
            provider=Provider("A", "a.example.com"), published_at=T0, topics=("AI",), images=(image,),
            secured=sealed.secured, key_id=sealed.key_id, story_id=story, published=True,
        )  # fmt: skip
        self.ids = {
            "article": str(self.nd.store.save_article(self.article).id),
            "story": str(story),
            "source": str(self.nd.sources.add(Source("https://feeds.example.com/rss")).id),
            "feed": "all.rss",
            "image": str(image.sha256),
            "webhook": str(self.nd.webhooks.add("https://hooks.example.com/h", ["story"])[0]),
            "websub": "not-a-subscription-key",
        }
        events.emit(self.nd.store, "story", {"story": {"id": story}})
        self.ids["delivery"] = str(self.nd.store.list_deliveries()[0]["id"])
        self.nd.readers.add_user("eve", "editor")
        self.headers = {"none": {}, "bogus": {"Authorization": "Bearer nd_not-a-token"}}
        for scope in ("read", "write", "admin"):
            self.headers[scope] = bearer(self.nd, scope)
        token_id, secret = self.nd.tokens.create("revoked", "admin")
        self.nd.tokens.revoke(token_id)
        self.headers["revoked"] = {"Authorization": f"Bearer {secret}"}
        self.secrets = {k: v.get("Authorization", " ").split(" ", 1)[1] for k, v in self.headers.items()}

    def path(self, template: str) -> str:
        self.made += 1
        fresh = {
            "fresh": lambda: str(self.nd.store.save_article(self.article.replace(
                web_url=f"https://a.example.com/fresh/{self.made}", published=False)).id),
            "doomed": lambda: str(self.nd.sources.add(Source(f"https://doomed.example.com/{self.made}")).id),
            "doomed_search": lambda: str(self.nd.alerts.save("eve", "doomed", {})),
            "doomed_webhook": lambda: str(self.nd.webhooks.add("https://hooks.example.com/d", ["publish"])[0]),
            "decision": self._published_decision,
        }  # fmt: skip
        for name, make in fresh.items():
            if "{" + name + "}" in template:
                template = template.replace("{" + name + "}", make())
        return template.format(**self.ids)

    def _published_decision(self) -> str:
        """A publish decision on a fresh article, for an undo to take back."""
        fresh = self.article.replace(web_url=f"https://a.example.com/decided/{self.made}", published=False)
        article_id = self.nd.store.save_article(fresh).id
        self.nd.store.set_review_state(article_id, "published")
        return str(self.nd.store.record_decision(article_id, "publish", "editor", "", {"from": "pending"}))


def _png() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (640, 320), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("authz"))
    yield made
    made.nd.close()


def _cases(matrix: tuple[tuple[str, str, tuple[int, ...]], ...]) -> list[tuple[str, str, str, int]]:
    return [(m, p, who, row[i]) for m, p, row in matrix for i, who in enumerate(CALLERS)]


@pytest.mark.parametrize(("method", "path", "caller", "expected"), _cases(API_MATRIX))
def test_api_authorisation_matrix(world: World, method: str, path: str, caller: str, expected: int) -> None:
    url = BASE + world.path(path)
    body = BODIES.get((method, path))
    if (method, path) == ("POST", "/sources"):
        body = {"url": f"https://new.example.com/{world.made}"}
    client = TestClient(world.app)
    answer = client.request(method, url, json=body, params=QUERIES.get(path), headers=world.headers[caller])
    assert answer.status_code == expected, answer.text


@pytest.mark.parametrize(("method", "path", "caller", "expected"), _cases(UI_MATRIX))
def test_ui_authorisation_matrix(world: World, method: str, path: str, caller: str, expected: int) -> None:
    client = TestClient(world.app)
    if caller == "revoked":  # a session whose token is revoked after signing in
        token_id, secret = world.nd.tokens.create("soon revoked", "write")
        _sign_in(client, secret)
        assert client.get("/sources", follow_redirects=False).status_code == 200
        world.nd.tokens.revoke(token_id)
    elif caller != "none":
        _sign_in(client, world.secrets[caller])
    form = {"csrf_token": _csrf(client), "url": "javascript:alert(1)"}
    url = world.path(path)
    answer = (
        client.get(url, follow_redirects=False)
        if method == "GET"
        else client.post(url, data=form, follow_redirects=False)
    )
    assert answer.status_code == expected, answer.text
    if expected == 303:  # sent to sign in, or back to the list after a removal
        assert answer.headers["location"] == ("/login?next=/sources" if method == "GET" else "/sources")
    if expected == 200:
        assert "feeds.example.com/rss" in answer.text


def test_the_matrix_covers_every_api_route() -> None:
    listed = {(m, _template(p)) for m, p, _ in API_MATRIX}
    assert listed == {(r.method, _template(r.path)) for r in ROUTES}


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match
    return match.group(1)


def _sign_in(client: TestClient, secret: str) -> None:
    client.post("/login", data={"token": secret, "csrf_token": _csrf(client)}, follow_redirects=False)
