"""Canonical URLs: one spelling per article, so the same story seen twice is stored once.

The same page reaches us as ``HTTP://WWW.Example.com:80/a/./b/../c?utm_source=x&b=2&a=1#top`` from one
feed and ``http://www.example.com/a/c?a=1&b=2`` from another. :func:`canonicalize` maps both to the
second form. It only makes changes that cannot alter what a server returns (RFC 3986 §6.2.2 syntax
normalisation) plus the removal of known tracking parameters, which by design do not change the page.
It is idempotent: ``canonicalize(canonicalize(u)) == canonicalize(u)``.

:func:`pick_canonical` decides between the fetched URL and what the page says about itself
(``rel=canonical`` / ``og:url``), and :func:`registered_domain` names the publisher's domain
(``news.bbc.co.uk`` → ``bbc.co.uk``), using the public-suffix snapshot bundled with tldextract — it never
downloads the list.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import idna

if TYPE_CHECKING:
    import tldextract

from newsdesk.errors import FetchError
from newsdesk.longlived import loading
from newsdesk.model import host_problem

# Query parameters that only identify the campaign, click or referrer. Collected from the analytics and
# ad platforms' own documentation (Google Analytics/Ads, Meta, Microsoft Ads, Mailchimp, Instagram,
# Yandex, HubSpot, Marketo, Matomo/Piwik, Alibaba's spm) and the lists that ClearURLs ships. Kept out of
# the formatter: one parameter a line would make a 40-line column of a word list.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid",
        "igshid", "yclid", "_ga", "_gl", "ref_src", "ref_url", "spm", "scm", "_hsenc", "_hsmi",
        "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "twclid", "ttclid", "li_fat_id",
        "s_cid", "icid", "ncid", "ocid", "cmpid", "guccounter", "guce_referrer", "guce_referrer_sig",
    }
)  # fmt: skip
# Whole families: utm_source, utm_medium, …; pk_campaign, pk_kwd (Matomo); mtm_* (Matomo 4); hsa_* (HubSpot).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = frozenset(_UNRESERVED | set(_SUB_DELIMS) | set(":@/"))
_QUERY_PART_SAFE = frozenset(_PATH_SAFE | set("?")) - {"&"}
_QUERY_KEY_SAFE = _QUERY_PART_SAFE - {"="}
_USERINFO_SAFE = frozenset(_UNRESERVED | set(_SUB_DELIMS) | {":"})
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_HEX = frozenset("0123456789abcdefABCDEF")


@functools.cache
def public_suffixes() -> tldextract.TLDExtract:
    """The process's public-suffix reader, made on first use: tldextract imports requests and urllib3,
    which a run whose feeds all answer 304 never needs (the cold CLI's start, docs/benchmarks.md).
    Bundled snapshot only: an empty URL list means it never goes to the network, and no cache_dir means
    it never writes to the user's home either. One for every caller: each reader builds its own trie
    of the list (≈ 0.03 CPU-s and 50,000 objects), and extraction had a second one."""
    import tldextract

    with loading("public suffixes"):  # its trie lives as long as the process (longlived.py)
        extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        extractor("example.com")  # the trie is made on the first call: here, while loading
    return extractor


def _pct_normalize(text: str, safe: frozenset[str]) -> str:
    """Normalise percent-encoding (RFC 3986 §6.2.2.1–2): decode escaped unreserved characters, upper-case
    the remaining escapes, escape every other character not in ``safe`` (UTF-8), and escape a stray ``%``.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        out.append(ch if ch in safe else "".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        i += 1
    return "".join(out)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4: resolve ``.`` and ``..`` segments; ``..`` never climbs above the root."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _canonical_query(query: str) -> str:
    """Drop tracking and empty pairs, normalise each, and sort by key (stable: repeated keys keep order)."""
    pairs: list[tuple[str, str | None]] = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if _is_tracking(_PCT.sub(lambda m: chr(int(m.group(1), 16)), key)):
            continue
        key = _pct_normalize(key, _QUERY_KEY_SAFE)
        pairs.append((key, _pct_normalize(value, _QUERY_PART_SAFE) if sep else None))
    pairs.sort(key=lambda pair: pair[0])
    return "&".join(key if value is None else f"{key}={value}" for key, value in pairs)


def _canonical_host(host: str) -> str:
    """Lower-case ASCII host: IDNA (UTS #46) for names, compressed form for IP literals."""
    host = host.rstrip(".")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return f"[{ip.compressed}]" if ip.version == 6 else str(ip)
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as e:
        raise FetchError(f"invalid host name {host!r}: {e}", kind="invalid-url") from e


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as e:
        raise FetchError(f"malformed URL {url!r}: {e}", url=url, kind="invalid-url") from e
    if not parts.scheme or not parts.hostname:
        raise FetchError(f"not an absolute URL: {url!r}", url=url, kind="invalid-url")
    problem = host_problem(parts.hostname)
    if problem is not None:  # urlsplit takes "exa mple.com"; no server answers to it
        raise FetchError(f"malformed URL {url!r}: {problem}", url=url, kind="invalid-url")
    return parts


def _netloc(parts: SplitResult, scheme: str) -> str:
    hostname = parts.hostname or ""
    host = _canonical_host(f"[{hostname}]" if ":" in hostname else hostname)
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    return f"{_pct_normalize(userinfo, _USERINFO_SAFE)}@{host}" if at else host


@functools.lru_cache(maxsize=4096)
def canonicalize(url: str) -> str:
    """The canonical spelling of an absolute URL (see the module docstring for the rules).

    Raises ``FetchError(kind="invalid-url")`` for a relative or malformed URL. Cached: the ingestor
    looks an entry's URL up in canonical form and the decider then spells the same URL again.
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    path = remove_dot_segments(_pct_normalize(parts.path, _PATH_SAFE)) or "/"
    return urlunsplit((scheme, _netloc(parts, scheme), path, _canonical_query(parts.query), ""))


def host_of(url_or_host: str) -> str:
    """The lower-case host of a URL, or the argument itself (minus any port) when it is a bare host."""
    if "://" in url_or_host:
        try:
            return (urlsplit(url_or_host.strip()).hostname or "").rstrip(".")
        except ValueError:
            return ""
    bare = url_or_host.strip().lower().rstrip(".")
    if bare.startswith("["):
        return bare[1:].partition("]")[0]
    host, _, port = bare.rpartition(":")
    return host if host and port.isdigit() and ":" not in host else bare


@functools.lru_cache(maxsize=4096)
def registered_domain(url_or_host: str) -> str:
    """The publisher's registered domain: one label under the public suffix (``www.ejinsight.com`` →
    ``ejinsight.com``, ``news.bbc.co.uk`` → ``bbc.co.uk``). IP addresses come back as they are; a name under
    no known suffix (``news.example``, ``localhost``) keeps its last two labels.
    """
    host = host_of(url_or_host)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    host = _canonical_host(host) if host else host
    domain = public_suffixes()(host).top_domain_under_public_suffix
    if domain:
        return domain
    return ".".join(host.split(".")[-2:])


def _usable_canonical(candidate: str | None, page: SplitResult, page_url: str) -> str | None:
    """``candidate`` resolved against the page, if it is http(s) on the page's registered domain and not
    a bare home page claimed by an article (a common CMS template bug that would merge every article).
    """
    if not candidate or not candidate.strip():
        return None
    try:
        absolute = urljoin(page_url, candidate.strip())
        parts = _split(absolute)
    except (ValueError, FetchError):
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return None
    if registered_domain(absolute) != registered_domain(page_url):
        return None
    if parts.path in ("", "/") and not parts.query and page.path not in ("", "/"):
        return None
    return absolute


def pick_canonical(page_url: str, rel_canonical: str | None, og_url: str | None) -> str:
    """The URL to store a page under: its ``rel=canonical``, else its ``og:url``, else ``page_url``.

    A page's claim is trusted only on the page's own registered domain (a page cannot make itself the
    canonical copy of someone else's story), and only with an http(s) scheme; a relative claim is
    resolved against ``page_url``. The result is always :func:`canonicalize`-d.
    """
    page = _split(page_url)
    for candidate in (rel_canonical, og_url):
        usable = _usable_canonical(candidate, page, page_url)
        if usable is not None:
            return canonicalize(usable)
    return canonicalize(page_url)
