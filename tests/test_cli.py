"""The CLI end to end: real store, the demo site over loopback, the real model; errors are one line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsdesk.app import Newsdesk
from newsdesk.cli import app
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.enrich import supervised
from newsdesk.operations import discover, source_for
from newsdesk.record import read_record

runner = CliRunner()


def invoke(workdir: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI in ``workdir`` (settings come from its newsdesk.toml and the environment)."""
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        result = runner.invoke(app, list(args))
    finally:
        os.chdir(cwd)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSDESK_ENCRYPT", "0")
    return tmp_path


def test_source_commands_and_clear_errors(workdir: Path) -> None:
    code, out, _ = invoke(
        workdir, "source", "add", "https://fintechdaily.example/feed.xml", "--kind", "feed", "--json"
    )
    assert code == 0 and json.loads(out)[0]["kind"] == "feed"
    code, _, err = invoke(workdir, "source", "add", "https://fintechdaily.example/feed.xml", "--kind", "feed")
    assert code == 1 and "already exists" in err and "Traceback" not in err and err.count("\n") == 1
    code, _, err = invoke(workdir, "source", "add", "not-a-url", "--kind", "feed")
    assert code == 1 and "not an http(s) URL" in err
    code, out, _ = invoke(workdir, "source", "list", "--json")
    assert [s["url"] for s in json.loads(out)] == ["https://fintechdaily.example/feed.xml"]
    code, out, _ = invoke(workdir, "source", "export-opml")
    assert code == 0 and "fintechdaily.example/feed.xml" in out
    (workdir / "subs.opml").write_text(out.replace("fintechdaily", "marketwire"))
    code, out, _ = invoke(workdir, "source", "import-opml", "subs.opml")
    assert code == 0 and "added 1" in out
    assert invoke(workdir, "source", "remove", "1")[0] == 0
    code, out, _ = invoke(workdir, "source", "list", "--json")
    assert [s["url"] for s in json.loads(out)] == ["https://marketwire.example/feed.xml"]


def test_bad_config_file_is_one_line(workdir: Path) -> None:
    (workdir / "newsdesk.toml").write_text("concurrency = 'lots'\n")
    code, _, err = invoke(workdir, "config")
    assert code == 1 and "concurrency: expected int" in err and "Traceback" not in err


