"""Who may fetch a cached image: anonymous callers only the images of published articles, through the API
and the web UI alike; a token holder or a signed-in editor every image. A real store (SQLite, and
PostgreSQL when configured), a real image cache and the real ASGI apps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from newsdesk.api import create_app
from newsdesk.app import Newsdesk
from newsdesk.catalog import Audience
from newsdesk.model import Image
from newsdesk.web.routes import create_web_app
from tests.test_api import BASE, _png, article, assert_problem, make_desk, token
from tests.test_web import sign_in

SUFFIXES = ("", "/thumb")  # the original and its thumbnail: both follow the original's visibility
UNKNOWN = "0" * 64


@dataclass(frozen=True)
class Gallery:
    """A desk whose cached images are each shown by articles in a different editorial state."""

    nd: Newsdesk
    published: str  # shown by a published article only
    pending: str  # shown by a pending article only (and named in a published article's image URL)
    rejected: str  # shown by a rejected article only
    shared: str  # shown by a published and a pending article
    orphan: str  # cached, shown by no article
    pending_id: int


def _cache(nd: Newsdesk, name: str, colour: tuple[int, int, int]) -> Image:
    image = nd.images.store(f"https://cdn.example.com/{name}.png", _png(colour))
    assert image.sha256 is not None
    return image


def hang(nd: Newsdesk) -> Gallery:
    """Cache five images and save the articles that show them. The published article also lists an
    uncached image whose URL holds the pending image's hash: text that matches but grants nothing."""
    published, pending, rejected, shared, orphan = (
        _cache(nd, name, colour)
        for name, colour in (
            ("published", (200, 30, 30)),
            ("pending", (30, 200, 30)),
            ("rejected", (30, 30, 200)),
            ("shared", (200, 200, 30)),
            ("orphan", (30, 200, 200)),
        )
    )
    decoy = Image(f"https://cdn.example.com/{pending.sha256}.png")
    store = nd.store
    store.save_article(article(1, images=(published, shared, decoy), published=True))
    pending_id = store.save_article(article(2, images=(pending, shared))).id
    rejected_id = store.save_article(article(3, images=(rejected,))).id
    store.set_review_state(rejected_id, "rejected")
    return Gallery(
        nd,
        published=str(published.sha256),
        pending=str(pending.sha256),
        rejected=str(rejected.sha256),
        shared=str(shared.sha256),
        orphan=str(orphan.sha256),
        pending_id=pending_id,
    )


@pytest.fixture
def gallery(store_url: str, tmp_path: Path) -> Iterator[Gallery]:
    nd = make_desk(tmp_path, store_url)
    yield hang(nd)
    nd.close()


def shown(g: Gallery) -> tuple[str, ...]:
    return g.published, g.shared


def hidden(g: Gallery) -> tuple[str, ...]:
    return g.pending, g.rejected, g.orphan


# ---------------------------------------------------------------------------------- store, catalog


def test_only_a_published_article_makes_an_image_public(gallery: Gallery) -> None:
    store = gallery.nd.store
    assert [store.image_published(sha) for sha in shown(gallery)] == [True, True]
    assert [store.image_published(sha) for sha in hidden(gallery)] == [False, False, False]


def test_anything_but_a_hash_is_no_public_image(gallery: Gallery) -> None:
    store = gallery.nd.store
    for key in ("", gallery.published.upper(), gallery.published[:63], "%" * 64, "_" * 64, UNKNOWN):
        assert not store.image_published(key), key


def test_the_catalog_asks_the_store_for_the_public_only(gallery: Gallery) -> None:
    catalog = gallery.nd.catalog
    for sha in shown(gallery) + hidden(gallery):
        assert catalog.image_visible(sha, Audience.TRUSTED)
        assert catalog.image_visible(sha, Audience.PUBLIC) is (sha in shown(gallery))


def fetched(
    client: TestClient, prefix: str, shas: tuple[str, ...], headers: dict[str, str] | None = None
) -> Iterator[tuple[str, Response]]:
    """Each image of ``shas``, original and thumbnail, as (its path, the response)."""
    for sha in shas:
        for suffix in SUFFIXES:
            path = f"{prefix}/{sha}{suffix}"
            yield path, client.get(path, headers=headers)


# --------------------------------------------------------------------------------------------- API


@pytest.fixture
def api(gallery: Gallery) -> Iterator[TestClient]:
    with TestClient(create_app(gallery.nd, include_web=False)) as client:
        yield client


def test_api_serves_anonymous_callers_the_images_of_published_articles(
    api: TestClient, gallery: Gallery
) -> None:
    for where, response in fetched(api, f"{BASE}/images", shown(gallery)):
        assert response.status_code == 200, where
        assert response.headers["cache-control"].startswith("public,")


def test_api_hides_other_images_from_anonymous_callers_as_if_unknown(
    api: TestClient, gallery: Gallery
) -> None:
    for suffix in SUFFIXES:
        unknown = assert_problem(api.get(f"{BASE}/images/{UNKNOWN}{suffix}"), 404)
        for sha in hidden(gallery):
            refused = assert_problem(api.get(f"{BASE}/images/{sha}{suffix}"), 404)
            assert (refused["title"], refused["detail"]) == (unknown["title"], unknown["detail"])


def test_api_serves_every_image_to_a_token_holder_privately(api: TestClient, gallery: Gallery) -> None:
    reading = token(gallery.nd, "read")
    for where, response in fetched(api, f"{BASE}/images", shown(gallery) + hidden(gallery), reading):
        assert response.status_code == 200, where
        assert response.headers["cache-control"].startswith("private,")  # no shared cache keeps it


def test_publishing_an_article_opens_its_images(api: TestClient, gallery: Gallery) -> None:
    assert api.get(f"{BASE}/images/{gallery.pending}").status_code == 404
    gallery.nd.editorial.publish(gallery.pending_id, actor="test", reason="")
    assert api.get(f"{BASE}/images/{gallery.pending}").status_code == 200


# ---------------------------------------------------------------------------------------------- UI


@pytest.fixture
def ui(gallery: Gallery) -> Iterator[TestClient]:
    with TestClient(create_web_app(gallery.nd)) as client:
        yield client


def test_ui_serves_anonymous_readers_the_images_of_published_articles(
    ui: TestClient, gallery: Gallery
) -> None:
    for where, response in fetched(ui, "/images", shown(gallery)):
        assert response.status_code == 200, where
        assert response.headers["content-type"].startswith("image/")


def test_ui_hides_other_images_from_anonymous_readers_as_if_unknown(ui: TestClient, gallery: Gallery) -> None:
    for suffix in SUFFIXES:
        unknown = ui.get(f"/images/{UNKNOWN}{suffix}")
        assert unknown.status_code == 404
        for sha in hidden(gallery):
            refused = ui.get(f"/images/{sha}{suffix}")
            page = refused.text.replace(sha, UNKNOWN)  # the page names its own path (sign-in link)
            assert (refused.status_code, page) == (404, unknown.text), (sha, suffix)


def test_ui_serves_every_image_to_a_signed_in_editor(ui: TestClient, gallery: Gallery) -> None:
    _, secret = gallery.nd.tokens.create("editor", "write")
    sign_in(ui, secret)
    for sha in shown(gallery) + hidden(gallery):
        for suffix in SUFFIXES:
            response = ui.get(f"/images/{sha}{suffix}")
            assert response.status_code == 200, (sha, suffix)
            assert response.headers["cache-control"] == "private"
