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
import time
from pathlib import Path

import pytest

from newsdesk.enrich import use_onnx
from newsdesk.enrich.embed import DIGESTS_FILE
from tests.httpserver import LoopbackServer, Reply, Seen

HEAVY = ("numpy", "sklearn", "onnxruntime", "torch", "sentence_transformers", "trafilatura", "fastapi")

# What a poll loads only once it has a body to parse or a page to extract (feed parsers, the
# extraction stack, charset detection, the public-suffix list and the HTTP stack tldextract brings).
PARSING = ("feedparser", "fastfeedparser", "trafilatura", "py3langid", "numpy", "charset_normalizer",
           "tldextract", "requests")  # fmt: skip

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


# The same through the command's own entry (what `python -m newsdesk` and the installed command run),
# which registers only the invoked command's module.
_MAIN_PROBE = """
import json, sys
from newsdesk.cli import main
sys.argv = ["newsdesk", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    if e.code:
        raise
finally:
    heavy = {heavy!r}
    print("\\nLOADED=" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""

# What a feed poll has no use for: the other commands' modules, alerts' templates (jinja2) and, with
# encryption off, the key ring's cryptography (docs/benchmarks.md, "the cold CLI").
NOT_FOR_A_POLL = ("newsdesk.cli.alerts", "newsdesk.cli.editorial", "newsdesk.cli.users",
                  "newsdesk.cli.webhooks", "newsdesk.catalog", "newsdesk.webhooks", "jinja2",
                  "cryptography",
                  # nor the PostgreSQL dialect on SQLite, httpx's command-line client (click, pygments),
                  # lxml (the sanitiser's element names) or Rich's progress bar off a terminal
                  # (docs/benchmarks.md, "The cold 304 poll at reader's cost")
                  "sqlalchemy.dialects.postgresql", "httpx._main", "click", "pygments", "lxml",
                  "rich.progress",
                  # rich's console when the output is JSON for a script, and pydantic, which typer 0.29
                  # built a validator with for every parameter (docs/benchmarks.md, "The cold 304 poll,
                  # again")
                  "rich.console", "pydantic")  # fmt: skip


def _loaded(
    args: list[str],
    tmp_path: Path,
    *,
    probe: str = _PROBE,
    watched: tuple[str, ...] = HEAVY + PARSING,
    **settings: str,
) -> list[str]:
    env = {**os.environ, "NEWSDESK_DATA_DIR": str(tmp_path / "data"), **settings}
    done = subprocess.run(
        [sys.executable, "-c", probe.format(heavy=watched), *args],
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


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>http://a.test/</link>
<item><title>One</title><link>http://a.test/1</link><description>First.</description></item>
</channel></rss>"""


def _feed(seen: Seen) -> Reply:
    etag = '"v1"'
    if seen.headers.get("if-none-match") == etag:
        return Reply(status=304, headers={"ETag": etag}, content_type=None)
    return Reply(body=RSS, content_type="application/rss+xml", headers={"ETag": etag})


def test_a_run_whose_feeds_answer_304_loads_no_parser(tmp_path: Path) -> None:
    """A cold `newsdesk run` where every feed answers 304 (cron's common case) parses nothing, so it
    loads neither the parsers nor the extraction stack: they were ≈ 0.6 CPU-s of its start
    (docs/benchmarks.md, "Desk"). The first run, which parses the feed, shows the probe sees them."""
    settings = {"NEWSDESK_ENRICH": "false", "NEWSDESK_ENCRYPT": "false", "NEWSDESK_FETCH_PAGES": "false",
                "NEWSDESK_POLL_MIN_INTERVAL": "1", "NEWSDESK_POLL_MAX_INTERVAL": "1"}  # fmt: skip
    with LoopbackServer({"/feed.xml": _feed}) as server:
        (tmp_path / "sources.yaml").write_text(
            f"- url: {server.url('/feed.xml')}\n  allow_loopback: true\n", encoding="utf-8"
        )
        settings["NEWSDESK_SOURCES_FILE"] = str(tmp_path / "sources.yaml")
        first = _loaded(["run"], tmp_path, watched=PARSING + NOT_FOR_A_POLL, **settings)
        time.sleep(1.1)  # the source is due again (its interval: 1 s)
        second = _loaded(
            ["run", "--json"], tmp_path, probe=_MAIN_PROBE, watched=PARSING + NOT_FOR_A_POLL, **settings
        )
        assert server.hits("/feed.xml") == 2
    assert {"fastfeedparser", "trafilatura"} <= set(first)  # the probe sees them when they load
    assert "newsdesk.cli.webhooks" in first  # and the other commands, all registered by this probe
    assert [m for m in second if m in PARSING + NOT_FOR_A_POLL] == []


