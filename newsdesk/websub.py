"""WebSub (W3C Recommendation, 2018-01-23): newsdesk as a subscriber to its sources' hubs and as a
publisher that pings its own hub.

Subscriber, driven by :meth:`WebSub.tend` once per desk loop step::

    feed source not looked at yet ─► GET the feed, discover_hubs ─► no hub: state "none" (again daily)
                                                  │ a hub
                                                  ▼
    POST hub: mode=subscribe, topic, callback, secret, lease ─► 2xx: "requested" │ else: "failed"
                                                  ▼                              (polled as usual,
    hub GETs the callback: mode=subscribe, our topic, row requested/active        retried hourly)
      ─► echo hub.challenge, "active", lease_expires_at = now + hub.lease_seconds
    hub POSTs the callback: X-Hub-Signature = HMAC(secret, body) ─► ingest the feed document at once,
      through the same Ingestor as a poll (a bad or missing signature: 2xx, body ignored — §8)
    an active lease ending within RENEW_MARGIN ─► subscribe again (same callback, new secret)
    the source removed (row gone with it) ─► POST hub: mode=unsubscribe, best effort (§5.1)
      ─► hub GETs the callback: mode=unsubscribe, a key we no longer hold ─► echo hub.challenge
      ─► a later push to that key: 410 Gone (the hub may drop the subscription on it)

Polling goes on underneath: a source with an active, unexpired lease is polled at most every
SUBSCRIBED_POLL_S (pushes carry its news); any other source keeps its own schedule, so a hub that fails,
denies or lets a lease lapse costs nothing but the push.

Publisher: when ``websub_hub`` is set, the feeds newsdesk writes and serves declare it (rel="hub"), and
:meth:`WebSub.tend` sends ``hub.mode=publish`` for each feed URL when the published records changed.

Callbacks are ``{public_url}/api/v1/websub/{key}`` with a random key per subscription, so a stranger
can neither guess one nor learn which source it belongs to. Hubs are reached through the fetcher's SSRF
guard (a hub named in a feed is not trusted to point inside the network, unless the source may).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from .errors import NewsdeskError
from .fetch.client import Fetcher
from .fetch.policy import FetchResult
from .fetch.ssrf import parse_networks, system_resolver
from .fetch.transport import CONNECT_RULES, ConnectRules, GuardedBackend, build_transport, parse_override
from .ingestor import Ingestor, fetch_policy
from .model import Source, now, utc
from .sources.feeds import discover_hubs
from .stages import pool_view

if TYPE_CHECKING:
    from .app import Newsdesk

log = logging.getLogger(__name__)
_INGESTING = threading.Lock()

CALLBACK_PATH = "/api/v1/websub/"
RENEW_MARGIN = timedelta(hours=1)  # renew this long before a lease ends (leases are days; hubs answer in s)
SUBSCRIBED_POLL_S = 86_400.0  # a pushed source is still polled daily: a hub may drop a subscription silently
RECHECK = {  # how long each state waits before the source's feed is looked at (and subscribed) again
    "none": timedelta(days=1),  # a feed may start declaring a hub
    "failed": timedelta(hours=1),  # the hub was down or refused the request
    "denied": timedelta(days=1),
    "requested": timedelta(hours=1),  # no verification came: ask again
}
CHECKS_PER_STEP = 10  # feeds looked at per desk step, so a desk with 1,000 new sources is not held up
HUB_TIMEOUT_S = 10.0
RENEW_RETRY = timedelta(
    minutes=10
)  # a renewal the hub accepted but has not verified yet: asked again after this
CALLBACK_KEY_BYTES = 24  # 192 bits: the callback URL is the only credential a hub presents
SECRET_BYTES = 32  # hub.secret: the spec caps it at 200 bytes; 256 bits of HMAC key
SIGNATURE_METHODS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}  # W3C WebSub §8 lists these four
MAX_LEASE_S = 365 * 86_400  # a hub's lease above this is read as this (a typo'd lease must still renew)


class Gone(LookupError):
    """A push to a callback key we do not hold: its source was removed (or it was never ours)."""


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature: method=hex`` is the HMAC of ``body`` under ``secret`` (§8)."""
    method, _, digest = (header or "").partition("=")
    algorithm = SIGNATURE_METHODS.get(method.strip().lower())
    if algorithm is None or not digest:
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


