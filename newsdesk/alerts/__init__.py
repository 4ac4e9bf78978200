"""Saved searches and alerts: an editor's standing queries, their new matches, and email digests.

A saved search belongs to a user (``newsdesk user add NAME --role editor``) and holds a
:class:`~.spec.SearchSpec`. Each finished run matches its new articles against every saved search
(:mod:`.matching`); a match is an alert — listed in the UI and the API until marked seen, sent to
webhooks as event ``alert``, and mailed in the search's digest (:mod:`.digest`) when it has one.
"""

from __future__ import annotations

import builtins
import functools
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NewsdeskError, StorageError
from ..model import now
from .digest import check_unsubscribe_token, send_due
from .spec import DIGESTS, MAX_QUERY, MAX_TOPICS, MODES, SearchSpec

if TYPE_CHECKING:  # numpy and the models load with the first match, not with every CLI command
    from ..app import Newsdesk
    from ..enrich.base import Embedder

__all__ = ["DIGESTS", "MAX_QUERY", "MAX_TOPICS", "MODES", "Alerts", "SearchSpec"]

log = logging.getLogger(__name__)

MAX_NAME = 200  # the column's width
EMAIL = re.compile(
    r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,255}$"
)  # a shape check: the SMTP server has the last word


class Alerts:
    """What the CLI, the API and the UI call for saved searches, alerts and digests."""

    def __init__(self, nd: Newsdesk) -> None:
        self.nd = nd

    def save(
        self, user: str, name: str, query: Mapping[str, Any], *, digest: str = "off", email: str | None = None
    ) -> int:
        """A new saved search for ``user``; every value is checked first and nothing is stored on error."""
        found = self.nd.store.find_user(user)
        if found is None:
            raise NewsdeskError(f"no such user: {user} (newsdesk user add {user} --role editor)")
        spec = SearchSpec.from_dict(query)
        for topic in spec.topics:
            if topic not in {t.name for t in self.nd.taxonomy.topics}:
                raise NewsdeskError(f"unknown topic {topic!r} (not in the taxonomy)")
        name = name.strip()
        if not name or len(name) > MAX_NAME or "\x00" in name:
            raise NewsdeskError(f"a saved search needs a name of 1-{MAX_NAME} characters")
        if digest not in DIGESTS:
            raise NewsdeskError(f"digest must be one of {', '.join(DIGESTS)}, got {digest!r}")
        if email is not None and not EMAIL.match(email):
            raise NewsdeskError(f"not an email address: {email[:100]!r}")
        if digest != "off" and not email:
            raise NewsdeskError("a digest needs an email address")
        return self.nd.store.add_saved_search(
            int(found["id"]), name, spec.as_dict(), digest=digest, email=email
        )

    def list(self, *, user: str | None = None) -> builtins.list[dict[str, Any]]:
        user_id = self._user_id(user) if user else None
        return self.nd.store.list_saved_searches(user_id=user_id)

    def get(self, search_id: int) -> dict[str, Any]:
        """One saved search; :class:`StorageError` for an unknown id."""
        return self.nd.store.get_saved_search(search_id)

    def remove(self, search_id: int) -> None:
        if not self.nd.store.remove_saved_search(search_id):
            raise StorageError(f"no such saved search: {search_id}")

    def alerts(
        self, *, user: str | None = None, search_id: int | None = None, unseen: bool = False, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        user_id = self._user_id(user) if user else None
        if search_id is not None:
            self.nd.store.get_saved_search(search_id)  # an unknown id is an error, not an empty list
        return self.nd.store.list_alerts(search_id=search_id, user_id=user_id, unseen=unseen, limit=limit)

    def mark_seen(self, alert_ids: Sequence[int]) -> int:
        return self.nd.store.mark_alerts(alert_ids, "seen_at", now())

    def unsubscribe_target(self, token: str) -> dict[str, Any] | None:
        """The saved search an unsubscribe link's ``token`` names (the page asks before acting), or None
        for a forged or stale token."""
        search_id = check_unsubscribe_token(self.nd.store, token)
        if search_id is None:
            return None
        try:
            return self.nd.store.get_saved_search(search_id)
        except NewsdeskError:
            return None

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """Turn a search's digest off from the link in its email; an unknown or forged token is refused."""
        search_id = check_unsubscribe_token(self.nd.store, token)
        if search_id is None or not self.nd.store.set_digest(search_id, "off"):
            raise NewsdeskError("this unsubscribe link is not valid (or its saved search was removed)")
        return self.nd.store.get_saved_search(search_id)

    def match(self, ids: Sequence[int]) -> dict[str, Any]:
        """Alerts for a run's new articles (the facade calls this when a run has finished them)."""
        settings = self.nd.settings
        from .matching import match_new

        return match_new(
            self.nd.store,
            ids,
            lambda: _embedder(settings.embed_model, settings.embed_backend, settings.models_dir),
        )

    def send_digests(self, *, force: bool = False) -> dict[str, int]:
        """Send the digests that are due (``force``: all with unmailed alerts)."""
        return send_due(self.nd.store, self.nd.settings, force=force)

    def _user_id(self, user: str) -> int:
        found = self.nd.store.find_user(user)
        if found is None:
            raise StorageError(f"no such user: {user}")
        return int(found["id"])


@functools.cache
def _embedder(model: str, backend: str, models: Path) -> Embedder:
    """Loaded once per process, and only when a semantic saved search meets new articles; from the
    data folder's ``models`` (where ``newsdesk init`` built the ONNX graph), as enrichment does."""
    from ..enrich.embed import load_embedder

    return load_embedder(model, backend, cache_dir=models)


def desk_step(nd: Newsdesk) -> None:
    """The desk's turn for digests: send what is due; a mail failure is logged and retried next turn."""
    if not nd.settings.smtp_host:
        return
    try:
        sent = Alerts(nd).send_digests()
    except NewsdeskError as error:
        log.warning("digests not sent", extra={"error": str(error)})
        return
    if sent["digests"]:
        log.info("digests sent", extra=sent)
