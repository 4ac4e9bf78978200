"""Tests for the incremental record export: layout, incremental rewrites, pruning, ownership, locking,
failure handling and round trip through ``load_record``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.errors import ExportError
from newsdesk.model import Article, Image, Provider, RelatedRef
from newsdesk.publish.export import (
    LOCK_NAME,
    MANIFEST_NAME,
    MAX_STEM_CHARS,
    STAGING_NAME,
    ExportSummary,
    export_lock,
    export_records,
    record_path,
    slugify,
)
from newsdesk.record import load_record
from tests.conftest import quiet_env


def article(n: int, month: int = 5, **changes: object) -> Article:
    base = Article(
        title=f"Fintech story number {n}: “quotes” & more",
        web_url=f"https://news.example/story/{n}",
        original_url=f"https://news.example/story/{n}?utm_source=rss",
        provider=Provider("News Example", "news.example"),
        excerpt=f"What happened in story {n}.",
        published_at=datetime(2024, month, 10, 8, n % 60, tzinfo=UTC),
        quality=40 + n % 50,
        heat=-1,
        topics=("AI in Finance", "AI"),
        images=(Image(f"https://news.example/img/{n}.jpg", 800, 450, True),),
        related=(
            RelatedRef(
                title="Another take",
                web_url=f"https://other.example/{n}",
                provider=Provider("Other", "other.example"),
                quality=30,
            ),
        ),
    )
    return base.replace(**changes)


ARTICLES = [article(n, month=4 + n % 3) for n in range(12)]


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes), dot-files included."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def records_in(folder: Path) -> set[str]:
    return {p for p in files_in(folder) if not p.startswith(".")}


def inodes(folder: Path) -> dict[str, tuple[int, int]]:
    return {p: ((folder / p).stat().st_ino, (folder / p).stat().st_mtime_ns) for p in records_in(folder)}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "content" / "news"


# ------------------------------------------------------------------------------------------------ layout


def test_first_export_writes_one_file_per_article(folder: Path) -> None:
    summary = export_records(ARTICLES, folder)
    assert summary == ExportSummary(written=12, unchanged=0, removed=0, total=12)
    assert records_in(folder) == {record_path(a) for a in ARTICLES}
    assert set(files_in(folder)) - records_in(folder) == {MANIFEST_NAME}  # no lock, no staging left
    assert all(p.startswith("2024/0") and p.endswith(".md") for p in records_in(folder))
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == records_in(folder) and manifest["pending"] == []


def test_exported_files_load_back_equal(folder: Path) -> None:
    export_records(ARTICLES, folder)
    for original in ARTICLES:
        path = folder / record_path(original)
        assert load_record(path.read_text(encoding="utf-8"), path=str(path)) == original


def test_path_uses_month_of_publication_else_first_seen() -> None:
    dated = article(1, month=7)
    assert record_path(dated).startswith("2024/07/fintech-story-number-1-quotes-more-")
    seen = article(1, published_at=None, first_seen_at=datetime(2023, 12, 31, 23, 0, tzinfo=UTC))
    assert record_path(seen).startswith("2023/12/")
    assert record_path(article(1, published_at=None)).startswith("undated/")


def test_slugs_are_ascii_bounded_and_distinct() -> None:
    assert slugify("Café Society — Ünïcode: 100% «fun»!") == "cafe-society-unicode-100-fun"
    long = article(1, title="Word " * 100)
    stem = record_path(long).rsplit("/", 1)[1].removesuffix(".md")
    assert len(stem) <= MAX_STEM_CHARS and stem.isascii()
    same_title = [article(n, title="Same headline") for n in range(50)]
    assert len({record_path(a) for a in same_title}) == 50
    assert record_path(article(1, title="日本語のニュース")).split("/")[2].startswith("article-")
    assert record_path(article(3)) == record_path(article(3, quality=99))  # stable when content changes


# ----------------------------------------------------------------------------------------- incremental


def test_unchanged_second_export_writes_nothing(folder: Path) -> None:
    export_records(ARTICLES, folder)
    before = inodes(folder)
    manifest = (folder / MANIFEST_NAME).read_bytes()
    assert export_records(ARTICLES, folder) == ExportSummary(0, 12, 0, 12)
    assert inodes(folder) == before
    assert (folder / MANIFEST_NAME).read_bytes() == manifest


def test_changed_record_is_rewritten(folder: Path) -> None:
    export_records(ARTICLES, folder)
    before = inodes(folder)
    changed = [*ARTICLES[:5], ARTICLES[5].replace(quality=7, published=True), *ARTICLES[6:]]
    assert export_records(changed, folder) == ExportSummary(1, 11, 0, 12)
    path = record_path(changed[5])
    assert load_record((folder / path).read_text()) == changed[5]
    after = inodes(folder)
    assert after[path] != before[path]
    assert {p: v for p, v in after.items() if p != path} == {p: v for p, v in before.items() if p != path}


def test_retitled_record_moves(folder: Path) -> None:
    export_records(ARTICLES, folder)
    retitled = ARTICLES[0].replace(title="A better headline")
    assert export_records([retitled, *ARTICLES[1:]], folder) == ExportSummary(1, 11, 1, 12)
    assert not (folder / record_path(ARTICLES[0])).exists()
    assert load_record((folder / record_path(retitled)).read_text()) == retitled


def test_deleted_file_is_restored(folder: Path) -> None:
    export_records(ARTICLES, folder)
    (folder / record_path(ARTICLES[2])).unlink()
    assert export_records(ARTICLES, folder) == ExportSummary(1, 11, 0, 12)
    assert (folder / record_path(ARTICLES[2])).is_file()


def test_removed_record_is_pruned_with_its_empty_directories(folder: Path) -> None:
    only_april = article(100, month=1)
    export_records([*ARTICLES, only_april], folder)
    assert (folder / "2024/01").is_dir()
    assert export_records(ARTICLES, folder) == ExportSummary(0, 12, 1, 12)
    assert records_in(folder) == {record_path(a) for a in ARTICLES}
    assert not (folder / "2024/01").exists()


def test_prune_off_keeps_files_until_a_later_prune(folder: Path) -> None:
    export_records(ARTICLES, folder)
    assert export_records(ARTICLES[:4], folder, prune=False) == ExportSummary(0, 4, 0, 4)
    assert len(records_in(folder)) == 12
    assert export_records(ARTICLES[:4], folder) == ExportSummary(0, 4, 8, 4)
    assert records_in(folder) == {record_path(a) for a in ARTICLES[:4]}


def test_user_files_are_never_touched(folder: Path) -> None:
    export_records(ARTICLES, folder)
    month = Path(record_path(ARTICLES[0])).parent
    user_files = {
        "_index.md": b"---\ntitle: News\n---\n",
        f"{month}/my-notes.md": b"mine",
        "about.txt": b"hi",
    }
    for name, data in user_files.items():
        (folder / name).write_bytes(data)
    assert export_records([], folder) == ExportSummary(0, 0, 12, 0)
    assert records_in(folder) == set(user_files)
    assert all((folder / name).read_bytes() == data for name, data in user_files.items())


def test_duplicate_articles_export_once(folder: Path) -> None:
    assert export_records([ARTICLES[0], ARTICLES[0]], folder) == ExportSummary(1, 0, 0, 1)


# ---------------------------------------------------------------------------------------------- locking


def test_export_refused_while_lock_is_held_in_process(folder: Path) -> None:
    export_records(ARTICLES, folder)
    with export_lock(folder), pytest.raises(ExportError, match=f"another export \\(pid {os.getpid()}\\)"):
        export_records(ARTICLES, folder)
    assert not (folder / LOCK_NAME).exists()
    assert export_records(ARTICLES, folder).unchanged == 12


HOLD_LOCK = """
import sys
from pathlib import Path
from newsdesk.publish.export import export_lock
with export_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def other_process_lock(folder: Path) -> Iterator[subprocess.Popen[str]]:
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    yield holder
    holder.communicate("", timeout=30)