class WebSub:
    """Subscriptions of one desk, and its publisher pings. One per process; holds only the last
    change stamp it pinged for."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd
        self._pinged: tuple[Any, ...] | None = None

    # --------------------------------------------------------------------------- the desk's step

    def tend(self, due: Sequence[Source]) -> list[Source]:
        """Look for hubs, subscribe, renew leases and ping our hub as needed; return those of ``due``
        to poll now (a source with a live subscription waits SUBSCRIBED_POLL_S between polls)."""
        if not (self.nd.settings.public_url or self.nd.settings.websub_hub):
            return list(due)  # WebSub is off: not even a query
        try:
            asyncio.run(self._tend())
        except NewsdeskError as error:  # WebSub must never stop the polling underneath it
            log.warning("websub step failed", extra={"error": str(error)})
        return self.to_poll(due)

    async def _tend(self) -> None:
        settings = self.nd.settings
        if settings.public_url:
            at = now()
            cutoffs = {state: at - wait for state, wait in RECHECK.items()}
            store = self.nd.store
            fresh = [store.get_source(i) for i in store.websub_to_check(cutoffs, CHECKS_PER_STEP)]
            renewals = [  # skipping those asked a moment ago: the hub's verification is on its way
                (store.get_source(int(r["source_id"])), str(r["hub"]), str(r["topic"]))
                for r in store.websub_expiring(at + RENEW_MARGIN)[:CHECKS_PER_STEP]
                if r["requested_at"] is None or utc(r["requested_at"]) <= at - RENEW_RETRY
            ]
            # side by side: one slow feed or hub must not hold the step for the others' timeouts
            await asyncio.gather(*(self.check(s) for s in fresh), *(self.subscribe(*r) for r in renewals))
        if settings.websub_hub:
            await self._ping_if_changed()

    def to_poll(self, due: Sequence[Source]) -> list[Source]:
        if not due:
            return []
        live = self._live_subscriptions()
        if not live:
            return list(due)
        wait = timedelta(seconds=SUBSCRIBED_POLL_S)
        at = now()
        return [s for s in due if s.id not in live or _polled_before(s, at - wait)]

    def _live_subscriptions(self) -> set[int]:
        at = now()
        return {
            int(r["source_id"])
            for r in self.nd.store.websub_subscriptions()
            if r["state"] == "active"
            and r["lease_expires_at"] is not None
            and utc(r["lease_expires_at"]) > at
        }

    # ------------------------------------------------------------------------------- subscribing

    async def check(self, source: Source) -> None:
        """Fetch the source's feed, find its hubs and subscribe to the first; a feed without one is
        remembered as such (looked at again after RECHECK["none"])."""
        assert source.id is not None
        try:
            async with Fetcher(fetch_policy(self.nd.settings, self.nd.resolve)) as fetcher:
                result = await fetcher.get(source.url, allow_private=source.allow_loopback, expect="feed")
        except NewsdeskError as error:
            self._save(source.id, state="failed", error=f"feed: {error}")
            return
        hubs, topic = discover_hubs(result.content, result.url, link_header=result.headers.get("link", ""))
        if not hubs:
            self._save(source.id, state="none", hub=None, topic=None, error=None)
            return
        await self.subscribe(source, hubs[0], topic)

    async def subscribe(self, source: Source, hub: str, topic: str) -> bool:
        """Ask ``hub`` for a subscription to ``topic`` (§5.1); whether the hub accepted the request.
        A new subscription becomes active only when the hub verifies our intent at the callback. A
        renewal keeps the callback, the secret and the active state meanwhile: pushes the hub signs
        with the secret it has stay valid until it verifies the renewal."""
        assert source.id is not None
        settings = self.nd.settings
        row = self.nd.store.websub_subscription(source.id)
        renewing = row is not None and row["state"] == "active" and (row["hub"], row["topic"]) == (hub, topic)
        key = str(row["callback_key"]) if row else secrets.token_urlsafe(CALLBACK_KEY_BYTES)
        secret = str(row["secret"]) if row is not None and renewing else secrets.token_hex(SECRET_BYTES)
        form = {
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.callback": callback_url(settings.public_url, key),
            "hub.secret": secret,
            "hub.lease_seconds": str(settings.websub_lease_s),
        }
        # The row (with the secret) is written first: the hub may verify before its answer reaches us.
        values: dict[str, Any] = {
            "hub": hub,
            "topic": topic,
            "callback_key": key,
            "secret": secret,
            "requested_at": now(),
            "error": None,
        }
        self._save(source.id, **values, **({} if renewing else {"state": "requested"}))
        error = await self._post_hub(hub, form, allow_private=source.allow_loopback)
        if error is not None:
            self._save(source.id, state="failed", error=error)
            log.info("websub subscribe failed", extra={"source_id": source.id, "hub": hub, "error": error})
            return False
        return True

    def unsubscribe(self, source: Source, row: Mapping[str, Any] | None) -> str | None:
        """Ask the hub of a removed source to stop pushing (§5.1, ``hub.mode=unsubscribe``) when its
        subscription was requested or active; None when that went through or there was nothing to ask,
        else what went wrong (logged). Best effort: the source is gone either way, and the hub's
        verification then finds a key we no longer hold, which :meth:`verify` confirms."""
        settings = self.nd.settings
        if row is None or row["state"] not in ("requested", "active") or not settings.public_url:
            return None
        if not row["hub"] or not row["topic"]:
            return None
        form = {
            "hub.mode": "unsubscribe",
            "hub.topic": str(row["topic"]),
            "hub.callback": callback_url(settings.public_url, str(row["callback_key"])),
        }
        error = asyncio.run(self._post_hub(str(row["hub"]), form, allow_private=source.allow_loopback))
        extra = {"source_id": source.id, "hub": row["hub"], "error": error}
        if error is None:
            log.info("websub unsubscribe sent", extra=extra)
        else:
            log.warning("websub unsubscribe failed", extra=extra)
        return error

    def _save(self, source_id: int, **values: Any) -> None:
        """Write the row; a new row gets a callback key and secret (unused until a subscription)."""
        values.setdefault("checked_at", now())
        if self.nd.store.websub_subscription(source_id) is None:
            values.setdefault("callback_key", secrets.token_urlsafe(CALLBACK_KEY_BYTES))
            values.setdefault("secret", secrets.token_hex(SECRET_BYTES))
        self.nd.store.save_websub(source_id, **values)

    async def _post_hub(self, hub: str, form: Mapping[str, str], *, allow_private: bool) -> str | None:
        """POST ``form`` to ``hub`` through the SSRF guard; None on a 2xx, else what went wrong."""
        settings = self.nd.settings
        rules = ConnectRules(settings.allow_private_networks or allow_private, parse_networks(()))
        overrides = dict(parse_override(host, target) for host, target in self.nd.resolve.items())
        backend = GuardedBackend(overrides, system_resolver)
        transport = build_transport(concurrency=2, http2=False, backend=backend)
        token = CONNECT_RULES.set(rules)
        try:
            async with httpx.AsyncClient(
                transport=transport, timeout=HUB_TIMEOUT_S, trust_env=False
            ) as client:
                answer = await client.post(hub, data=dict(form), headers={"User-Agent": settings.user_agent})
        except (httpx.HTTPError, NewsdeskError, OSError) as error:
            return f"hub unreachable: {type(error).__name__}: {error}"
        finally:
            CONNECT_RULES.reset(token)
        if not 200 <= answer.status_code < 300:
            return f"hub answered {answer.status_code}: {answer.text[:200]}"
        return None

    # ------------------------------------------------------------------------------ the callback

    def verify(self, key: str, params: Mapping[str, str]) -> str | None:
        """The verification of intent (§5.3): the challenge to echo when the hub confirms a
        subscription we asked for, or an unsubscribe of a key we no longer hold (a removed source's:
        we do want it gone), else None (the caller answers 404). A denial (§5.2) is recorded."""
        row = self.nd.store.websub_by_key(key)
        mode = params.get("hub.mode", "")
        if row is None:  # an unsubscribe of a key we dropped is confirmed; anything else is not ours
            challenge = params.get("hub.challenge", "")
            return challenge if mode == "unsubscribe" and challenge else None
        if mode == "denied" and params.get("hub.topic") == row["topic"]:
            self.nd.store.save_websub(
                int(row["source_id"]),
                state="denied",
                checked_at=now(),
                error=f"denied: {params.get('hub.reason', '')}"[:500],
            )
            return ""
        challenge = params.get("hub.challenge", "")
        wanted = mode == "subscribe" and row["state"] in ("requested", "active")
        if not wanted or params.get("hub.topic") != row["topic"] or not challenge:
            return None  # an unsubscribe we never asked for, another topic: not confirmed
        lease = _lease(params.get("hub.lease_seconds"), row["lease_s"] or self.nd.settings.websub_lease_s)
        self.nd.store.save_websub(
            int(row["source_id"]),
            state="active",
            lease_s=lease,
            lease_expires_at=now() + timedelta(seconds=lease),
            error=None,
        )
        log.info("websub subscription verified", extra={"source_id": row["source_id"], "lease_s": lease})
        return challenge

    def accept(self, key: str, body: bytes, signature: str | None) -> dict[str, Any] | None:
        """The subscription a push may be ingested for: known key and a valid signature; else None.
        A key we do not hold (a removed source's) raises :class:`Gone` (410: the hub may drop the
        subscription, §8); a key of ours with no subscription raises LookupError (404)."""
        row = self.nd.store.websub_by_key(key)
        if row is None:
            raise Gone(key)
        if row["state"] not in ("active", "requested"):
            raise LookupError(key)
        if not signature_ok(str(row["secret"]), body, signature):
            log.warning("websub push with a bad signature ignored", extra={"source_id": row["source_id"]})
            return None
        return row

    def ingest_push(self, row: Mapping[str, Any], body: bytes, content_type: str | None) -> int:
        """Store a pushed feed document's entries as a poll of the source would (same parser, same
        decider, same dedupe), then enrich and finish; how many articles are new. Runs in a worker
        thread (a background task of the callback), never on the server's event loop."""
        source = self.nd.store.get_source(int(row["source_id"]))
        self.nd.store.count_websub_push(int(row["id"]))
        with _INGESTING:  # one push at a time per process: enrichment and finishing are single-flight
            return asyncio.run(self._ingest(source, body, content_type))

    async def _ingest(self, source: Source, body: bytes, content_type: str | None) -> int:
        settings = self.nd.settings
        seal = self.nd.key_ring.encrypt if settings.encrypt else None
        async with _Pushed(fetch_policy(settings, self.nd.resolve), source, body, content_type) as fetcher:
            ingestor = Ingestor(settings, self.nd.store, fetcher, pool_view(self.nd), seal=seal)
            summary = await ingestor.run([source])
        if ingestor.new_ids:
            await self.nd.finish_pending()
        log.info("websub push ingested", extra={"source_id": source.id, "new": summary.new})
        return summary.new

    # ------------------------------------------------------------------------------- publishing

    async def _ping_if_changed(self) -> None:
        stamp = self.nd.store.change_stamp()
        if stamp == self._pinged:
            return
        hub = self.nd.settings.websub_hub
        for url in self.feed_urls():
            error = await self._post_hub(hub, {"hub.mode": "publish", "hub.url": url}, allow_private=True)
            if error is not None:  # retried at the next change; the hub also re-fetches on its own
                log.warning("websub publish ping failed", extra={"hub": hub, "url": url, "error": error})
        self._pinged = stamp

    def feed_urls(self) -> list[str]:
        """The URLs of newsdesk's feeds of all published records: the API's (under ``public_url``) and
        the feed files' (under ``feeds_base_url``, when ``feeds_dir`` is on)."""
        settings = self.nd.settings
        urls = []
        if settings.public_url:
            urls += [f"{settings.public_url.rstrip('/')}/api/v1/feeds/all.{ext}" for ext in FEED_EXTENSIONS]
        if str(settings.feeds_dir) not in ("", "."):
            urls += [f"{settings.feeds_base_url.rstrip('/')}/all.{ext}" for ext in FEED_EXTENSIONS]
        return urls


