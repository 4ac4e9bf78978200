"""The edges reach newsdesk through the facade only.

The CLI, the REST API, the web UI and the reader APIs parse input, call the facade (``Newsdesk`` and
its parts: ``nd.catalog``, ``nd.sources``, ``nd.editorial``…) and format the result. Were an edge to
import the store, the pipeline or a stage module, SQL or pipeline logic would creep back into it and
the edges would drift apart. Every edge module is parsed (``ast``: an import in a string or a comment
is no import, one inside a function or under ``TYPE_CHECKING`` is); each newsdesk module it imports
must be in :data:`ALLOWED` or an edge package, and it never touches a ``.store`` attribute.

Below the pipeline, the fetch package knows the error tree and the model, never the store: what it
hands on to be kept (robots.txt rules between runs) leaves it as plain values, which the run's glue
(``stages.py``) gives to the store.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import newsdesk

PACKAGE = Path(newsdesk.__file__).parent
EDGES = ("newsdesk.cli", "newsdesk.api", "newsdesk.web", "newsdesk.readerapi")

ALLOWED = {
    "newsdesk": "the package itself, for its __version__",
    "newsdesk.app": "the facade: Newsdesk, which owns the parts",
    "newsdesk.model": "the domain model: articles, sources, stories, topics",
    "newsdesk.errors": "the exception tree every edge turns into its own answers",
    "newsdesk.config": "settings: loading, describing, documenting them",
    "newsdesk.catalog": "nd.catalog's module: Audience and the view records it returns",
    "newsdesk.editorial": "nd.editorial's module: review filters, outcomes, Conflict and NotFound",
    "newsdesk.sourcing": "nd.sources' module: source_for and the field limits its forms check",
    "newsdesk.readers": "nd.readers' module: reader users, item filters, the feed model",
    "newsdesk.alerts": "nd.alerts' module: the saved-search limits its forms check",
    "newsdesk.webhooks": "nd.webhooks' module: the event kinds a receiver may ask for",
    "newsdesk.websub": "nd.websub's module: Gone, a push to a callback key it no longer holds (410)",
    "newsdesk.outputs": "nd.outputs' module: the export summary and the record's date format",
    "newsdesk.desk": "the running desk that `serve` starts and the ops endpoints report on",
    "newsdesk.queue": "the scale-out worker and scheduler that `worker` and `schedule` start",
    "newsdesk.demo": "the bundled demo site that `demo` serves",
    "newsdesk.logs": "the process's log format, set up once by the server",
    "newsdesk.longlived": "the cycle collector resumed once the command is loaded (the CLI's start)",
}


def edge_modules() -> list[Path]:
    return sorted(p for edge in EDGES for p in (PACKAGE.parent / edge.replace(".", "/")).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(path: Path) -> set[str]:
    """Every newsdesk module the edge module at ``path`` imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imports_of(path.read_text(encoding="utf-8"), package)


def imports_of(source: str, package: str) -> set[str]:
    """The newsdesk modules ``source`` (a module of ``package``) imports. ``from X import y`` counts
    ``X.y`` when that is a module (``from .. import queue``), else ``X`` (``from .. import __version__``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return {name for name in found if name == "newsdesk" or name.startswith("newsdesk.")}


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


def allowed(name: str) -> bool:
    return name in ALLOWED or any(name == edge or name.startswith(edge + ".") for edge in EDGES)


@pytest.mark.parametrize("path", edge_modules(), ids=lambda p: module_name(p))
def test_an_edge_imports_only_the_facade(path: Path) -> None:
    assert sorted(name for name in imported(path) if not allowed(name)) == []


@pytest.mark.parametrize("path", edge_modules(), ids=lambda p: module_name(p))
def test_an_edge_never_reaches_the_store(path: Path) -> None:
    """``nd.store`` is the parts' to use: an edge that needs something from the store asks a part."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"]
    assert lines == []


FETCH_MAY_IMPORT = {"newsdesk.errors", "newsdesk.model", "newsdesk.longlived"}  # and its own modules


@pytest.mark.parametrize("path", sorted((PACKAGE / "fetch").glob("*.py")), ids=lambda p: module_name(p))
def test_the_fetch_package_imports_no_store(path: Path) -> None:
    outside = {name for name in imported(path) if not name.startswith("newsdesk.fetch")}
    assert sorted(outside - FETCH_MAY_IMPORT) == []


def test_every_allowed_module_exists_and_is_used() -> None:
    """The allowed set stays the smallest that works: an entry no edge needs any more is dropped."""
    used = set().union(*(imported(p) for p in edge_modules()))
    assert [name for name in ALLOWED if not is_module(name) or name not in used] == []


def test_the_check_sees_every_kind_of_import() -> None:
    """Not vacuous: relative, absolute, from-package, function-level and type-only imports are found,
    and a deep module is refused while the edges' own modules are not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..store import Store\n"
        "from .context import Web\n"
        "import newsdesk.ingestor\n"
        "if TYPE_CHECKING:\n    from ..fetch.client import Fetcher\n"
        "def f():\n    from .. import finishing, __version__\n"
        "text = 'from ..enrich import embed'\n"
    )
    found = imports_of(source, "newsdesk.web")
    assert found == {
        "newsdesk", "newsdesk.store", "newsdesk.web.context", "newsdesk.ingestor", "newsdesk.fetch.client",
        "newsdesk.finishing",
    }  # fmt: skip
    assert sorted(n for n in found if not allowed(n)) == [
        "newsdesk.fetch.client", "newsdesk.finishing", "newsdesk.ingestor", "newsdesk.store",
    ]  # fmt: skip


def test_the_parts_are_made_once_and_on_first_use(tmp_path: Path) -> None:
    """A part is an attribute of the facade, the same object each time (the catalog keeps the vector
    cache, WebSub its last ping); making one opens nothing, so `newsdesk --help` stays cheap."""
    from newsdesk.app import Newsdesk
    from newsdesk.config import load_settings

    nd = Newsdesk(load_settings(env={"NEWSDESK_DATA_DIR": str(tmp_path / "data")}, base_dir=tmp_path))
    names = ("catalog", "editorial", "sources", "tokens", "readers", "alerts", "webhooks", "websub", "keys",
             "outputs", "training")  # fmt: skip
    parts = [getattr(nd, name) for name in names]
    assert all(getattr(nd, name) is part and part.nd is nd for name, part in zip(names, parts, strict=True))
    assert nd._store is None and not (tmp_path / "data").exists()
