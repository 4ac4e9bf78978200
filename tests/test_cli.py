"""The CLI end to end: real store, the demo site over loopback, the real model; errors are one line."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newsdesk.app import Newsdesk
from newsdesk.cli import app
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.enrich import supervised
from newsdesk.record import read_record
from newsdesk.sourcing import source_for
from tests.conftest import ROOT
from tests.httpserver import LoopbackServer, Reply

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
    code, out, err = invoke(workdir, "demo")
    assert code == 0, err
    (workdir / "demo.out").write_text(out)  # what the demo printed, for test_demo_reports_each_stage
    (workdir / "demo.err").write_text(err)
    yield workdir


def test_demo_reports_each_stage_and_the_records_in_words(demo_dir: Path) -> None:
    """Piped (not a terminal), the demo says when each stage starts and ends instead of going quiet for
    a minute, and the records line is a sentence, not a Python dict."""
    lines = (demo_dir / "demo.err").read_text().splitlines()
    for stage in ("poll", "enrich", "images", "seal", "rules"):
        assert f"{stage}: started" in lines
        assert any(line.startswith(f"{stage}: done (") for line in lines), stage
    assert lines.index("poll: started") < lines.index("enrich: started") < lines.index("rules: started")
    out = (demo_dir / "demo.out").read_text()
    written = len(list((demo_dir / "records").rglob("*.md")))
    assert f"records: {written} records written, 0 unchanged, 0 removed ({written} in all)\n" in out
    assert "{" not in out


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
        found = asyncio.run(nd.sources.discover(f"http://{host}/", allow_loopback=True))
        assert found and all(f.url.startswith(f"http://{host}/") for f in found)
        feed = site.sources()[0]["url"]
        direct = asyncio.run(nd.sources.discover(str(feed), allow_loopback=True))
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


# ------------------------------------------------------------------------ errors: one line, non-zero exit


def one_error_line(code: int, err: str) -> bool:
    """The CLI's error contract: a non-zero exit and exactly one ``error: …`` line on stderr."""
    return code != 0 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
    + "".join(
        f"<item><title>Council story {n}</title><link>http://127.0.0.1:{{port}}/story/{n}</link>"
        f"<description>{f'The council approved harbour budget number {n} after a long debate. ' * 12}</description>"
        "</item>"
        for n in range(3)
    )
    + "</channel></rss>"
)


