"""The storage contract: every store operation, on SQLite and on PostgreSQL (fresh schema per test)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from newsdesk.errors import StorageError
from newsdesk.events import Event, event
from newsdesk.model import (
    Alternate,
    Article,
    Image,
    Provider,
    Reason,
    Source,
    SourceHealth,
    Story,
    TopicScore,
    epoch_micros,
)
from newsdesk.store import ArticleQuery, Saved, Store
from newsdesk.store.stories import HeatWrite, StoryWrite

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
WIRE = Provider("Market Wire", "marketwire.example")


def make(n: int, **changes: object) -> Article:
    base = Article(
        title=f"Central bank pilots AI supervision tool, part {n}",
        web_url=f"https://marketwire.example/2026/11/{n}/ai-supervision",
        original_url=f"https://marketwire.example/2026/11/{n}/ai-supervision?utm_source=rss",
        provider=WIRE,
        excerpt="Supervisors will read filings with a language model before a human does.",
        published_at=T0 + timedelta(hours=n),
        topics=("AI in Finance", "AI"),
        images=(Image("https://marketwire.example/img/1.jpg", 1200, 675, True, sha256="ab" * 32),),
        text="Full text of the article.",
        content_hash=f"hash-{n}",
        quality_reasons=(Reason("depth", 12.5, "640 words"),),
        topic_scores=(TopicScore("AI in Finance", 0.82, "zero-shot"),),
    )
    return base.replace(**changes)


def test_article_round_trip(store: Store) -> None:
    saved = store.save_article(make(1, author="Ada Lovelace", language="en", extra={"words": 640}))
    assert saved.created and saved.changed
    back = store.get_article(saved.id)
    assert back.id == saved.id
    assert back.title == make(1).title
    assert back.published_at == T0 + timedelta(hours=1)
    assert back.images[0].width == 1200 and back.images[0].is_cached
    assert back.topics == ("AI in Finance", "AI")
    assert back.quality_reasons == (Reason("depth", 12.5, "640 words"),)
    assert back.topic_scores[0].signal == "zero-shot"
    assert back.author == "Ada Lovelace" and back.extra == {"words": 640}
    assert back.first_seen_at is not None


def test_saving_same_article_twice_changes_nothing(store: Store) -> None:
    first = store.save_article(make(1))
    before = store.get_article(first.id)
    second = store.save_article(make(1))
    assert second.id == first.id
    assert not second.created and not second.changed
    assert store.count_articles() == 1
    assert store.get_article(first.id) == before


def test_update_changes_fields_and_topic_index(store: Store) -> None:
    saved = store.save_article(make(1))
    again = store.save_article(make(1, quality=55, topics=("Payments", "Fintech")))
    assert again.changed and not again.created
    assert store.get_article(saved.id).quality == 55
    assert store.list_articles(ArticleQuery(topic="Payments")).items[0].id == saved.id
    assert store.list_articles(ArticleQuery(topic="AI")).items == ()


def test_known_urls_answers_for_a_whole_feed_in_batches(store: Store) -> None:
    from newsdesk.store.articles import URL_BATCH

    saved = store.save_article(make(1))
    copy_url = "https://fintechdaily.example/syndicated/ai-supervision"
    store.add_alternate(saved.id, Alternate(copy_url, None, T0, "same-content", None))
    unknown = [f"https://elsewhere.example/{i}" for i in range(URL_BATCH * 2 + 7)]  # three batches
    asked = [*unknown[:URL_BATCH], make(1).web_url, *unknown[URL_BATCH:], make(1).original_url, copy_url]
    assert store.known_urls(asked) == {make(1).web_url, make(1).original_url, copy_url}
    assert store.known_urls([]) == set()
    assert store.known_urls(unknown) == set()


def test_saving_as_new_an_article_another_writer_stored_updates_it(store: Store) -> None:
    """``new=True`` skips the lookup; a URL stored meanwhile makes the insert fail and the save update."""
    first = store.save_article(make(1))
    again = store.save_article(make(1, title="Corrected headline"), new=True)
    assert (again.id, again.created, again.changed) == (first.id, False, True)
    assert store.get_article(first.id).title == "Corrected headline"
    assert store.count_articles() == 1
    fresh = store.save_article(make(2), new=True)
    assert fresh.created and store.count_articles() == 2


def test_find_by_url_hash_and_alternate(store: Store) -> None:
    saved = store.save_article(make(1))
    assert store.find_article(make(1).web_url).id == saved.id  # type: ignore[union-attr]
    assert store.find_article(make(1).original_url).id == saved.id  # type: ignore[union-attr]
    assert store.find_by_content_hash("hash-1").id == saved.id  # type: ignore[union-attr]
    copy_url = "https://fintechdaily.example/syndicated/ai-supervision"
    alternate = Alternate(
        copy_url, None, T0, "near-duplicate", Provider("Fintech Daily", "fintechdaily.example")
    )
    assert store.add_alternate(saved.id, alternate)
    assert not store.add_alternate(saved.id, alternate)  # the same sighting twice is one sighting
    assert store.find_article(copy_url).id == saved.id  # type: ignore[union-attr]
    alternates = store.alternates(saved.id)
    assert [a.reason for a in alternates] == ["near-duplicate"]
    assert alternates[0].provider == Provider("Fintech Daily", "fintechdaily.example")
    assert store.find_article("https://nowhere.example/") is None


def test_list_filters_and_cursor_pagination(store: Store) -> None:
    for n in range(7):
        store.save_article(make(n, quality=n * 10, published=n % 2 == 0))
    first = store.list_articles(ArticleQuery(limit=3))
    assert [a.published_at for a in first.items] == sorted(
        (a.published_at for a in first.items), reverse=True
    )
    assert first.next_cursor
    second = store.list_articles(ArticleQuery(limit=3, cursor=first.next_cursor))
    third = store.list_articles(ArticleQuery(limit=3, cursor=second.next_cursor))
    ids = [a.id for page in (first, second, third) for a in page.items]
    assert len(ids) == 7 == len(set(ids)) and third.next_cursor is None
    assert {a.quality for a in store.list_articles(ArticleQuery(min_quality=40)).items} == {40, 50, 60}
    assert len(store.list_articles(ArticleQuery(published=True)).items) == 4
    since = store.list_articles(ArticleQuery(since=T0 + timedelta(hours=5)))
    assert {a.published_at for a in since.items} == {T0 + timedelta(hours=5), T0 + timedelta(hours=6)}
    assert len(store.list_articles(ArticleQuery(provider="marketwire.example")).items) == 7
    with pytest.raises(StorageError, match="cursor"):
        store.list_articles(ArticleQuery(cursor="garbage!"))


def test_full_text_search(store: Store) -> None:
    store.save_article(make(1, title="Stablecoin issuers face new reserve rules", topics=("Crypto",)))
    store.save_article(make(2, title="Payments startup raises Series B", topics=("Payments",)))
    hits = store.search("stablecoin reserve")
    assert [a.title for a, _ in hits] == ["Stablecoin issuers face new reserve rules"]
    assert store.search("payment")  # prefix match on the last term
    assert store.search("") == []
    assert store.search('"; DROP TABLE articles; --') == []
    updated = store.save_article(make(2, title="Payments startup raises Series C"))
    assert [a.id for a, _ in store.search("Series C")] == [updated.id]


def test_full_text_is_not_indexed_unless_allowed(store_url: str) -> None:
    plain = Store.open(store_url)
    plain.save_article(make(1, text="zanzibar appears only in the body"))
    assert plain.search("zanzibar") == []
    plain.close()
    full = Store.open(store_url, index_full_text=True)
    full.save_article(make(2, text="zanzibar appears only in the body"))
    assert [a.web_url for a, _ in full.search("zanzibar")] == [make(2).web_url]
    full.close()


def test_sources_crud_and_health(store: Store) -> None:
    src = store.add_source(
        Source("https://marketwire.example/feed.xml", name="Market Wire", topics=("Markets",))
    )
    assert src.id is not None and src.health.error_count == 0
    with pytest.raises(StorageError, match="already exists"):
        store.add_source(Source("https://marketwire.example/feed.xml"))
    health = SourceHealth(
        last_error="HTTP 503", last_error_kind="http-503", error_count=2, next_poll_at=T0, etag='"x"'
    )
    store.save_health(src.id, health)
    back = store.get_source(src.url)
    assert back.health.error_count == 2 and back.health.etag == '"x"' and back.health.next_poll_at == T0
    assert [s.url for s in store.due_sources(T0 + timedelta(minutes=1))] == [src.url]
    assert store.due_sources(T0 - timedelta(minutes=1)) == []
    store.update_source(src.id, dataclasses.replace(back, name="MW"))
    assert store.get_source(src.id).name == "MW"
    store.remove_source(src.id)
    assert store.list_sources() == []
    with pytest.raises(StorageError, match="no such source"):
        store.get_source(src.id)


def test_embeddings_round_trip(store: Store) -> None:
    ids = [store.save_article(make(n)).id for n in range(3)]
    vectors = np.random.default_rng(0).standard_normal((3, 384)).astype(np.float32)
    for i, v in zip(ids, vectors, strict=True):
        store.save_embedding(i, "minilm/onnx", v)
    store.save_embedding(ids[0], "minilm/onnx", vectors[0] * 2)  # overwrite
    got_ids, matrix = store.load_embeddings("minilm/onnx")
    assert got_ids == ids and matrix.shape == (3, 384)
    assert np.allclose(matrix[0], vectors[0] * 2) and np.allclose(matrix[2], vectors[2])
    assert store.load_embeddings("other")[0] == []
    assert store.load_embeddings("minilm/onnx", ids=[ids[1]])[0] == [ids[1]]
    chunks = list(store.embedding_chunks("minilm/onnx", batch=2))  # the same, a chunk at a time
    assert [len(chunk_ids) for chunk_ids, _ in chunks] == [2, 1]
    assert [i for chunk_ids, _ in chunks for i in chunk_ids] == ids
    assert np.vstack([m for _, m in chunks]).tobytes() == matrix.tobytes()
    assert list(store.embedding_chunks("other")) == []


def test_articles_times_in_a_range_and_the_range_of_some(store: Store) -> None:
    """What a large run's related scan reads first (enrich/scan.py): the articles within the window,
    with their times, and the span of the run's own; and the times of some (the kept index's horizon)."""
    ids = [store.save_article(make(n)).id or 0 for n in range(4)]  # published T0, T0 + 1 h, ...
    found, micros = store.times_between(T0 + timedelta(minutes=30), T0 + timedelta(hours=2, microseconds=7))
    assert found.tolist() == [ids[1], ids[2]]
    assert micros.tolist() == [int((T0 + timedelta(hours=h)).timestamp()) * 10**6 for h in (1, 2)]
    assert [x.size for x in store.times_between(T0 - timedelta(days=9), T0 - timedelta(days=8))] == [0, 0]
    assert store.time_range([ids[3], ids[0], 999_999]) == (T0, T0 + timedelta(hours=3))
    assert store.time_range([999_999]) is None
    assert store.times_of([ids[2], ids[0], 999_999]) == {ids[0]: T0, ids[2]: T0 + timedelta(hours=2)}
    vectors = np.eye(4, 8, dtype=np.float32)
    store.save_embeddings("m", [(i, vectors[n]) for n, i in enumerate(ids) if n != 2])  # ids[2]: none
    chunks = list(store.embeddings_between("m", T0 + timedelta(minutes=30), T0 + timedelta(hours=3), batch=1))
    assert [(got, times.tolist()) for got, times, _ in chunks] == [
        ([ids[1]], [epoch_micros(T0 + timedelta(hours=1))]),
        ([ids[3]], [epoch_micros(T0 + timedelta(hours=3))]),
    ]
    both = list(store.embeddings_between("m", T0, T0 + timedelta(hours=3)))  # one chunk, ids[2] without
    assert [(got, times.tolist()) for got, times, _ in both] == [
        ([ids[0], ids[1], ids[3]], [epoch_micros(T0 + timedelta(hours=h)) for h in (0, 1, 3)])
    ]
    assert np.array_equal(np.vstack([m for _, _, m in chunks]), vectors[[1, 3]])


def test_batched_enrichment_writes_equal_the_single_ones(store: Store) -> None:
    """The enricher's batch writes (vectors, related lists, enriched marks) leave what the one-article
    writes leave: a stored vector replaced, a new one added, related lists replaced whole."""
    a, b, c = (store.save_article(make(n)).id for n in range(3))
    vectors = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    store.save_embedding(a, "m", vectors[2])
    store.save_embeddings("m", [(a, vectors[0]), (b, vectors[1])])  # a replaced, b added
    ids, matrix = store.load_embeddings("m")
    assert ids == [a, b] and np.array_equal(matrix, vectors[:2])
    store.set_related(a, [(b, 0.5)])
    store.set_related_many({a: [(c, 0.9), (b, 0.7)], b: [(a, 0.6)], c: []})
    assert [(r.article_id, r.similarity) for r in store.related_refs(a)] == [(c, 0.9), (b, 0.7)]
    assert [r.article_id for r in store.related_refs(b)] == [a] and store.related_refs(c) == ()
    # read for several articles at once (an export): the same refs, an article without any left out
    assert store.related_refs_many([a, b, c]) == {a: store.related_refs(a), b: store.related_refs(b)}
    store.mark_enriched_many([a, c])
    assert store.unenriched_ids() == [b]


def test_a_batch_of_stories_and_heats_is_saved_as_one_at_a_time_would(store: Store) -> None:
    """Clustering saves a batch's stories at once: new ones get ascending ids in the order given, each
    announced with its own id (its event is made in the same transaction), changed ones are updated;
    heat saves a chunk of stories and their changed articles at once."""
    old = store.create_story(Story(None, "Old", T0, T0), None, {})
    a, b = (store.save_article(make(n, story_id=old)).id or 0 for n in range(2))
    announced: list[int] = []

    def announce(story_id: int) -> Event:
        announced.append(story_id)
        return event("story", {"story": {"id": story_id}})

    later = T0 + timedelta(hours=1)
    new = [StoryWrite(Story(None, f"New {n}", T0, later, 2), b"\x01" * 8, {"n": n}, announce) for n in (1, 2)]
    changed = [StoryWrite(Story(old, "Old, grown", T0, later, 3, ("x.example",)), b"\x02" * 8, {"n": 0})]
    ids = store.save_stories(new, changed)
    assert ids == announced and ids[0] > old and ids[1] == ids[0] + 1
    assert [store.get_story(i).title for i in ids] == ["New 1", "New 2"]
    assert store.get_story(old) == Story(old, "Old, grown", T0, later, 3, ("x.example",))
    assert {s.id: state for s, _, state in store.stories_by_id([old, *ids])} == {
        old: {"n": 0},
        ids[0]: {"n": 1},
        ids[1]: {"n": 2},
    }
    reasons = (Reason("velocity", 40.0, "2 articles in 1 h"),)
    store.save_story_heats([HeatWrite(old, 40, reasons, [a]), HeatWrite(ids[0], 7, (), [])])
    assert [store.get_story(i).heat for i in (old, ids[0])] == [40, 7]
    assert (store.get_article(a).heat, store.get_article(a).heat_reasons) == (40, reasons)
    assert store.get_article(b).heat != 40  # not among the changed articles


def test_related_stories_decisions_events_meta(store: Store) -> None:
    a, b, c = (store.save_article(make(n)).id for n in range(3))
    store.set_related(a, [(c, 0.9), (b, 0.7)])
    refs = store.related_refs(a)
    assert [r.article_id for r in refs] == [c, b] and refs[0].similarity == pytest.approx(0.9)
    story = Story(
        None, "AI supervision", T0, T0 + timedelta(hours=2), size=2, providers=("marketwire.example",)
    )
    sid = store.create_story(story, b"\x00" * 8, {"terms": ["ai"]})
    assert store.get_story(sid).providers == ("marketwire.example",)
    assert [s.id for s, _, _ in store.recent_stories(T0)] == [sid]
    store.save_article(make(0, story_id=sid))
    assert [x.id for x in store.story_articles(sid)] == [a]
    store.record_decision(a, "publish", "editor:ana", "good piece")
    assert store.decisions(a)[0]["actor"] == "editor:ana"
    assert store.set_review_state(a, "published", expect="pending")
    assert not store.set_review_state(a, "published", expect="pending")  # already done by someone else
    assert store.get_article(a).published
    store.record_event("http-404", "HTTP 404 for page", url="https://x.example/a", article_id=a)
    assert store.events()[0]["kind"] == "http-404"
    store.set_meta("index", {"count": 3})
    store.set_meta("index", {"count": 4})
    assert store.get_meta("index") == {"count": 4}
    assert store.topic_counts() == {"AI in Finance": 3, "AI": 3}


def test_concurrent_saves_of_one_article_make_one_row(store: Store) -> None:
    errors: list[BaseException] = []

    def save() -> None:
        try:
            store.save_article(make(1))
        except StorageError as e:  # a lost race is reported, never a second row
            errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_articles() == 1
    assert errors == []  # a lost insert race is retried as an update


def test_a_new_article_whose_text_is_stored_already_writes_nothing(store: Store) -> None:
    first = store.save_article(make(1, content_hash="c" * 64), new=True)
    again = store.save_article(make(2, content_hash="c" * 64), new=True)  # another URL, the same text
    assert again == dataclasses.replace(first, created=False, changed=False, same_content=True)
    assert store.count_articles() == 1
    assert store.find_article(make(2).web_url) is None  # the caller records it as an alternate


def test_concurrent_new_articles_with_one_text_make_one_row(store: Store) -> None:
    """Two workers each found no row with this text and insert at once: one row survives, every other
    save names it. Repeated, since a race lost once in a while is still a race."""
    for round_ in range(8):
        articles = [make(100 * round_ + n, content_hash=f"{round_:064x}") for n in range(4)]
        saved = _save_at_once(store, articles)
        assert store.count_articles() == round_ + 1
        assert sum(s.created for s in saved) == 1
        assert len({s.id for s in saved}) == 1


def _save_at_once(store: Store, articles: list[Article]) -> list[Saved]:
    start = threading.Barrier(len(articles))
    saved: list[Saved] = []

    def save(article: Article) -> None:
        start.wait()
        saved.append(store.save_article(article, new=True))

    threads = [threading.Thread(target=save, args=(a,)) for a in articles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return saved


def test_migrations_are_idempotent(store_url: str) -> None:
    Store.open(store_url).close()
    again = Store.open(store_url)  # second start: migrations find nothing to do
    assert again.count_articles() == 0
    again.close()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="cannot open the database"):
        Store.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_password_is_not_shown_in_errors() -> None:
    with pytest.raises(StorageError) as info:
        Store.open("postgresql+psycopg://nobody:s3cr3t@127.0.0.1:1/none?connect_timeout=2")
    assert "s3cr3t" not in str(info.value)


def test_tokens(store: Store) -> None:
    token_id = store.create_token("ci", "write", "h" * 64)
    found = store.find_token("h" * 64)
    assert found is not None and found["scope"] == "write" and found["name"] == "ci"
    assert store.list_tokens()[0]["last_used_at"] is not None
    assert store.revoke_token(token_id)
    assert not store.revoke_token(token_id)
    assert store.find_token("h" * 64) is None