def test_config_shows_origins(workdir: Path) -> None:
    (workdir / "newsdesk.toml").write_text("concurrency = 3\n")
    code, out, _ = invoke(workdir, "config", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert (
        code == 0
        and rows["concurrency"]["value"] == "3"
        and rows["concurrency"]["origin"].endswith("newsdesk.toml")
    )
    assert rows["encrypt"]["origin"] == "NEWSDESK_ENCRYPT"


def test_unknown_article_and_corrupt_record(workdir: Path) -> None:
    code, _, err = invoke(workdir, "show", "999")
    assert code == 1 and "no such article" in err
    (workdir / "broken.md").write_text("---\ntitle: [oops\n---\n\n")
    code, _, err = invoke(workdir, "decrypt", "broken.md")
    assert code == 1 and "broken.md" in err and "not valid YAML" in err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One full demo run (enrichment and encryption on): the model loads once for the module."""
    workdir = tmp_path_factory.mktemp("demo")
    (workdir / "newsdesk.toml").write_text(
        'publish_rules = ["publish: quality >= 60 and \\"Payments\\" in topics"]\n'
    )
    os.environ.pop("NEWSDESK_ENCRYPT", None)
    code, _, err = invoke(workdir, "demo")
    assert code == 0, err
    yield workdir


def test_demo_writes_seed_shaped_records(demo_dir: Path) -> None:
    files = sorted((demo_dir / "records").rglob("*.md"))
    assert len(files) >= 55
    records = [read_record(f) for f in files]
    unsealed = [r.title for r in records if not r.secured]
    assert len(unsealed) <= 2  # only the broken link and the robots-forbidden page: no text to seal
    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(demo_dir / ".newsdesk")})
    with Newsdesk(settings) as nd:
        assert all(a.text == "" for a in nd.store.iter_articles())  # no full text in the clear
    assert sum(1 for r in records if r.related) >= len(records) // 2
    assert all(0 <= r.quality <= 100 for r in records)
    assert any(r.topics and r.topics[0] == "AI in Finance" and "AI" in r.topics for r in records)
    assert any(r.published for r in records)  # the publish rule fired
    assert all(r.web_url not in {x.web_url for x in r.related} for r in records)


def test_review_publish_reject_topics_explain(demo_dir: Path) -> None:
    code, out, _ = invoke(demo_dir, "review", "--json", "--limit", "3")
    pending = json.loads(out)
    assert code == 0 and len(pending) == 3
    first, second = pending[0]["id"], pending[1]["id"]
    assert "published" in invoke(demo_dir, "publish", str(first), "--as", "ana")[1]
    assert "already published" in invoke(demo_dir, "publish", str(first))[1]
    code, _, err = invoke(demo_dir, "reject", str(second), "--reason", " ")
    assert code == 1 and "needs a reason" in err
    assert "rejected" in invoke(demo_dir, "reject", str(second), "--reason", "off topic")[1]
    code, out, _ = invoke(demo_dir, "topic", "set", str(first), "Payments")
    assert code == 0 and "Payments, Fintech" in out
    code, _, err = invoke(demo_dir, "topic", "set", str(first), "Astrology")
    assert code == 1 and "unknown topic" in err
    code, out, _ = invoke(demo_dir, "explain", str(first), "--json")
    data = json.loads(out)
    assert data["topics"][0] == {"topic": "Payments", "score": 1.0, "signal": "editor"}
    assert data["quality_reasons"] and {d["action"] for d in data["decisions"]} >= {"publish", "topics"}


def test_decrypt_and_key_rotation(demo_dir: Path) -> None:
    record = next(p for p in sorted((demo_dir / "records").rglob("*.md")) if read_record(p).secured)
    code, before, _ = invoke(demo_dir, "decrypt", str(record))
    assert code == 0 and len(before.split()) > 100
    code, out, _ = invoke(demo_dir, "key", "rotate")
    assert code == 0 and "re-encrypted" in out
    assert invoke(demo_dir, "export")[0] == 0
    code, after, _ = invoke(demo_dir, "decrypt", str(record))
    assert code == 0 and after == before
    code, out, _ = invoke(demo_dir, "export", "--json")
    assert json.loads(out)["written"] == 0  # nothing changed since the last export


def test_search_feeds_and_show(demo_dir: Path) -> None:
    code, out, _ = invoke(demo_dir, "search", "stablecoin", "--json")
    hits = json.loads(out)
    assert code == 0 and hits and "tablecoin" in hits[0]["title"]
    code, out, _ = invoke(demo_dir, "show", str(hits[0]["id"]))
    assert code == 0 and out.startswith("---\ncategory: ")
    code, out, _ = invoke(demo_dir, "feeds", "feeds")
    assert (
        code == 0 and (demo_dir / "feeds" / "all.rss").exists() and (demo_dir / "feeds" / "all.json").exists()
    )


def test_feed_discovery_on_the_demo_site(tmp_path: Path) -> None:
    import asyncio

    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(tmp_path), "NEWSDESK_ENCRYPT": "0"})
    with DemoSite() as site, Newsdesk(settings, resolve=site.resolve_map()) as nd:
        host = next(iter(site.resolve_map()))
        found = asyncio.run(discover(nd, f"http://{host}/", allow_loopback=True))
        assert found and all(f.url.startswith(f"http://{host}/") for f in found)
        feed = site.sources()[0]["url"]
        direct = asyncio.run(discover(nd, str(feed), allow_loopback=True))
        assert [f.url for f in direct] == [feed]
    # the page a feed was found on is its site; a feed URL given directly names no site
    assert source_for(found[0], found_on=f"http://{host}/").site_url == f"http://{host}/"
    assert source_for(direct[0], found_on=str(feed)).site_url is None


def test_opml_import_keeps_folders_and_site_urls(workdir: Path) -> None:
    long_folder = "Markets and everything that moves them, worldwide"
    (workdir / "subs.opml").write_text(
        '<opml version="2.0"><body><outline text="Tech"><outline text="AI">'
        '<outline text="Model Notes" xmlUrl="https://models.example/feed.xml" htmlUrl="https://models.example/"/>'
        f'</outline></outline><outline text="{long_folder}">'
        '<outline text="Wire" xmlUrl="https://wire.example/rss" htmlUrl="javascript:alert(1)"/>'
        "</outline></body></opml>"
    )
    code, out, _ = invoke(workdir, "source", "import-opml", "subs.opml")
    assert code == 0 and "added 2" in out
    code, out, _ = invoke(workdir, "source", "list", "--json")
    listed = {s["url"]: s for s in json.loads(out)}
    assert listed["https://models.example/feed.xml"]["category"] == "Tech/AI"
    assert listed["https://wire.example/rss"]["category"] == long_folder[:40]
    code, out, _ = invoke(workdir, "source", "export-opml")
    assert 'htmlUrl="https://models.example/"' in out and "javascript:" not in out


TRAINING = {
    "Payments": [
        "card payments",
        "mobile wallet checkout",
        "instant payment rails",
        "merchant acquiring fees",
    ],
    "Crypto": ["bitcoin price", "stablecoin issuer", "crypto exchange listing", "ethereum staking"],
    "Equities": [
        "stock market rally",
        "shares fell after earnings",
        "index futures",
        "IPO priced above range",
    ],
}


def test_topics_train_builds_a_model_that_enrichment_loads(workdir: Path) -> None:
    rows = ["title,text,topics"]
    for topic, phrases in TRAINING.items():
        for i in range(24):
            phrase = phrases[i % len(phrases)]
            rows.append(f'"{phrase} update {i}","Analysts discussed {phrase} on day {i}.",{topic}')
    rows.append('"untagged row",,')  # no topics: kept as a negative example for every topic
    (workdir / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = invoke(workdir, "topics", "train", "labels.csv")
    assert code == 0, err
    assert "trained on 73 examples" in out and "vote weight" in out
    model_file = next(workdir.rglob("topic-model*.npz"))
    model = supervised.load_model(model_file)
    assert {"Payments", "Crypto", "Equities"} <= set(model.topics)
    assert f"weight {model.knn_weight:g} " in out
    (workdir / "bad.csv").write_text("headline,labels\nx,y\n", encoding="utf-8")
    code, _, err = invoke(workdir, "topics", "train", "bad.csv")
    assert code == 1 and "needs title and topics columns" in err