@pytest.fixture
def wire(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A feed of three articles on loopback, listed in the workdir's sources.yaml; a cheap run (no pages,
    no enrichment, no images) so that what a run stores is the only question."""
    with LoopbackServer({}) as server:
        body = FEED.replace("{port}", str(server.port)).encode()
        server.route("/feed.xml", Reply(200, body, "application/rss+xml"))
        (workdir / "sources.yaml").write_text(
            f"- url: http://127.0.0.1:{server.port}/feed.xml\n  allow_loopback: true\n"
        )
        for name, value in {"FETCH_PAGES": "0", "ENRICH": "0", "CACHE_IMAGES": "0", "PER_HOST_DELAY": "0",
                            "RESPECT_ROBOTS": "0"}.items():  # fmt: skip
            monkeypatch.setenv(f"NEWSDESK_{name}", value)
        yield workdir


def stored_articles(workdir: Path) -> int:
    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(workdir / ".newsdesk")})
    with Newsdesk(settings) as nd:
        return nd.store.count_articles()


CYCLE = "topics:\n  - {name: A, parent: B}\n  - {name: B, parent: A}\n"


@pytest.mark.parametrize(
    ("env", "taxonomy", "message"),
    [
        ({"NEWSDESK_TAXONOMY_FILE": "taxonomy.yaml"}, CYCLE, "the taxonomy has a cycle: A → B → A"),
        ({"NEWSDESK_TAXONOMY_FILE": "taxonomy.yaml"}, "topics: [unclosed\n", "not valid YAML"),
        ({"NEWSDESK_TAXONOMY_FILE": "absent.yaml"}, None, "absent.yaml: cannot read the taxonomy"),
        ({"NEWSDESK_ENCRYPT": "1", "NEWSDESK_SECRET_KEY": "not-base64!"}, None, "secret key"),
        ({"NEWSDESK_ENCRYPT": "1", "NEWSDESK_SECRET_KEY": "c2hvcnQ="}, None, "secret key"),
        ({"NEWSDESK_ENCRYPT": "1"}, None, "no key: set NEWSDESK_SECRET_KEY or run `newsdesk init`"),
        ({"NEWSDESK_PUBLISH_RULES": "publish: quality >>> 40"}, None, "publish rule 1: expected"),
        ({"NEWSDESK_PUBLISH_RULES": "publish if good"}, None, "publish rule 1:"),
    ],
)
def test_configuration_problems_stop_the_run_before_any_work(
    wire: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], taxonomy: str | None, message: str
) -> None:
    """A broken taxonomy, key or rule used to be recorded as ``errors settings: 1`` with exit 0 after
    the articles were stored (with a key problem, their full text in clear). Now nothing is stored."""
    if taxonomy is not None:
        (wire / "taxonomy.yaml").write_text(taxonomy)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = invoke(wire, "run")
    assert one_error_line(code, err) and message in err, err
    assert stored_articles(wire) == 0


def test_the_same_run_with_a_good_configuration_stores_the_feed(wire: Path) -> None:
    """The control for the test above: the set-up does store articles when nothing is wrong."""
    code, _, err = invoke(wire, "run")
    assert code == 0, err
    assert stored_articles(wire) == 3


def test_a_bad_key_stops_demo_serve_and_worker_before_they_start(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_ENCRYPT", "1")
    monkeypatch.setenv("NEWSDESK_SECRET_KEY", "not-base64!")
    monkeypatch.setenv("NEWSDESK_REDIS_URL", "redis://127.0.0.1:9/0")  # never reached
    for command in ("demo", "serve", "worker"):
        code, out, err = invoke(workdir, command)
        assert one_error_line(code, err) and "secret key" in err, (command, err)
        assert out == "", (command, out)
    assert not (workdir / "records").exists()


def test_filesystem_problems_are_one_line(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "a-file").write_text("in the way\n")
    code, _, err = invoke(workdir, "feeds", "a-file/feeds")
    assert one_error_line(code, err) and "a-file/feeds" in err, err
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(workdir / "a-file" / "data"))
    code, _, err = invoke(workdir, "init")
    assert one_error_line(code, err) and "cannot create the data folder" in err and "Not a directory" in err


def test_sync_of_a_missing_sources_file_fails(workdir: Path) -> None:
    code, out, err = invoke(workdir, "source", "sync", "missing.yaml")
    assert one_error_line(code, err) and "missing.yaml: no such sources file" in err and "added" not in out
    code, _, err = invoke(workdir, "source", "sync")  # the default sources.yaml is not there either
    assert one_error_line(code, err) and "sources.yaml: no such sources file" in err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://exa mple.com/f", "the host name 'exa mple.com' contains ' '"),
        ("http://example.com:99999/f", "port out of range 0-65535"),
    ],
)
def test_unusable_source_urls_are_refused_with_the_url(workdir: Path, url: str, reason: str) -> None:
    code, _, err = invoke(workdir, "source", "add", url, "--kind", "feed")
    assert one_error_line(code, err) and repr(url) in err and reason in err, err
    (workdir / "sources.yaml").write_text(f'- url: "{url}"\n')
    code, _, err = invoke(workdir, "source", "sync")
    assert one_error_line(code, err) and repr(url) in err and reason in err, err
    assert json.loads(invoke(workdir, "source", "list", "--json")[1]) == []


# ------------------------------------------------------------------------------------- output wording


def test_counts_are_spelled_with_plurals(workdir: Path) -> None:
    (workdir / "sources.yaml").write_text("- https://one.example/feed.xml\n")
    code, out, _ = invoke(workdir, "source", "sync")
    assert code == 0 and out == "added 1 source, 0 already known\n"
    (workdir / "sources.yaml").write_text("- https://one.example/feed.xml\n- https://two.example/feed.xml\n")
    assert invoke(workdir, "source", "sync")[1] == "added 1 source, 1 already known\n"
    assert invoke(workdir, "source", "sync")[1] == "added 0 sources, 2 already known\n"
    (workdir / "ratings.csv").write_text("domain,score\none.example,0.5\n")
    assert invoke(workdir, "source", "import-ratings", "ratings.csv")[1].startswith(
        "rated 1 source; skipped 0 rows"
    )


def test_an_empty_review_queue_says_so(workdir: Path) -> None:
    code, out, _ = invoke(workdir, "review")
    assert code == 0 and out == "review queue is empty: no article is waiting for an editor\n"
    assert json.loads(invoke(workdir, "review", "--json")[1]) == []


# ------------------------------------------------------------------------- show == the exported file

REFERENCE = ROOT / "docs" / "examples" / "record.md"


@pytest.fixture
def exported(workdir: Path) -> tuple[Path, bytes]:
    """The reference record stored (its long ``secured`` and URL lines are what a wrapping printer splits)
    and exported; returns the workdir and the exported file's bytes."""
    article = read_record(REFERENCE).replace(related=())
    settings = load_settings(env={"NEWSDESK_DATA_DIR": str(workdir / ".newsdesk")})
    with Newsdesk(settings) as nd:
        nd.store.save_article(article)
    assert invoke(workdir, "export", "out")[0] == 0
    (path,) = (workdir / "out").rglob("*.md")
    return workdir, path.read_bytes()