def test_export_refused_while_another_process_exports(
    folder: Path, other_process_lock: subprocess.Popen[str]
) -> None:
    with pytest.raises(
        ExportError, match=f"being exported by another export \\(pid {other_process_lock.pid}\\)"
    ):
        export_records(ARTICLES, folder)
    assert records_in(folder) == set()
    other_process_lock.communicate("", timeout=30)
    assert not (folder / LOCK_NAME).exists()
    assert export_records(ARTICLES, folder).written == 12


def test_stale_lock_of_dead_process_is_taken_over(folder: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    folder.mkdir(parents=True)
    (folder / LOCK_NAME).write_text(dead.stdout.strip())
    assert export_records(ARTICLES, folder).written == 12
    assert not (folder / LOCK_NAME).exists()


# ------------------------------------------------------------------------------------------------ errors


def test_folder_below_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot create export folder"):
        export_records(ARTICLES, blocker / "news")
    with pytest.raises(ExportError, match="cannot create export folder"):
        export_records(ARTICLES, blocker)


def test_failure_midway_leaves_previous_export_intact(folder: Path) -> None:
    export_records(ARTICLES, folder)
    before = files_in(folder)
    (folder / "2025").write_text("a user's file where the exporter needs a directory")
    next_run = [
        ARTICLES[0].replace(quality=1),
        *ARTICLES[1:6],
        article(200).replace(published_at=datetime(2025, 1, 2)),
    ]
    with pytest.raises(ExportError, match="2025"):
        export_records(next_run, folder)
    after = files_in(folder)
    assert after.pop("2025").startswith(b"a user's file")
    assert after == before  # old content, old manifest, nothing pruned, no staging or lock left


def test_interrupted_commit_is_finished_by_next_export(folder: Path) -> None:
    export_records(ARTICLES, folder)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    orphan = "2024/05/half-written-0000abcd.md"  # renamed into place, final manifest never written
    (folder / orphan).write_text("partial")
    manifest["pending"] = [orphan]
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    (folder / STAGING_NAME).mkdir()
    (folder / STAGING_NAME / "7.md").write_text("left over")
    assert export_records(ARTICLES, folder) == ExportSummary(0, 12, 1, 12)
    assert records_in(folder) == {record_path(a) for a in ARTICLES}
    assert not (folder / STAGING_NAME).exists()


def test_damaged_manifest_refuses_to_delete_outside_the_layout(folder: Path, tmp_path: Path) -> None:
    export_records(ARTICLES, folder)
    victim = tmp_path / "precious.md"
    victim.write_text("keep me")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["files"]["../../precious.md"] = {"sha256": "0" * 64, "id": None}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="damaged"):
        export_records([], folder)
    assert victim.read_text() == "keep me"
    (folder / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ExportError, match="remove it to start over"):
        export_records([], folder)
    assert len(records_in(folder)) == 12


