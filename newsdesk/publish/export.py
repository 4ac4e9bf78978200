"""Incremental export of record files into a folder a static-site generator reads (Hugo/Astro content dir).

One Markdown record per article (``newsdesk.record.dump_record``) at a stable path::

    <folder>/YYYY/MM/<slug>-<hash>.md      YYYY/MM of publishedDateTime, else of first seen, else "undated/"

``slug`` is the title in lower-case ASCII (≤ :data:`MAX_STEM_CHARS` with the hash), ``hash`` the first
:data:`HASH_CHARS` hex digits of SHA-256 of the canonical URL, so two articles with the same headline in
the same month still get two files, and a file keeps its name for as long as title and URL stay the same.

Besides the records the folder holds only dot-files, which site generators skip:

- ``.newsdesk-export.json`` — the manifest: ``{"version", "files": {path: {"sha256", "id"}}, "pending",
  "stamp"}``. It is how an export knows which files it wrote (only those are ever rewritten or removed; a
  user's own files are never touched) and which are already up to date (same SHA-256 → not rewritten).
  ``stamp`` (version 2; a version 1 manifest reads as one without it) is the caller's word for the state
  of everything the records were made from: an export given the same stamp, whose files are all still
  there, has nothing to do and renders no record (see :func:`export_records`).
- ``.newsdesk-export.lock`` — exists while an export runs; holds the exporter's pid. A second export at the
  same time gets :class:`~newsdesk.errors.ExportError`; a lock left by a dead process is taken over.
- ``.newsdesk-export.tmp/`` — staging directory, present only during an export.

An export runs in two phases so that a failure leaves the previous export intact:

1. **stage** — every new or changed record is written to the staging directory (and the directories it
   will go to are created). Any error here (disk full, unwritable folder, a user's file where a directory
   must go) removes the staged files and the directories it created; the folder is as before.
2. **commit** — if new paths appear, the manifest first lists them as ``pending`` (so a crash cannot leave
   files nobody owns); then each staged file is renamed over its target (atomic on POSIX), files of
   records no longer selected are removed (``prune``), and the final manifest is written last, atomically
   (temp file + fsync + rename). An interrupted commit is finished by the next export: pending files count
   as the exporter's own, and their content is compared again.

Record files are not fsync'ed one by one (that would dominate the export time); atomic rename protects them
from a crashed process, and the manifest is fsync'ed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ExportError
from ..model import Article
from ..record import dump_record
from ..unpacked import synced_folder

log = logging.getLogger(__name__)

MANIFEST_NAME = ".newsdesk-export.json"
LOCK_NAME = ".newsdesk-export.lock"
STAGING_NAME = ".newsdesk-export.tmp"
MANIFEST_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 had no "stamp": such a manifest never lets an export be skipped
MAX_STEM_CHARS = 80  # file name without ".md": short enough for any file system and readable in a URL
HASH_CHARS = 8  # 32 bits of the URL hash; a clash also needs the same slug in the same month
UNDATED_DIR = "undated"
FALLBACK_SLUG = "article"  # for titles with no ASCII letters or digits at all (e.g. all CJK)
STALE_EMPTY_LOCK_S = 60.0  # a lock file still without a pid after this long was left by a crash at birth
_RECORD_PATH = re.compile(r"^(?:\d{4}/\d{2}|undated)/[a-z0-9-]+\.md$")


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export did: files ``written`` (new or changed), ``unchanged``, ``removed`` (pruned), and the
    ``total`` number of records now exported."""

    written: int
    unchanged: int
    removed: int
    total: int
    # Records rendered to compare them with their file: 0 when the stamp showed nothing had changed.
    # Not part of equality: two exports that leave the folder the same have the same summary.
    rendered: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Entry:
    """One manifest line: the SHA-256 of the file's content (``None`` while pending) and the article id."""

    sha256: str | None
    article_id: int | None


@dataclass(slots=True)
class _Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    stamp: str | None = None

    def owned(self) -> set[str]:
        return set(self.files) | self.pending


@dataclass(slots=True)
class _Plan:
    """Phase-1 result: the new manifest entries and the staged files ``(target, staged)`` to rename."""

    entries: dict[str, Entry] = field(default_factory=dict)
    staged: list[tuple[str, Path]] = field(default_factory=list)
    created_dirs: list[Path] = field(default_factory=list)
    unchanged: int = 0
    rendered: int = 0


# ---------------------------------------------------------------------------------------------- paths