def test_show_piped_is_the_exported_file(exported: tuple[Path, bytes]) -> None:
    workdir, expected = exported
    code, out, _ = invoke(workdir, "show", "1")
    assert code == 0 and out.encode() == expected
    result = subprocess.run(
        [sys.executable, "-m", "newsdesk", "show", "1"],
        cwd=workdir, capture_output=True, env=os.environ | {"COLUMNS": "40"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == expected, result.stderr


def test_show_on_a_narrow_terminal_is_the_exported_file(exported: tuple[Path, bytes]) -> None:
    """On a real 40-column terminal (a pty; output post-processing off so that bytes arrive as written)."""
    workdir, expected = exported
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    modes = termios.tcgetattr(follower)
    modes[1] &= ~termios.OPOST  # no "\n" → "\r\n"
    termios.tcsetattr(follower, termios.TCSANOW, modes)
    env = os.environ | {"COLUMNS": "40", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-m", "newsdesk", "show", "1"], cwd=workdir, stdout=follower, env=env
    ) as proc:
        os.close(follower)
        shown = _read_all(leader)
    assert proc.returncode == 0 and shown == expected


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_readme_documents_every_command_and_the_serving_options() -> None:
    """The README's command table names every command; the rows for ``serve`` and ``demo`` give every
    option, so how to choose the address and port is written down where a user looks first."""
    import typer.main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `newsdesk ")]
    group: Any = typer.main.get_command(app)
    for name, command in group.commands.items():
        rows = [row for row in table if f"`newsdesk {name}" in row or f"· `{name} " in row]
        assert rows, f"README does not list `newsdesk {name}`"
        if name in ("serve", "demo"):
            options = {o for p in command.params for o in p.opts if o.startswith("--")} - {"--config"}
            assert all(o in rows[0] for o in options), (name, options)
    assert "](docs/examples/record.md)" in readme and (ROOT / "docs" / "examples" / "record.md").is_file()


def test_opml_import_names_each_unusable_url_it_skips(workdir: Path) -> None:
    (workdir / "subs.opml").write_text(
        '<opml version="2.0"><body>'
        '<outline text="Good" xmlUrl="https://good.example/feed.xml"/>'
        '<outline text="Spaced" xmlUrl="http://exa mple.com/f"/>'
        '<outline text="Port" xmlUrl="http://example.com:99999/f"/>'
        "</body></opml>"
    )
    code, out, err = invoke(workdir, "source", "import-opml", "subs.opml")
    assert code == 0 and out == "added 1 source, skipped 2\n"
    assert "'http://exa mple.com/f' is not usable: the host name 'exa mple.com' contains ' '" in err
    assert "'http://example.com:99999/f' is not usable: malformed URL (port out of range 0-65535)" in err
    listed = json.loads(invoke(workdir, "source", "list", "--json")[1])
    assert [s["url"] for s in listed] == ["https://good.example/feed.xml"]
