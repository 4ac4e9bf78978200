"""The demo world keeps happening: follow-up articles released on a timeline while the site serves.

``content/timeline/<provider>.yaml`` holds follow-ups in the demo's article format, each with
``after_s`` — seconds after the site started — instead of ``hours_ago``. :class:`Timeline` wakes at each
release time and rebuilds the site's world with the released items dated *after* the world's ``now``
(``hours_ago`` negative), so every article already served keeps its URL, bytes and validators (a
poller's ETag still earns its 304) and only the feeds and pages that gained an item change::

    start ── 8 s ──► MarketWire follow-up ── 16 s ──► Fintech Daily follow-up ── … ──► last one, then idle

:func:`released_docs` is pure (entries and elapsed seconds in, article documents out), so tests check
the schedule without waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsdesk.demo.world import CONTENT_DIR, DemoContentError, World, _read_yaml, build_world

log = logging.getLogger(__name__)

TIMELINE_DIR = CONTENT_DIR / "timeline"
SECONDS_PER_HOUR = 3600.0
# While `newsdesk demo --serve` runs, the demo sources' adaptive poll interval stays in these bounds: the
# follow-ups arrive every 8 s, so a newcomer sees each within ~10 s (loopback polls cost ~ms each).
DEMO_POLL_MIN_S = 3.0
DEMO_POLL_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class Entry:
    """One scheduled follow-up: the provider file it belongs to and its article document."""

    provider: str
    after_s: float
    item: dict[str, Any]


def load_timeline(folder: Path = TIMELINE_DIR) -> tuple[Entry, ...]:
    """The bundled follow-ups, in release order; a missing or negative ``after_s`` is an error."""
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        doc = _read_yaml(path)
        if not isinstance(doc, list):
            raise DemoContentError(f"timeline/{path.name}: expected a list of articles")
        for item in doc:
            after = item.get("after_s") if isinstance(item, dict) else None
            if not isinstance(after, int | float) or after < 0:
                raise DemoContentError(f"timeline/{path.name}: {item!r:.60} needs after_s >= 0")
            entries.append(Entry(path.stem, float(after), item))
    return tuple(sorted(entries, key=lambda e: (e.after_s, e.item.get("id", ""))))


def released_docs(
    base: dict[str, Any], entries: tuple[Entry, ...], elapsed_s: float
) -> dict[str, list[dict[str, Any]]]:
    """The provider documents with every follow-up due by ``elapsed_s`` added, dated after ``now``."""
    docs = {key: list(items or ()) for key, items in base.items()}
    for entry in entries:
        if entry.after_s > elapsed_s:
            break
        item = {k: v for k, v in entry.item.items() if k != "after_s"}
        item["hours_ago"] = -entry.after_s / SECONDS_PER_HOUR
        docs.setdefault(entry.provider, []).append(item)
    return docs


class Timeline:
    """Releases the follow-ups into a running site: calls ``publish(world)`` with each new world.

    ``speed`` scales the schedule (2.0 releases twice as fast); a test passes a large one."""

    def __init__(
        self,
        world_now: Any,
        publish: Callable[[World], None],
        *,
        content_dir: Path = CONTENT_DIR,
        entries: tuple[Entry, ...] | None = None,
        speed: float = 1.0,
    ) -> None:
        self.now = world_now
        self.publish = publish
        self.speed = speed
        self.entries = load_timeline() if entries is None else entries
        self._providers = _read_yaml(content_dir / "providers.yaml")
        self._base = {p.stem: _read_yaml(p) for p in sorted(content_dir.glob("*.yaml"))}
        self._base.pop("providers", None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.released = 0

    def start(self) -> Timeline:
        self._thread = threading.Thread(target=self._run, name="newsdesk-demo-timeline", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        for index, entry in enumerate(self.entries, start=1):
            wait = entry.after_s / self.speed - (time.monotonic() - started)
            if self._stop.wait(max(0.0, wait)):
                return
            self.release(index)

    def release(self, count: int) -> World:
        """Publish the world with the first ``count`` follow-ups released."""
        due = self.entries[count - 1].after_s if count else -1.0
        docs = released_docs(self._base, self.entries[:count], due)
        world = build_world(self.now, self._providers, docs)
        self.publish(world)
        self.released = count
        last = self.entries[count - 1].item.get("title") if count else None
        log.info("demo follow-up released", extra={"released": count, "title": last})
        return world