FEED_EXTENSIONS = ("rss", "atom", "json")  # the formats both the API and the feed files serve


def callback_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}{CALLBACK_PATH}{key}"


def _lease(given: str | None, asked: int) -> int:
    """The hub's lease (§5.3: it decides) when it is a positive number, else what we asked for."""
    with contextlib.suppress(TypeError, ValueError):
        value = int(given or "")
        if value > 0:
            return min(value, MAX_LEASE_S)
    return asked


def _polled_before(source: Source, cutoff: datetime) -> bool:
    last = source.health.last_polled_at
    return last is None or utc(last) < cutoff


class _Pushed(Fetcher):
    """A fetcher that answers the source's own URL once with the pushed body (keeping the source's
    validators, so the next poll is still conditional) and fetches everything else — the entries'
    pages — as usual. This is what makes a push take exactly the path of a poll."""

    def __init__(self, policy: Any, source: Source, body: bytes, content_type: str | None) -> None:
        super().__init__(policy)
        self._source = source
        self._body = body
        self._content_type = content_type or "application/xml"
        self._served = False

    async def get(self, url: str, **kw: Any) -> FetchResult:
        if url != self._source.url or self._served:
            return await super().get(url, **kw)
        self._served = True
        h = self._source.health
        return FetchResult(
            url=url,
            original_url=url,
            status=200,
            headers={"content-type": self._content_type},
            content=self._body,
            text=None,
            encoding=None,
            content_type=self._content_type,
            etag=h.etag,
            last_modified=h.last_modified,
            not_modified=False,
            redirects=(),
            elapsed_ms=0.0,
            max_age=None,
            retry_after=None,
        )
