"""robots.txt, read the way RFC 9309 says, fetched once per origin and cached.

Parsing (groups, user-agent lines, Allow/Disallow, Crawl-delay) is ``urllib.robotparser``'s. Matching is
ours, because the stdlib applies the *first* rule that matches, while RFC 9309 §2.2.2 says the *longest*
match wins (Allow on a tie) and that ``*`` and a final ``$`` are wildcards — with the stdlib,
``Allow: /`` followed by ``Disallow: /private`` would let us into ``/private``.

What a fetch outcome means (RFC 9309 §2.3.1):

* 2xx — the rules in the body (the first :data:`ROBOTS_MAX_BYTES`);
* 4xx — "unavailable": no rules, everything allowed (429 excepted: it is a rate limit, treated as 5xx);
* 5xx, 429, timeout, unreachable — "unreachable": everything disallowed, retried after
  :data:`ROBOTS_ERROR_TTL` rather than the full :data:`ROBOTS_TTL`.

:class:`RobotsCache` keeps one :class:`RobotsRules` per origin and makes concurrent requests to a new
origin wait for a single robots.txt fetch instead of each fetching it. It knows nothing of the store,
but it can be seeded with rules an earlier process kept and hand back the rules it loaded itself, as
:class:`KeptRules` (the rules as JSON, the expiry on the wall clock), so that the run's glue
(``stages.py``) keeps them in the store between runs: a cron poll every 10 minutes then asks a host
for robots.txt once in its RFC 9309 lifetime, not at every run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
import urllib.robotparser
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

# RFC 9309 §2.4: a cached robots.txt SHOULD NOT be used for more than 24 hours.
ROBOTS_TTL = 24 * 3600.0
# How long an unreachable robots.txt keeps an origin closed before we ask again. RFC 9309 leaves the
# retry interval open; 10 minutes matches a typical poll interval, so a blip costs one missed poll.
ROBOTS_ERROR_TTL = 600.0
# RFC 9309 §2.5: crawlers MUST parse at least the first 500 KiB.
ROBOTS_MAX_BYTES = 500 * 1024
# Characters kept literal when paths and patterns are brought to one percent-encoding (RFC 3986
# reserved characters plus the two robots.txt wildcards).
_PATH_SAFE = "/?=&;:@+,!$*'()~"
_RULE_LINE = re.compile(r"\s*(?:dis)?allow\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class RobotsRules:
    """The rules of one robots.txt group for one user agent: ``(pattern, allow)`` pairs."""

    rules: tuple[tuple[str, bool], ...] = ()
    disallow_all: bool = False
    crawl_delay: float | None = None
    reason: str = "rules"

    def can_fetch(self, url: str) -> bool:
        """Whether ``url`` may be fetched; ``/robots.txt`` itself always may."""
        parts = urlsplit(url)
        path = _normalize(parts.path or "/") + (f"?{_normalize(parts.query)}" if parts.query else "")
        if parts.path == "/robots.txt":
            return True
        if self.disallow_all:
            return False
        return _decide(self.rules, path)


def _normalize(path: str) -> str:
    return quote(unquote(path), safe=_PATH_SAFE)


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return re.compile(regex + (r"\Z" if anchored else ""))


def _decide(rules: tuple[tuple[str, bool], ...], path: str) -> bool:
    """RFC 9309 §2.2.2: the longest matching pattern decides; Allow wins a tie; no match allows."""
    best_length, allowed = -1, True
    for pattern, allow in rules:
        if _pattern_regex(pattern).match(path) is None:
            continue
        if len(pattern) > best_length or (len(pattern) == best_length and allow):
            best_length, allowed = len(pattern), allow
    return allowed


def _protect_query(line: str) -> str:
    """Escape ``?`` in rule paths: the stdlib round-trips them through urlparse, which drops an empty
    query, so ``Disallow: /search?`` would silently become ``Disallow: /search``. Escaped twice because
    the stdlib unquotes the value once before that round trip; :func:`_normalize` restores the ``?``."""
    return line.replace("?", "%253F") if _RULE_LINE.match(line) else line


def parse_robots(text: str, user_agent: str) -> RobotsRules:
    """The rules ``text`` sets for ``user_agent`` (its product token decides, as in the stdlib)."""
    parser: Any = urllib.robotparser.RobotFileParser()  # Any: typeshed omits entries/default_entry
    parser.parse([_protect_query(line) for line in text.splitlines()])
    entry = next((e for e in parser.entries if e.applies_to(user_agent)), parser.default_entry)
    if entry is None:
        return RobotsRules(reason="no group for this agent")
    # The stdlib stores each path through quote(): undo that so our own normalisation applies.
    rules = tuple((_normalize(unquote(line.path)), bool(line.allowance)) for line in entry.rulelines)
    delay = float(entry.delay) if entry.delay is not None else None
    return RobotsRules(rules=tuple(r for r in rules if r[0]), crawl_delay=delay)


def rules_from_response(status: int | None, text: str | None, user_agent: str) -> tuple[RobotsRules, bool]:
    """Map a robots.txt fetch outcome to rules, and whether it is an error (short cache life).

    ``status`` is ``None`` when no response arrived (timeout, refused connection, DNS failure).
    """
    if status is not None and 200 <= status < 300:
        return parse_robots(text or "", user_agent), False
    if status is not None and 400 <= status < 500 and status != 429:
        return RobotsRules(reason=f"robots.txt unavailable (HTTP {status}): all allowed"), False
    what = f"HTTP {status}" if status is not None else "unreachable"
    return RobotsRules(disallow_all=True, reason=f"robots.txt unreachable ({what}): all disallowed"), True


def robots_url(url: str) -> str:
    """The robots.txt URL governing ``url`` (same scheme, host and port)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/robots.txt"


