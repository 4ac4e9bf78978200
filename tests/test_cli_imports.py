"""The CLI's light commands do not load the heavy stack.

`newsdesk --help`, `source list` and `export` only read settings and the store; importing the
extraction, embedding or web stack for them cost ≈ 0.6 CPU-s per invocation (docs/benchmarks.md,
"Side by side with peers"). Each check runs in a fresh interpreter, so nothing an earlier test
imported can hide a regression.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "sklearn", "onnxruntime", "torch", "sentence_transformers", "trafilatura", "fastapi")

# Run a CLI invocation in-process, then report which heavy modules it loaded.
_PROBE = """
import json, sys
from newsdesk.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    heavy = {heavy!r}
    print("\\nLOADED=" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def _loaded(args: list[str], tmp_path: Path, **settings: str) -> list[str]:
    env = {**os.environ, "NEWSDESK_DATA_DIR": str(tmp_path / "data"), **settings}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    marker = [line for line in done.stdout.splitlines() if line.startswith("LOADED=")]
    assert marker, done.stderr
    return list(json.loads(marker[-1].removeprefix("LOADED=")))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, newsdesk.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["source", "list"], ["export", "{tmp}/records"]])
def test_light_commands_load_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    assert _loaded([a.replace("{tmp}", str(tmp_path)) for a in args], tmp_path) == []


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check above is not vacuous: a command that does need the extraction stack shows it."""
    assert "trafilatura" in _loaded(["run"], tmp_path, NEWSDESK_ENRICH="false", NEWSDESK_ENCRYPT="false")


def test_init_builds_the_model_graph_without_torch(tmp_path: Path) -> None:
    """`newsdesk init` writes the embedding model's ONNX graph from its weights (issue 14: torch cost a
    fresh folder's first run 7.5 CPU-s and 430 MB) and unpacks USE (enrich/usecache.py), so runs and
    servers find both ready."""
    assert "torch" not in _loaded(["init"], tmp_path)
    made = sorted((tmp_path / "data" / "models").iterdir(), key=lambda p: p.is_dir())
    assert [p.suffix for p in made[:1]] == [".onnx"] and len(made) == 2
    assert made[1].name.startswith("use-multilingual-v3-") and made[1].is_dir()


def test_an_enriched_run_never_imports_torch(tmp_path: Path) -> None:
    """The demo on a fresh folder: init, a whole run with enrichment (the graph built on first use when
    init did not), the export. It embeds (ONNX Runtime is loaded) and never imports torch."""
    loaded = _loaded(["demo"], tmp_path, NEWSDESK_ENCRYPT="false")
    assert "onnxruntime" in loaded
    assert "torch" not in loaded and "sentence_transformers" not in loaded


def test_extraction_workers_do_not_import_the_ingestion() -> None:
    """The pool's workers run feed parsing and extraction only: the store, SQLAlchemy and httpx cost each
    of them 32 MB and a third of a CPU-second when their jobs lived in the ingestion module."""
    from newsdesk.extract.jobs import extract_job
    from newsdesk.ingestor import process_pool

    pool = process_pool(1)
    try:
        page = b"<html><head><title>A title</title></head><body><article><p>" + b"Words here. " * 40
        assert pool.submit(
            extract_job, page + b"</p></article></body></html>", "https://a.test/x", True
        ).result()
        names = ("sqlalchemy", "httpx", "newsdesk.store", "newsdesk.pipeline")
        probe = f"[m for m in {names!r} if m in __import__('sys').modules]"
        assert pool.submit(eval, probe).result() == []
    finally:
        pool.shutdown()
