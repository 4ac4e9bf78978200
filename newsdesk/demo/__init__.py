"""A small fictional news world that ``newsdesk demo`` serves on loopback and the test suite ingests
over real HTTP.

Eight fictional publishers (``*.example`` hosts) with RSS, Atom, JSON Feed and Google News sitemap
feeds, article pages with real-world metadata and boilerplate, generated images, syndicated copies,
tracking-parameter and redirecting links, one broken link and one robots-forbidden page. The content
lives in ``content/*.yaml``; :class:`DemoSite` serves it and :meth:`DemoSite.articles` is the ground
truth to check the pipeline's output against.
"""

from __future__ import annotations

from newsdesk.demo.server import DemoSite, serve_forever
from newsdesk.demo.timeline import DEMO_POLL_MAX_S, DEMO_POLL_MIN_S, Timeline
from newsdesk.demo.world import DemoArticle, DemoContentError, DemoImage, DemoMedia, DemoProvider, World

__all__ = [
    "DEMO_POLL_MAX_S",
    "DEMO_POLL_MIN_S",
    "DemoArticle",
    "DemoContentError",
    "DemoImage",
    "DemoMedia",
    "DemoProvider",
    "DemoSite",
    "Timeline",
    "World",
    "serve_forever",
]
