"""Email digests: a saved search's unmailed alerts, hourly, daily or weekly, over SMTP.

    due_digests (digest != off, has an email, its period passed since the last one, unmailed alerts)
      ─► render digest.j2 twice (plain text, HTML) ─► one multipart/alternative message
      ─► SMTP: EHLO ─► STARTTLS (required when smtp_starttls) ─► AUTH (when smtp_user) ─► send
      ─► the alerts are marked mailed and the search's clock restarts (one transaction)

A send that fails marks nothing, so the next due check sends the same alerts again. Each email carries
an unsubscribe link (and RFC 8058 ``List-Unsubscribe`` headers) with a token signed by a secret the store
keeps (``meta``), so it works without signing in and cannot be forged for another search.
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import secrets
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import NewsdeskError
from ..model import now, utc
from ..store import Store

if TYPE_CHECKING:  # the templates load with the first digest sent, not with every run's alert matching
    import jinja2

PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
MAX_ALERTS = 100  # per email; the rest go in the next one
SMTP_TIMEOUT_S = 30.0
# RFC 5322's line limit (998) rather than the package's 78: folding a List-Unsubscribe URL longer than 78
# characters turned it into an RFC 2047 encoded word that mail clients do not read as a link (test_alerts).
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)
SECRET_KEY = "alerts_unsubscribe_secret"  # the meta row holding the signing secret
TEMPLATES = Path(__file__).with_name("templates")


class MailError(NewsdeskError):
    """The SMTP server could not be reached or refused the message; nothing was marked as sent."""

    kind = "mail"


@dataclass(frozen=True, slots=True)
class Mailer:
    """Where and how digests are sent (the ``smtp_*`` settings)."""

    host: str
    port: int
    user: str
    password: str
    starttls: bool
    sender: str
    ca_file: Path | None = None  # trust this CA (a private relay, a test) instead of the system's

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        ca = settings.smtp_ca_file
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.mail_from,
            ca if str(ca) not in ("", ".") else None,
        )

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise MailError(
                            f"{self.host}:{self.port} does not offer STARTTLS (smtp_starttls is on)"
                        )
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as e:
            raise MailError(f"sending mail via {self.host}:{self.port} failed: {e}") from e


def unsubscribe_token(store: Store, search_id: int) -> str:
    """``<id>.<hex HMAC-SHA256(secret, "unsubscribe:<id>")>``."""
    mac = hmac.new(_secret(store), f"unsubscribe:{search_id}".encode(), hashlib.sha256).hexdigest()
    return f"{search_id}.{mac}"


def check_unsubscribe_token(store: Store, token: str) -> int | None:
    """The saved search a token names, or None when it is not one this store signed."""
    head, _, _ = token.partition(".")
    if not head.isdigit() or len(head) > 18:
        return None
    return int(head) if hmac.compare_digest(unsubscribe_token(store, int(head)), token) else None


def _secret(store: Store) -> bytes:
    value = store.get_meta(SECRET_KEY)
    if not value:
        store.set_meta(SECRET_KEY, secrets.token_hex(32))
        value = store.get_meta(SECRET_KEY)  # a concurrent first use: both read the row that won
    return str(value).encode()


def is_due(saved: dict[str, Any], at: datetime) -> bool:
    """A digest is due when it is on, has an address, and its period has passed since the last one."""
    period = PERIODS.get(saved["digest"])
    if period is None or not saved.get("email"):
        return False
    last = saved.get("last_digest_at")
    return last is None or utc(last) + period <= at


def render(
    saved: dict[str, Any], alerts: Sequence[dict[str, Any]], *, base_url: str, unsubscribe: str
) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one digest, from the one template."""
    subject = f"[newsdesk] {saved['name']}: {len(alerts)} new"
    items = [a | {"link": f"{base_url.rstrip('/')}/articles/{a['article_id']}"} for a in alerts]
    values = {"search": saved, "alerts": items, "subject": subject, "unsubscribe": unsubscribe}
    text = _environment(html=False).get_template("digest.j2").render(values, html=False)
    page = _environment(html=True).get_template("digest.j2").render(values, html=True)
    return subject, text, page


def _environment(*, html: bool) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def send_due(
    store: Store, settings: Settings, *, at: datetime | None = None, force: bool = False
) -> dict[str, int]:
    """Send every due digest (``force``: every digest with unmailed alerts, due or not); counts."""
    at = at or now()
    if not settings.smtp_host:
        return {"digests": 0, "alerts_mailed": 0}
    mailer = Mailer.from_settings(settings)
    counts = {"digests": 0, "alerts_mailed": 0}
    for saved in store.list_saved_searches():
        if saved["digest"] not in PERIODS or not saved.get("email") or not (force or is_due(saved, at)):
            continue
        alerts = list(reversed(store.list_alerts(search_id=saved["id"], unmailed=True, limit=MAX_ALERTS)))
        if not alerts:
            continue
        mailer.send(_message(store, settings, saved, alerts))
        store.finish_digest(saved["id"], [a["id"] for a in alerts], at)
        counts["digests"] += 1
        counts["alerts_mailed"] += len(alerts)
    return counts


def _message(
    store: Store, settings: Settings, saved: dict[str, Any], alerts: list[dict[str, Any]]
) -> EmailMessage:
    link = f"{public_base(settings)}/alerts/unsubscribe?token={unsubscribe_token(store, saved['id'])}"
    subject, text, page = render(saved, alerts, base_url=public_base(settings), unsubscribe=link)
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = saved["email"]
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: a POST to the link
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    return message


def public_base(settings: Settings) -> str:
    """Where a reader's mail client reaches the UI: ``public_url``, else the address ``serve`` listens on."""
    return (settings.public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
