"""The demo's exported records, byte for byte: the guard that a refactor changed no behaviour.

The run is the one ``newsdesk demo`` makes — the bundled demo world served on loopback, every stage on
(enrichment with the shipped model, image caching, sealing), the demo's default publish rules — into a
fresh store, then an export. Every record file must equal its golden copy in
``tests/data/demo_export_golden/records/`` byte for byte, and the reasons behind each record's scores
and topics (which a record file does not carry) must equal ``reasons.json`` there.

What would differ from run to run is held fixed: the demo world's dates and the pipeline's clock
(:func:`newsdesk.model.held_clock`), the key, and the nonce of the ``secured`` field
(:func:`newsdesk.secure.held_nonce`). So is the order in which copies of one text arrive: the first
copy stored keeps the article and later ones become its alternates, so when a press release and the
wire copy of it are fetched side by side, either URL may win. The sources are therefore ingested one at
a time, then enriched and finished in one pass — the queue workers' path (``run_async(finish=False)``,
then ``finish_pending``). Article ids within one source still follow the order in which its pages
arrive, so nothing compared here depends on them.

A golden record keeps its ``secured`` line as the SHA-256 of the value (the exact bytes still count,
and the golden copies stay readable); everything else is the file as written.

When a change is *meant* to alter records (a new quality reason, a retuned threshold), regenerate the
golden copy and commit it with the change, saying why in the message::

    NEWSDESK_REGENERATE_GOLDEN=1 pytest -q tests/test_demo_export_golden.py -k sqlite
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.app import Newsdesk, demo_sources
from newsdesk.cli.base import DEMO_RULES
from newsdesk.config import load_settings
from newsdesk.demo import DemoSite
from newsdesk.model import Article, held_clock
from newsdesk.publish.export import record_path
from newsdesk.secure import NONCE_BYTES, held_nonce
from tests.conftest import ROOT, fresh_postgres_schema, quiet_env

GOLDEN = ROOT / "tests" / "data" / "demo_export_golden"
REGENERATE = os.environ.get("NEWSDESK_REGENERATE_GOLDEN") == "1"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # the demo world's "now" and the pipeline's clock
KEY = base64.b64encode(bytes(range(32))).decode()
NONCE = bytes(NONCE_BYTES)
SECURED = re.compile(r'^secured: "([^"]*)"$', re.MULTILINE)
DIFF_LINES = 60  # of the first differing record; enough to see what moved, short enough to read


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsdesk.db'}"
        return
    with fresh_postgres_schema("nd_golden") as url:
        yield url


def comparable(record: str) -> str:
    """The record as the golden copy keeps it: ``secured`` as the SHA-256 of its value."""
    return SECURED.sub(lambda m: f'secured: "sha256:{hashlib.sha256(m[1].encode()).hexdigest()}"', record)


def reasons(article: Article) -> dict[str, list[str]]:
    """Why the article has its quality, heat and topics, a line each. Points and scores are rounded (2
    places): the reasons are the point, and the last bits of a float may follow the model's batch shapes."""
    return {
        "quality": [f"{r.name} {r.value:.2f}: {r.detail}" for r in article.quality_reasons],
        "heat": [f"{r.name} {r.value:.2f}: {r.detail}" for r in article.heat_reasons],
        "topics": [f"{t.name} {t.score:.2f}: {t.signal}" for t in article.topic_scores],
    }