# ----------------------------------------------------------------------------- nothing changed: skipped


def test_same_stamp_renders_no_record_and_touches_no_file(folder: Path) -> None:
    first = export_records(ARTICLES, folder, stamp="state-1")
    assert first.rendered == len(ARTICLES)
    before = inodes(folder)
    consumed: list[Article] = []
    again = export_records((consumed.append(a) or a for a in ARTICLES), folder, stamp="state-1")
    assert again == ExportSummary(0, 12, 0, 12) and again.rendered == 0
    assert consumed == []  # the articles were not even loaded
    assert inodes(folder) == before


def test_a_new_stamp_still_prunes_a_deleted_record(folder: Path) -> None:
    export_records(ARTICLES, folder, stamp="state-1")
    summary = export_records(ARTICLES[1:], folder, stamp="state-2")
    assert summary == ExportSummary(0, 11, 1, 11)
    assert record_path(ARTICLES[0]) not in records_in(folder)


def test_same_stamp_restores_a_record_file_removed_by_hand(folder: Path) -> None:
    export_records(ARTICLES, folder, stamp="state-1")
    (folder / record_path(ARTICLES[3])).unlink()
    summary = export_records(ARTICLES, folder, stamp="state-1")
    assert summary == ExportSummary(1, 11, 0, 12) and summary.rendered == 12
    assert len(records_in(folder)) == 12


def test_a_version_1_manifest_is_read_and_upgraded(folder: Path) -> None:
    export_records(ARTICLES, folder)
    manifest = folder / MANIFEST_NAME
    old = json.loads(manifest.read_text(encoding="utf-8"))
    del old["stamp"]
    manifest.write_text(json.dumps(old | {"version": 1}), encoding="utf-8")
    summary = export_records(ARTICLES, folder, stamp="state-1")
    assert summary == ExportSummary(0, 12, 0, 12) and summary.rendered == 12  # no stamp: compared in full
    assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == 2
    assert export_records(ARTICLES, folder, stamp="state-1").rendered == 0


def test_the_facade_skips_an_unchanged_store_and_notices_a_deletion(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    with Newsdesk(load_settings(env=quiet_env(tmp_path), base_dir=tmp_path)) as nd:
        ids = [nd.store.save_article(a).id for a in ARTICLES[:5]]
        assert nd.outputs.export(folder).rendered == 5
        unchanged = nd.outputs.export(folder)
        assert unchanged == ExportSummary(0, 5, 0, 5) and unchanged.rendered == 0
        nd.store.delete_article(ids[0])
        assert nd.outputs.export(folder) == ExportSummary(0, 4, 1, 4)
        assert len(records_in(folder)) == 4
        assert nd.outputs.export(folder, published_only=True) == ExportSummary(0, 0, 4, 0)  # a new selection


def test_the_facade_reads_related_records_for_many_articles_at_once(tmp_path: Path) -> None:
    """Each record's related list is the store's (``related_refs``: rank order, the related articles'
    current state, a deleted one left out), but the export reads the lists of many articles in one
    query and loads each related article once: a statement or two per article before (181 records of
    the benchmark pages: 0.98-1.03 CPU-s against 0.30-0.33, docs/benchmarks.md)."""
    from sqlalchemy import event

    folder = tmp_path / "records"
    with Newsdesk(load_settings(env=quiet_env(tmp_path), base_dir=tmp_path)) as nd:
        ids = [int(nd.store.save_article(article(n, related=())).id or 0) for n in range(40)]
        nd.store.set_related_many(
            {i: [(j, 0.9 - k / 10) for k, j in enumerate(ids[:4]) if j != i] for i in ids}
        )
        nd.store.delete_article(ids[3])
        expected = {i: nd.store.related_refs(i) for i in ids[4:]}
        statements: list[str] = []
        event.listen(nd.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        assert nd.outputs.export(folder).written == 39
        related = [s for s in statements if "related" in s.lower()]
        assert len(related) <= 2, related
        by_url = {a.web_url: a for a in (load_record(p.read_text()) for p in folder.rglob("*.md"))}
        for n, i in enumerate(ids[4:], start=4):
            refs = by_url[f"https://news.example/story/{n}"].related
            assert [r.web_url for r in refs] == [r.web_url for r in expected[i]] and len(refs) == 3