def slugify(title: str) -> str:
    """Lower-case ASCII words of ``title`` joined by ``-`` (accents folded: ``Café`` → ``cafe``)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def record_path(article: Article) -> str:
    """The article's path relative to the export folder, with ``/`` separators (see module docstring)."""
    when = article.published_at or article.first_seen_at
    folder = UNDATED_DIR if when is None else f"{when.year:04d}/{when.month:02d}"
    digest = hashlib.sha256(article.web_url.encode("utf-8")).hexdigest()[:HASH_CHARS]
    slug = slugify(article.title)[: MAX_STEM_CHARS - HASH_CHARS - 1].rstrip("-") or FALLBACK_SLUG
    return f"{folder}/{slug}-{digest}.md"


# ----------------------------------------------------------------------------------------------- lock


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _lock_is_stale(path: Path) -> tuple[bool, str]:
    """Whether the lock at ``path`` may be taken over, and who holds it (for the error message)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True, "nobody"
    if text.isdigit():
        return not _pid_alive(int(text)), f"pid {text}"
    return age > STALE_EMPTY_LOCK_S, "a process that has not written its pid yet"


def _acquire(path: Path) -> None:
    for _ in range(2):  # second try after removing a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            stale, holder = _lock_is_stale(path)
            if not stale:
                raise ExportError(f"{path.parent} is being exported by another export ({holder})") from None
            log.warning("taking over a stale export lock", extra={"path": str(path), "holder": holder})
            path.unlink(missing_ok=True)
            continue
        except OSError as e:
            raise ExportError(f"cannot lock export folder {path.parent}: {e.strerror or e}") from e
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(str(os.getpid()))
        return
    raise ExportError(f"{path.parent} is being exported by another export (it took the lock first)")


@contextlib.contextmanager
def export_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's export lock for the ``with`` block; :class:`ExportError` if another export does."""
    path = folder / LOCK_NAME
    _acquire(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="ascii").strip() == str(os.getpid()):
                path.unlink()


# ------------------------------------------------------------------------------------------- manifest


def _read_manifest(folder: Path) -> _Manifest:
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _Manifest()
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read the export manifest {path}: {e}; remove it to start over") from e
    try:
        return _parse_manifest(data)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ExportError(f"the export manifest {path} is damaged ({e}); remove it to start over") from e


def _parse_manifest(data: Any) -> _Manifest:
    if data.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"unsupported version {data.get('version')!r}")
    files = {str(p): Entry(e["sha256"], e.get("id")) for p, e in data["files"].items()}
    stamp = data.get("stamp")
    manifest = _Manifest(files, {str(p) for p in data.get("pending", [])}, str(stamp) if stamp else None)
    bad = [p for p in manifest.owned() if not _RECORD_PATH.match(p)]
    if bad:  # never let a damaged manifest point prune at a path outside the record layout
        raise ValueError(f"not a record path: {bad[0]!r}")
    return manifest


def _write_manifest(folder: Path, manifest: _Manifest) -> None:
    """Replace the manifest atomically: temp file, fsync, rename, fsync of the directory."""
    document = {
        "version": MANIFEST_VERSION,
        "files": {p: {"sha256": e.sha256, "id": e.article_id} for p, e in sorted(manifest.files.items())},
        "pending": sorted(manifest.pending),
        "stamp": manifest.stamp,
    }
    path = folder / MANIFEST_NAME
    temp = folder / f"{MANIFEST_NAME}.tmp"
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
    synced_folder(folder)


# ------------------------------------------------------------------------------------- phase 1: stage


def _stage(articles: Iterable[Article], folder: Path, old: _Manifest, staging: Path, plan: _Plan) -> None:
    for article in articles:
        _stage_one(article, folder, old, staging, plan)


def _stage_one(article: Article, folder: Path, old: _Manifest, staging: Path, plan: _Plan) -> None:
    relative = record_path(article)
    if relative in plan.entries:
        log.warning(
            "two records map to one file; keeping the first", extra={"path": relative, "url": article.web_url}
        )
        return
    content = dump_record(article).encode("utf-8")
    plan.rendered += 1
    entry = Entry(hashlib.sha256(content).hexdigest(), article.id)
    plan.entries[relative] = entry
    target = folder / relative
    previous = old.files.get(relative)
    if previous is not None and previous.sha256 == entry.sha256 and target.is_file():
        plan.unchanged += 1
        return
    _make_dirs(target.parent, folder, plan)
    if target.is_dir():
        raise ExportError(f"cannot write {target}: a directory is in the way")
    staged = staging / f"{len(plan.staged)}.md"
    staged.write_bytes(content)
    plan.staged.append((relative, staged))


