"""The original keeps the article (newsdesk/folding.py), over real loopback HTTP with enrichment on.

Two sites publish one story: a wire service (the original, published first) and a portal that
syndicates it with its own intro, headline suffix and outro. Whichever the desk polls first, the folded
article shows the wire's URL, source and provider, and the portal's URL is its alternate. A page whose
``rel=canonical`` names the other site's page is the copy even when it claims an earlier date, and an
editor's decision on the article survives the original arriving late.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.folding import original_of
from newsdesk.model import Alternate, Article, Image, Provider, ReviewState, Source
from newsdesk.store import Store
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

WIRE, PORTAL = "wire.example", "portal.example"
WIRE_URL = f"http://{WIRE}/wire/markets/rate-decision.html"
PORTAL_URL = f"http://{PORTAL}/portal/business/rate-decision.html"
WORDS = [
    *("bank", "rates", "markets", "investors", "central", "inflation", "policy", "decision", "analysts"),
    *("bond", "yields", "growth", "economy", "lenders", "mortgage", "households", "currency", "exports"),
    *("governor", "committee", "forecast", "prices", "wages", "demand"),
]


def paragraphs(seed: int, count: int = 6) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(" ".join(rng.choices(WORDS, k=14)).capitalize() + "." for _ in range(4))
        for _ in range(count)
    ]


ORIGINAL = paragraphs(1)
COPY = [paragraphs(2, 1)[0], *ORIGINAL[1:], "Reporting by the wire; edited by the portal."]


def page(title: str, body: list[str], published: str, canonical: str) -> bytes:
    text = "".join(f"<p>{p}</p>" for p in body)
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title>'
        f'<link rel="canonical" href="{canonical}">'
        f'<meta property="article:published_time" content="{published}">'
        f"</head><body><article><h1>{title}</h1>{text}</article></body></html>"
    ).encode()


def feed(link: str, title: str, published: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.example/</link>'
        f"<item><title>{title}</title><link>{link}</link><pubDate>{published}</pubDate></item>"
        "</channel></rss>"
    ).encode()


def site(
    *, copy_claims_original: bool = False, copy_first: bool = False, exact: bool = False
) -> dict[str, Reply]:
    """The two sites' feeds and pages. The copy is published four hours after the original, or (with
    ``copy_first``) four hours before it, as a portal with a wrong clock would say."""
    wire_at, portal_at = "2026-11-25T08:00:00Z", "2026-11-25T12:00:00Z"
    wire_rfc, portal_rfc = "Wed, 25 Nov 2026 08:00:00 GMT", "Wed, 25 Nov 2026 12:00:00 GMT"
    if copy_first:
        wire_at, portal_at, wire_rfc, portal_rfc = portal_at, wire_at, portal_rfc, wire_rfc
    canonical = WIRE_URL if copy_claims_original else PORTAL_URL
    html = "text/html; charset=utf-8"
    return {
        "/wire/feed.xml": Reply(
            body=feed(WIRE_URL, "Rate decision", wire_rfc), content_type="application/rss+xml"
        ),
        "/portal/feed.xml": Reply(
            body=feed(PORTAL_URL, "Rate decision | Portal", portal_rfc), content_type="application/rss+xml"
        ),
        "/wire/markets/rate-decision.html": Reply(
            body=page("Rate decision", ORIGINAL, wire_at, WIRE_URL), content_type=html
        ),
        "/portal/business/rate-decision.html": Reply(
            body=page(
                "Rate decision" if exact else "Rate decision | Portal",
                ORIGINAL if exact else COPY,
                portal_at,
                canonical,
            ),
            content_type=html,
        ),
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def newsdesk(data_dir: Path, server: LoopbackServer, *, enrich: bool = True) -> Newsdesk:
    env = quiet_env(data_dir, NEWSDESK_ENRICH="1" if enrich else "0", NEWSDESK_EMBED_MODEL="bundled-minilm")
    resolve = {host: f"127.0.0.1:{server.port}" for host in (WIRE, PORTAL)}
    return Newsdesk(load_settings(env=env, base_dir=data_dir), resolve=resolve)


def poll(nd: Newsdesk, host: str) -> None:
    prefix = "wire" if host == WIRE else "portal"
    nd.sources.ensure([Source(f"http://{host}/{prefix}/feed.xml", allow_loopback=True)])
    source = next(s for s in nd.sources.list() if host in s.url)
    nd.run(sources=[source])


def folded(nd: Newsdesk) -> tuple[Article, list[tuple[str, str]]]:
    articles = list(nd.store.iter_articles())
    assert len(articles) == 1, [a.web_url for a in articles]
    kept = articles[0]
    assert kept.id is not None
    return kept, [(a.url, a.reason) for a in nd.store.alternates(kept.id)]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(site()) as running:
        yield running


@pytest.mark.parametrize("order", [(WIRE, PORTAL), (PORTAL, WIRE)], ids=["original-first", "copy-first"])
def test_both_arrival_orders_keep_the_original(
    server: LoopbackServer, tmp_path: Path, order: tuple[str, str]
) -> None:
    with newsdesk(tmp_path, server) as nd:
        for host in order:
            poll(nd, host)
        kept, alternates = folded(nd)
        sources = {s.id: s.url for s in nd.sources.list()}
    assert kept.web_url == WIRE_URL and kept.provider.domain == WIRE
    assert WIRE in sources[kept.source_id]
    assert kept.title == "Rate decision"
    assert kept.published_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert (PORTAL_URL, "near-duplicate") in alternates
    assert all(url != WIRE_URL for url, _ in alternates)


def test_an_editors_decision_survives_the_original_arriving_late(
    server: LoopbackServer, tmp_path: Path
) -> None:
    with newsdesk(tmp_path, server) as nd:
        poll(nd, PORTAL)
        (copy,) = list(nd.store.iter_articles())
        assert copy.id is not None and copy.web_url == PORTAL_URL
        assert nd.editorial.publish(copy.id, actor="ana", reason="good")
        poll(nd, WIRE)
        kept, alternates = folded(nd)
        assert kept.id is not None
        decisions = nd.store.decisions(kept.id)
    assert kept.id == copy.id  # the row the editor acted on
    assert kept.review_state is ReviewState.PUBLISHED
    assert kept.web_url == WIRE_URL and (PORTAL_URL, "near-duplicate") in alternates
    assert [(d["action"], d["actor"]) for d in decisions] == [("publish", "ana")]


def test_a_page_naming_the_other_as_canonical_is_the_copy_whatever_its_date(tmp_path: Path) -> None:
    with (
        LoopbackServer(site(copy_claims_original=True, copy_first=True)) as running,
        newsdesk(tmp_path, running) as nd,
    ):
        poll(nd, PORTAL)
        (copy,) = list(nd.store.iter_articles())
        assert copy.extra.get("canonical") == WIRE_URL  # kept by the decider, not taken as its URL
        assert copy.web_url == PORTAL_URL
        poll(nd, WIRE)
        kept, alternates = folded(nd)
    assert kept.web_url == WIRE_URL and (PORTAL_URL, "near-duplicate") in alternates


def test_a_copy_claiming_the_original_in_the_same_run_folds_into_one_article(tmp_path: Path) -> None:
    """Enriched in one batch, the copy (earlier date) comes first and keeps its row; the original then
    gives that row its identity, and the batch's later stages must not save the copy back."""
    with (
        LoopbackServer(site(copy_claims_original=True, copy_first=True)) as running,
        newsdesk(tmp_path, running) as nd,
    ):
        for host, prefix in ((WIRE, "wire"), (PORTAL, "portal")):
            nd.sources.ensure([Source(f"http://{host}/{prefix}/feed.xml", allow_loopback=True)])
        nd.run()
        kept, alternates = folded(nd)
    assert kept.web_url == WIRE_URL and kept.story_id is not None
    assert (PORTAL_URL, "near-duplicate") in alternates


