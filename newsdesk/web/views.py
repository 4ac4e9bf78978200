"""The Jinja2 environment and the small formatting helpers templates use.

Autoescaping is on for every template: titles, excerpts and provider names come from third-party feeds
and pages, so they are text, never markup. The one way to show source HTML is the ``source_html`` filter,
which runs it through nh3 (ammonia's allow-list) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import jinja2
import nh3
from markupsafe import Markup

from ..catalog import LINK_REL, URL_SCHEMES, slug
from ..model import UNSCORED, Image, is_http_url, now, utc
from .charts import color

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# Badge colours only (no decision hangs on them). In the demo run, complete articles score 69-72 and the
# two thin ones (a robots-blocked page, a 404 stored from the feed alone) 35 and 40.
GOOD_QUALITY = 60  # green: clearly among the complete, well-described articles
POOR_QUALITY = 40  # red below: the thin records; also the publish-rule example threshold in DESIGN.md
HOT = 10  # orange: in the demo run only the three stories covered in the last few hours reached 10-19


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # the templates ship in the package: no stat() of each one per page served
    )
    env.filters.update(
        ago=ago,
        when=when,
        iso=iso,
        thumb=thumb,
        full_image=full_image,
        band=band,
        heat_band=heat_band,
        signed=signed,
        slug=slug,
        safe_url=safe_url,
        source_html=source_html,
        paragraphs=paragraphs,
        color=color,
        pct=pct,
        matched=matched,
        decided_by=decided_by,
    )
    env.globals["UNSCORED"] = UNSCORED
    return env


def ago(value: datetime | None, reference: datetime | None = None) -> str:
    """``"3 h ago"`` — how editors scan a list; the exact time is in the element's title. Naive
    datetimes (SQLite hands some back) are UTC, as everything newsdesk stores."""
    if value is None:
        return "undated"
    seconds = ((reference or now()) - utc(value)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return utc(value).strftime("%d %b %Y, %H:%M UTC")


def iso(value: datetime | None) -> str:
    """The record's spelling: ISO-8601 UTC with a ``Z``."""
    if value is None:
        return ""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def thumb(images: Sequence[Image]) -> str | None:
    """The cached thumbnail of the first cached image; uncached images are never hot-linked (the UI
    works offline and does not tell third parties who reads what)."""
    for image in images:
        if image.is_cached and image.sha256:
            return f"/images/{image.sha256}/thumb"
    return None


def full_image(image: Image) -> str | None:
    return f"/images/{image.sha256}" if image.is_cached and image.sha256 else None


def band(quality: int) -> str:
    """CSS modifier for a quality badge: good | fair | poor | none."""
    if quality == UNSCORED:
        return "none"
    if quality >= GOOD_QUALITY:
        return "good"
    return "fair" if quality >= POOR_QUALITY else "poor"


def heat_band(heat: int) -> str:
    if heat == UNSCORED:
        return "none"
    return "hot" if heat >= HOT else "warm" if heat > 0 else "cold"


def signed(value: float) -> str:
    return f"{value:+.1f}"


def pct(value: float, top: float) -> float:
    """``value`` as a percentage of ``top``, clamped to 0-100 (bar widths)."""
    if top <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * value / top))


MATCHED = {
    ("text",): "Matches your words",
    ("semantic",): "Close in meaning",
    ("semantic", "text"): "Matches your words and meaning",
}
"""What a hybrid hit's lists say to an editor. Its fused score is not shown: a sum of 1/(60 + rank)
means nothing outside the ranking it orders (that was the "0.016 · text + semantic")."""


def matched(lists: Sequence[str]) -> str:
    """How a hybrid search hit was found, in words (see :data:`MATCHED`)."""
    return MATCHED.get(tuple(sorted(lists)), "")


def decided_by(actor: str, reason: str | None) -> str:
    """Who made a decision, for the article's Decisions panel. A publish rule records itself as
    ``"rule: <rule text>"`` with the rule text again as the reason; the panel shows the reason, so the
    actor reads just "a publish rule"."""
    return "a publish rule" if reason and actor == f"rule: {reason}" else actor


def source_html(fragment: str | None) -> Markup:
    """HTML that came from a source, sanitised: ammonia's allow-list, http(s)/mailto links only."""
    cleaned = nh3.clean(fragment or "", link_rel=LINK_REL, url_schemes=set(URL_SCHEMES))
    return Markup(cleaned)  # nh3's output is the sanitised markup we mean to show


def paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split("\n") if p.strip()]


def safe_url(url: str | None) -> str:
    """``url`` when it is an absolute http(s) URL, else ``#``: a stored URL never becomes a
    ``javascript:`` link."""
    return url if url and is_http_url(url) else "#"