def _make_dirs(directory: Path, folder: Path, plan: _Plan) -> None:
    """Create ``directory`` (below ``folder``), remembering what was created so a rollback can remove it."""
    missing = []
    while directory != folder and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
        plan.created_dirs.append(path)


def _unstage(plan: _Plan, staging: Path) -> None:
    """Remove the staging directory and every directory this export created that stayed empty."""
    shutil.rmtree(staging, ignore_errors=True)
    for directory in reversed(plan.created_dirs):
        with contextlib.suppress(OSError):
            directory.rmdir()


# ------------------------------------------------------------------------------------ phase 2: commit


def _commit(folder: Path, old: _Manifest, plan: _Plan, prune: bool, stamp: str | None) -> int:
    """Rename staged files into place, prune, write the manifest; returns the number of files removed."""
    new_paths = {target for target, _ in plan.staged} - set(old.files)
    if new_paths:
        _write_manifest(folder, _Manifest(dict(old.files), old.pending | new_paths))
    for target, staged in plan.staged:
        staged.replace(folder / target)
    gone = old.owned() - set(plan.entries)
    files = dict(plan.entries)
    if prune:
        for relative in sorted(gone):
            _remove(folder, relative)
    else:
        files.update({p: old.files.get(p, Entry(None, None)) for p in gone})
    _write_manifest(folder, _Manifest(files, stamp=stamp if prune else None))
    return len(gone) if prune else 0


def _remove(folder: Path, relative: str) -> None:
    """Delete one of our record files, then its month/year directories if that left them empty."""
    path = folder / relative
    path.unlink(missing_ok=True)
    for parent in PurePosixPath(relative).parents:
        if parent == PurePosixPath("."):
            break
        try:
            (folder / parent).rmdir()
        except OSError:  # not empty (other records, a user's file) or already gone
            break


# ------------------------------------------------------------------------------------------ export


def _prepare(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create export folder {folder}: {e.strerror or e}") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"export folder {folder} is not writable")


def export_records(
    articles: Iterable[Article], folder: Path, *, prune: bool = True, stamp: str | None = None
) -> ExportSummary:
    """Make ``folder`` hold exactly one record file per article (module docstring: layout and guarantees).

    Only new or changed files are written. With ``prune``, files this exporter wrote earlier for records
    not in ``articles`` are removed; without it they are kept (and still owned, for a later prune).
    ``stamp`` names the state ``articles`` come from (selection included): when the manifest holds the
    same stamp and every file it lists is in place, ``articles`` is not even iterated — a lazy iterable
    then loads nothing. It must change whenever any record could read differently; read it before the
    articles, so a change made during the export is seen by the next one.
    Raises :class:`ExportError` when the folder is unusable or another export holds its lock; on an error
    the previous export is left as it was.
    """
    started = time.perf_counter()
    folder = Path(folder)
    _prepare(folder)
    with export_lock(folder):
        old = _read_manifest(folder)
        if _up_to_date(folder, old, stamp):
            return ExportSummary(0, len(old.files), 0, len(old.files))
        staging = folder / STAGING_NAME
        plan = _Plan()
        try:
            shutil.rmtree(staging, ignore_errors=True)  # left over by a crashed export
            staging.mkdir()
            _stage(articles, folder, old, staging, plan)
            removed = _commit(folder, old, plan, prune, stamp)
        except OSError as e:
            raise ExportError(_os_message(folder, e)) from e
        finally:
            _unstage(plan, staging)
    summary = ExportSummary(len(plan.staged), plan.unchanged, removed, len(plan.entries), plan.rendered)
    duration_ms = round((time.perf_counter() - started) * 1000)
    log.info(
        "exported records", extra={"folder": str(folder), "duration_ms": duration_ms, **summary_dict(summary)}
    )
    return summary


def _up_to_date(folder: Path, old: _Manifest, stamp: str | None) -> bool:
    """Whether the last export was made from the state ``stamp`` names, finished (nothing pending) and
    left every file in place (a record file removed by hand is restored by a full pass). One ``stat``
    per file costs a small fraction of rendering each record (docs/benchmarks.md)."""
    if stamp is None or old.stamp != stamp or old.pending:
        return False
    return all((folder / relative).is_file() for relative in old.files)


def summary_dict(summary: ExportSummary) -> dict[str, int]:
    return {
        "written": summary.written,
        "unchanged": summary.unchanged,
        "removed": summary.removed,
        "total": summary.total,
    }


def _os_message(folder: Path, error: OSError) -> str:
    where = error.filename or folder
    if error.errno == errno.ENOSPC:
        return f"export to {folder} stopped: the disk is full"
    return f"export to {folder} failed at {where}: {error.strerror or error}"