def demo_export(workdir: Path, database_url: str) -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
    """Run the demo world into a fresh store and export it: ``({record path: comparable text}, reasons)``."""
    env = quiet_env(
        workdir / "data",
        database_url,
        NEWSDESK_ENRICH="1",
        # MiniLM in fp32, not the shipped int8: dynamic quantisation rounds each activation to a step
        # set by the text's largest one, so another CPU's kernels move zero-shot topic scores by up to
        # 0.01 and labels at the threshold come and go (35 of 63 records on an AVX2-only EPYC against
        # the copy made on the previous machine). fp32 differs between CPUs in the last bits only.
        NEWSDESK_EMBED_BACKEND="onnx",
        NEWSDESK_ENCRYPT="1",
        NEWSDESK_CACHE_IMAGES="1",
        NEWSDESK_SECRET_KEY=KEY,
    )
    settings = load_settings(env=env, base_dir=workdir).with_values(publish_rules=DEMO_RULES)
    folder = workdir / "records"
    with (
        held_clock(NOW),
        held_nonce(NONCE),
        DemoSite(now=NOW) as site,
        Newsdesk(settings, resolve=site.resolve_map()) as nd,
    ):
        nd.init()
        nd.sources.ensure(demo_sources(site.sources()))
        for source in nd.sources.list():  # one at a time: see the module docstring
            asyncio.run(nd.run_async(sources=[source], finish=False))
        asyncio.run(nd.finish_pending())
        nd.outputs.export(folder)
        why = {record_path(a): reasons(a) for a in nd.store.iter_articles()}
    records = {p.relative_to(folder).as_posix(): comparable(p.read_text()) for p in folder.rglob("*.md")}
    return records, dict(sorted(why.items()))


def golden() -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
    folder = GOLDEN / "records"
    records = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.md")}
    return records, json.loads((GOLDEN / "reasons.json").read_text())


def write_golden(records: Mapping[str, str], why: Mapping[str, dict[str, list[str]]]) -> None:
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for path, text in records.items():
        target = GOLDEN / "records" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (GOLDEN / "reasons.json").write_text(json.dumps(why, indent=1, ensure_ascii=False) + "\n")


def mismatches(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """What differs, in words: missing and unexpected files, then a unified diff of the first changed
    one (its name and the names of the others are listed)."""
    problems = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected: {p}" for p in sorted(actual.keys() - expected.keys())]
    changed = sorted(p for p in expected.keys() & actual.keys() if expected[p] != actual[p])
    problems += [f"changed: {p}" for p in changed]
    if changed:
        first = changed[0]
        diff = difflib.unified_diff(
            expected[first].splitlines(),
            actual[first].splitlines(),
            "golden/" + first,
            "now/" + first,
            lineterm="",
        )
        problems += list(diff)[:DIFF_LINES]
    return problems


@pytest.mark.slow  # a full enriched demo run: about a minute of wall time per engine
def test_the_demo_exports_the_golden_records(database_url: str, tmp_path: Path) -> None:
    records, why = demo_export(tmp_path, database_url)
    assert len(records) >= 60, "the demo world holds over 60 articles; the run lost most of them"
    if REGENERATE and database_url.startswith("sqlite"):
        write_golden(records, why)
    expected_records, expected_why = golden()
    problems = mismatches(expected_records, records)
    assert not problems, "\n".join(["the demo's records differ from the golden copy:", *problems])
    text = {p: json.dumps(v, indent=1, ensure_ascii=False) for p, v in why.items()}
    problems = mismatches(
        {p: json.dumps(v, indent=1, ensure_ascii=False) for p, v in expected_why.items()}, text
    )
    assert not problems, "\n".join(["the reasons behind the records differ from reasons.json:", *problems])


def test_a_change_is_reported_with_its_file_and_diff() -> None:
    """The comparison itself: a test that cannot fail guards nothing."""
    expected = {"a.md": "title: one\nquality: 70\n", "b.md": "x\n", "c.md": "y\n"}
    actual = {"a.md": "title: one\nquality: 71\n", "c.md": "y\n", "d.md": "z\n"}
    problems = mismatches(expected, actual)
    assert problems[:3] == ["missing: b.md", "unexpected: d.md", "changed: a.md"]
    assert "-quality: 70" in problems and "+quality: 71" in problems
    assert mismatches(expected, dict(expected)) == []


def test_the_golden_copy_hides_only_the_secured_value() -> None:
    record = 'title: "t"\nsecured: "abc;def"\n'
    digest = hashlib.sha256(b"abc;def").hexdigest()
    assert comparable(record) == f'title: "t"\nsecured: "sha256:{digest}"\n'
    assert comparable('title: "t"\n') == 'title: "t"\n'