def test_httpx_loads_without_its_command_line_client_which_stays_importable() -> None:
    """``newsdesk.fetch`` refuses ``httpx._main`` once, when httpx's ``__init__`` asks for it (it brings
    click, pygments and Rich's syntax highlighting), then steps aside: the client works, and a later
    import of the module gets the real one."""
    probe = (
        "import sys, asyncio, newsdesk.fetch.client, httpx; "
        "before = sorted(m for m in ('httpx._main', 'click', 'pygments') if m in sys.modules); "
        "client = httpx.AsyncClient(); asyncio.run(client.aclose()); "
        "import httpx._main; print(before, callable(httpx._main.main), 'click' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "True", "True"]


def test_each_command_is_registered_by_the_module_the_cli_imports_for_it() -> None:
    """``newsdesk.cli.COMMAND_MODULES`` says which module registers each top-level command or group, so
    an invocation imports that module only. Each module is imported alone in a fresh interpreter and
    its registrations compared with the table: a new command missing from it would not be found."""
    from newsdesk.cli import COMMAND_MODULES, MODULES

    probe = (
        "import importlib, json, sys; importlib.import_module('newsdesk.cli.' + sys.argv[1]); "
        "from newsdesk.cli.base import app; "
        "print(json.dumps([c.name or c.callback.__name__ for c in app.registered_commands] "
        "+ [g.name for g in app.registered_groups if g.typer_instance.registered_commands]))"
    )
    registered = {}
    for module in MODULES:
        done = subprocess.run(
            [sys.executable, "-c", probe, module], capture_output=True, text=True, check=True
        )
        registered |= dict.fromkeys(json.loads(done.stdout), module)
    assert registered == COMMAND_MODULES


def test_init_builds_the_model_graph_without_torch(tmp_path: Path) -> None:
    """`newsdesk init` writes the embedding model's ONNX graph from its weights (issue 14: torch cost a
    fresh folder's first run 7.5 CPU-s and 430 MB), unpacks USE (enrich/usecache.py) and writes USE's
    ONNX graphs beside it (enrich/use_onnx.py), so runs and servers find them all ready."""
    assert "torch" not in _loaded(["init"], tmp_path)
    models = tmp_path / "data" / "models"
    made = {p.name for p in models.iterdir()}
    graphs = [name for name in made if name.endswith(".onnx")]
    folders = sorted(name for name in made if (models / name).is_dir())
    assert len(graphs) == 1 and len(folders) == 2 and folders[0].startswith("use-multilingual-v3-")
    assert folders[1] == use_onnx.graphs_folder(models).name
    assert made == {*graphs, *folders, DIGESTS_FILE}  # and the weights digest the graph is named by


def test_an_enriched_run_never_imports_torch(tmp_path: Path) -> None:
    """The demo on a fresh folder: init, a whole run with enrichment (the graph built on first use when
    init did not), the export. It embeds (ONNX Runtime is loaded) and never imports torch."""
    loaded = _loaded(["demo"], tmp_path, NEWSDESK_ENCRYPT="false")
    assert "onnxruntime" in loaded and "trafilatura" in loaded
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


def test_the_installed_command_imports_nothing_until_it_is_called() -> None:
    """An extraction worker re-runs the console script's file (multiprocessing's ``__mp_main__``), so
    what the script imports at its top is imported again in every worker: it must be the light entry
    module, not the CLI (Typer, Rich, SQLAlchemy, httpx)."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    module, _, function = pyproject["project"]["scripts"]["newsdesk"].partition(":")
    probe = (
        f"import json, sys; from {module} import {function}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'rich', 'sqlalchemy', 'httpx') or m == 'newsdesk.cli')))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(found.stdout) == []
