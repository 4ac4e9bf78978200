"""Headline cleaning: remove the site name publishers glue onto page titles.

``<title>`` and often ``og:title`` carry the site's name as a suffix (``"Fintech grows - EJ Insight"``,
``"Markets rally | Reuters"``) or a prefix (``"EJ Insight: Fintech grows"``). A record's title must be the
headline alone. We only strip a segment when it *is* a site name — the page's declared names (og:site_name,
JSON-LD publisher, application-name) or its registered domain (``ejinsight.com`` → ``EJ Insight`` matches
after normalisation) — so a headline that merely contains a separator (``"Wi-Fi 7 | What changes"``) keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A separator between headline and site name. Dashes, slashes and the like need spaces around them so
# "Wi-Fi" or "24/7" are not split; a pipe is a separator even without spaces.
_SEP = r"(?:\s+(?:[-–—•·»«/~:]|::)\s+|\s*\|\s*)"
_SUFFIX = re.compile(rf"^(?P<head>.+){_SEP}(?P<tail>.+?)$", re.DOTALL)
_PREFIX = re.compile(rf"^(?P<head>.+?)(?:{_SEP}|:\s+)(?P<rest>.+)$", re.DOTALL)
_NOT_ALNUM = re.compile(r"[\W_]+")
_WS = re.compile(r"\s+")
MAX_STRIPS = 3
"""Site-name segments removed at most (``"Headline | Section | Site"`` needs one, prefix + suffix two)."""


def site_names(names: Iterable[str | None], domain: str) -> frozenset[str]:
    """Normalised names a title segment is compared with: the declared names, the registered domain
    (``ejinsight.com``) and its first label (``ejinsight``)."""
    candidates = [*names, domain, domain.split(".")[0]]
    return frozenset(n for c in candidates if c and (n := _normalise(c)))


def clean_title(title: str | None, names: frozenset[str]) -> str | None:
    """``title`` with whitespace collapsed and site-name prefixes/suffixes removed; ``None`` if empty.

    Never returns an empty string for a non-empty title: if stripping would leave nothing (the title *is*
    the site name) the collapsed title is kept.
    """
    if title is None:
        return None
    title = _WS.sub(" ", title).strip()
    if not title:
        return None
    for _ in range(MAX_STRIPS):
        stripped = _strip_once(title, names)
        if stripped == title:
            break
        title = stripped
    return title


def _strip_once(title: str, names: frozenset[str]) -> str:
    suffix = _SUFFIX.match(title)
    if suffix and _normalise(suffix["tail"]) in names and suffix["head"].strip():
        return suffix["head"].strip()
    prefix = _PREFIX.match(title)
    if prefix and _normalise(prefix["head"]) in names and prefix["rest"].strip():
        return prefix["rest"].strip()
    return title


def _normalise(name: str) -> str:
    """Lower-case letters and digits only: ``"EJ Insight"``, ``"ejinsight"`` and ``"EJInsight"`` meet."""
    name = name.strip().lower().removeprefix("www.").removeprefix("@")
    return _NOT_ALNUM.sub("", name)