@pytest.mark.parametrize("order", [(WIRE, PORTAL), (PORTAL, WIRE)], ids=["original-first", "copy-first"])
def test_an_exact_copy_folds_at_ingestion_into_the_original_in_either_order(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    """The same text at two URLs folds before enrichment (content hash): the same rule applies."""
    with LoopbackServer(site(exact=True)) as running, newsdesk(tmp_path, running, enrich=False) as nd:
        for host in order:
            poll(nd, host)
        kept, alternates = folded(nd)
    assert kept.web_url == WIRE_URL and kept.provider.domain == WIRE and kept.title == "Rate decision"
    assert (PORTAL_URL, "same-content") in alternates


def test_the_store_folds_in_one_transaction_moving_what_the_copy_had(store: Store) -> None:
    """On SQLite and PostgreSQL: the copy stored first (published by an editor, an alternate of its own)
    takes the original's identity; the original's row goes, its editor's decision and alternate move."""
    when = datetime(2026, 11, 25, 8, tzinfo=UTC)
    copy = Article(
        "Rate decision | Portal", PORTAL_URL, PORTAL_URL, Provider("Portal", PORTAL), text="copy text",
        published_at=when.replace(hour=12), content_hash="c1",
    )  # fmt: skip
    original = Article(
        "Rate decision", WIRE_URL, WIRE_URL + "?utm_source=rss", Provider("Wire", WIRE), text="wire text",
        published_at=when, content_hash="w1", images=(Image(f"http://{WIRE}/i.jpg", 800, 450, True, sha256="cd" * 32),),
    )  # fmt: skip
    kept_id, gone_id = store.save_article(copy).id, store.save_article(original).id
    store.set_review_state(kept_id, ReviewState.PUBLISHED)
    store.record_decision(gone_id, "topics", "ben")
    other = Alternate(f"http://{WIRE}/amp/rate.html", None, when, "same-url")
    store.add_alternate(gone_id, other)
    stored_original = store.get_article(gone_id)
    assert stored_original is not None
    store.fold_article(
        gone_id, kept_id, [Alternate(PORTAL_URL, None, when, "near-duplicate")], identity=stored_original
    )
    assert store.get_articles([gone_id]) == {} and store.count_articles() == 1
    kept = store.get_article(kept_id)
    assert kept is not None
    assert (kept.web_url, kept.original_url, kept.title, kept.text) == (
        WIRE_URL, WIRE_URL + "?utm_source=rss", "Rate decision", "wire text",
    )  # fmt: skip
    assert kept.provider.domain == WIRE and kept.published_at == when and kept.content_hash == "w1"
    assert kept.review_state is ReviewState.PUBLISHED
    assert kept.images == original.images and store.image_published("cd" * 32)  # the public may see it
    assert [(a.url, a.reason) for a in store.alternates(kept_id)] == [
        (PORTAL_URL, "near-duplicate"), (other.url, "same-url"),
    ]  # fmt: skip
    assert [d["actor"] for d in store.decisions(kept_id)] == ["ben"]
    found = store.find_article(PORTAL_URL)
    assert found is not None and found.id == kept_id


def test_the_rule_earliest_published_then_first_stored() -> None:
    def article(url: str, hour: int | None, id_: int, **extra: str) -> Article:
        when = datetime(2026, 11, 25, hour, tzinfo=UTC) if hour is not None else None
        return Article(
            "t", url, url, Provider("p", "p.example"), published_at=when, id=id_, extra=dict(extra),
            first_seen_at=datetime(2026, 11, 25, 20, tzinfo=UTC),
        )  # fmt: skip

    early, late = article(WIRE_URL, 8, 2), article(PORTAL_URL, 12, 1)
    assert original_of(late, early) is early and original_of(early, late) is early
    undated = article(PORTAL_URL, None, 1)
    assert original_of(undated, early) is early  # no date: first seen, here after the other's date
    tie = article(PORTAL_URL, 8, 1)
    assert original_of(tie, early) is tie  # a tie keeps the stored one
    claims = article(PORTAL_URL, 6, 1, canonical=WIRE_URL)
    assert original_of(claims, early) is early and original_of(early, claims) is early