RobotsLoader = Callable[[str], Awaitable[tuple[RobotsRules, bool]]]
"""Fetches a robots.txt URL and returns :func:`rules_from_response`'s result."""


def rules_to_json(rules: RobotsRules) -> str:
    """``rules`` as JSON text, the way :class:`KeptRules` carries them between processes."""
    fields = {
        "rules": [[pattern, allow] for pattern, allow in rules.rules],
        "disallow_all": rules.disallow_all,
        "crawl_delay": rules.crawl_delay,
        "reason": rules.reason,
    }
    return json.dumps(fields, separators=(",", ":"))


def rules_from_json(text: str) -> RobotsRules | None:
    """The rules :func:`rules_to_json` wrote, or None for text it did not write (a damaged row, another
    version's format): the origin's robots.txt is then fetched again, never guessed at."""
    try:
        fields = json.loads(text)
        delay = fields["crawl_delay"]
        return RobotsRules(
            rules=tuple((str(pattern), bool(allow)) for pattern, allow in fields["rules"]),
            disallow_all=bool(fields["disallow_all"]),
            crawl_delay=float(delay) if delay is not None else None,
            reason=str(fields["reason"]),
        )
    except (ValueError, TypeError, KeyError):  # JSONDecodeError is a ValueError
        return None


class KeptRules(NamedTuple):
    """One origin's rules as kept between processes: what :meth:`RobotsCache.seed` takes and
    :meth:`RobotsCache.take_loaded` hands back (the store's ``robots_rules`` rows)."""

    url: str  # the robots.txt URL (robots_url)
    rules: str  # rules_to_json
    expires_at: datetime  # wall clock, UTC


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Cached:
    rules: RobotsRules
    expires: float


class RobotsCache:
    """Per-origin robots.txt rules with expiry; one fetch per origin even under concurrency.

    Expiry runs on ``clock`` (monotonic: a wall clock set back must not stretch a lifetime); ``wall``
    is used only where rules cross to another process (:meth:`seed`, :meth:`take_loaded`).
    """

    def __init__(
        self,
        *,
        ttl: float = ROBOTS_TTL,
        error_ttl: float = ROBOTS_ERROR_TTL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self._ttl = ttl
        self._error_ttl = error_ttl
        self._clock = clock
        self._wall = wall
        self._entries: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loaded: dict[str, None] = {}  # robots.txt URLs loaded since made or last taken, in order
        self.seeded = False  # seed() was called (the desk's kept cache is seeded at its first cycle only)

    def cached(self, url: str) -> RobotsRules | None:
        """The unexpired rules for ``url``'s origin, if any."""
        entry = self._entries.get(robots_url(url))
        return entry.rules if entry is not None and entry.expires > self._clock() else None

    async def rules_for(self, url: str, load: RobotsLoader) -> RobotsRules:
        """The rules for ``url``'s origin, calling ``load(robots_url)`` when none are cached."""
        key = robots_url(url)
        cached = self.cached(url)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self.cached(url)  # another request may have loaded it while we waited
            if cached is not None:
                return cached
            rules, is_error = await load(key)
            life = self._error_ttl if is_error else self._ttl
            self._entries[key] = _Cached(rules, self._clock() + life)
            self._loaded[key] = None
            return rules

    def seed(self, kept: Iterable[tuple[str, str, datetime]]) -> None:
        """Take rules an earlier process kept (:class:`KeptRules`), their wall-clock expiry turned into
        this cache's clock. Rules this cache holds already win; rules past their expiry, or whose JSON
        cannot be read, are left out (the origin is asked again). No rule is trusted for more than
        ``ttl`` from now, whatever a row says (RFC 9309 §2.4's 24 hours; a clock that was wrong when
        the row was written). Seeded rules are never handed back by :meth:`take_loaded`."""
        clock, wall = self._clock(), self._wall()
        for url, text, expires_at in kept:
            left = min((expires_at - wall).total_seconds(), self._ttl)
            rules = rules_from_json(text) if left > 0 else None
            if rules is not None:
                self._entries.setdefault(url, _Cached(rules, clock + left))
        self.seeded = True

    def take_loaded(self) -> list[KeptRules]:
        """The rules this cache loaded itself since it was made or last taken from, with their expiry
        on the wall clock, to keep for the next process; taking them empties the list, so a desk that
        keeps one cache across cycles hands each load back once."""
        clock, wall = self._clock(), self._wall()
        taken = [
            KeptRules(url, rules_to_json(entry.rules), wall + timedelta(seconds=entry.expires - clock))
            for url in self._loaded
            if (entry := self._entries.get(url)) is not None and entry.expires > clock
        ]
        self._loaded.clear()
        return taken
