"""``newsdesk source import-ratings`` (``nd.sources.import_ratings``) over a real store: each source takes
the most specific rating the table holds for its host (``quality.reputation_for``)."""

from __future__ import annotations

from pathlib import Path

from newsdesk.model import Source
from tests.test_authz import make_desk


def test_import_ratings_takes_the_most_specific_rating(tmp_path: Path) -> None:
    """A subdomain rated on its own keeps its rating; other subdomains fall back to the parent's."""
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("domain,score\nnews.example.com,0.9\nexample.com,0.4\n", encoding="utf-8")
    nd = make_desk(tmp_path)
    try:
        for url in ("https://news.example.com/feed", "https://blog.example.com/rss", "https://other.org/a"):
            nd.sources.add(Source(url))
        assert nd.sources.import_ratings(ratings) == (2, [])
        by_url = {s.url: s.reputation for s in nd.sources.list()}
    finally:
        nd.close()
    assert by_url == {"https://news.example.com/feed": 0.9, "https://blog.example.com/rss": 0.4,
                      "https://other.org/a": None}  # fmt: skip
