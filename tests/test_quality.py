"""Quality score: its parts, headline penalties, bad input, the ratings loader, and the shipped source
prior (fallback to parents, imported override, neutral, the ``source rating`` command, enrichment)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsdesk.cli import app
from newsdesk.enrich.embed import load_embedder
from newsdesk.enrich.quality import (
    NEUTRAL_REPUTATION,
    QualityFeatures,
    SourceRating,
    load_ratings,
    rating_for,
    reputation_for,
    score_quality,
    shipped_ratings,
)
from newsdesk.enricher import Enricher
from newsdesk.errors import EnrichmentError
from newsdesk.model import Source
from tests.test_api import article, make_desk

SENTENCE = "The central bank kept its main rate unchanged on Thursday and signalled two cuts later this year."
ARTICLE = "\n\n".join(" ".join([SENTENCE] * 6) for _ in range(8))  # ~840 words, 8 paragraphs


def complete(**changes: object) -> QualityFeatures:
    base = {
        "title": "Central bank holds rates, signals cuts",
        "text": ARTICLE,
        "reputation": 0.9,
        "has_author": True,
        "has_date": True,
        "has_image": True,
        "has_description": True,
    }
    base.update(changes)
    return QualityFeatures(**base)  # type: ignore[arg-type]


def reason(features: QualityFeatures, name: str) -> float:
    return next(r.value for r in score_quality(features)[1] if r.name == name)


def test_a_deep_complete_original_article_scores_high() -> None:
    score, reasons = score_quality(complete())
    assert 85 <= score <= 100
    assert [r.name for r in reasons] == [
        "source",
        "depth",
        "metadata",
        "originality",
        "readability",
        "headline",
    ]
    assert score == round(sum(r.value for r in reasons))


def test_each_feature_moves_the_score_the_right_way() -> None:
    best = score_quality(complete())[0]
    assert score_quality(complete(reputation=0.1))[0] < best
    assert score_quality(complete(text=SENTENCE))[0] < best
    assert score_quality(complete(has_author=False, has_image=False))[0] == best - 10
    assert score_quality(complete(is_near_duplicate=True))[0] == best - 10


def test_unknown_source_is_neutral() -> None:
    assert reason(complete(reputation=None), "source") == reason(complete(reputation=0.5), "source")
    assert reason(complete(reputation=float("nan")), "source") == reason(complete(reputation=0.5), "source")


@pytest.mark.parametrize(
    ("title", "flag"),
    [
        ("You Won't Believe What This Bank Did Next", "clickbait"),
        ("BANK CRASHES AS MARKETS PANIC", "all caps"),
        ("Rates cut!!", "'!!'"),
        ("7 things every investor should know", "listicle"),
        ("Is this the end of the dollar?", "question headline"),
    ],
)
def test_headline_bait_is_penalised(title: str, flag: str) -> None:
    reasons = dict((r.name, r) for r in score_quality(complete(title=title))[1])
    assert reasons["headline"].value < 0
    assert flag in reasons["headline"].detail


def test_plain_headline_costs_nothing() -> None:
    assert reason(complete(title="Why the Fed held rates: minutes show split"), "headline") == 0.0
    assert reason(complete(title="How many cuts? Analysts differ"), "headline") == 0.0


def test_empty_text_scores_low_but_valid() -> None:
    score, reasons = score_quality(QualityFeatures(title="Breaking", text=""))
    assert 0 <= score <= 40
    assert next(r for r in reasons if r.name == "readability").detail == "no text"


def test_text_in_another_script_is_scored() -> None:
    chinese = "。".join(["中国人民银行周四宣布维持利率不变并表示今年晚些时候可能降息"] * 40) + "。"
    score, _ = score_quality(complete(text=chinese, title="央行维持利率不变"))
    assert 0 <= score <= 100


def test_a_2mb_text_is_bounded_and_scored() -> None:
    huge = ARTICLE * 500
    assert len(huge) > 2_000_000
    score, reasons = score_quality(complete(text=huge))
    assert 0 <= score <= 100
    depth = next(r for r in reasons if r.name == "depth")
    assert depth.value == pytest.approx(25.0, abs=0.01)


def test_run_on_sentences_lose_readability() -> None:
    run_on = " ".join(["and then the market moved"] * 60) + "."
    assert reason(complete(text=run_on), "readability") == 0.0
    assert reason(complete(), "readability") == 10.0


def test_load_ratings_reads_score_and_pc1_tables(tmp_path: Path) -> None:
    scored = tmp_path / "scores.csv"
    scored.write_text("domain,score\nExample.com,0.8\nwww.news.org,0.25\n", encoding="utf-8")
    ratings, errors = load_ratings(scored)
    assert ratings == {"example.com": 0.8, "news.org": 0.25}
    assert errors == []
    pc1 = tmp_path / "pc1.csv"
    pc1.write_text("domain,pc1\nreuters.com,1\napnews.com,0.998\n", encoding="utf-8")
    assert load_ratings(pc1) == ({"reuters.com": 1.0, "apnews.com": 0.998}, [])


def test_load_ratings_reports_bad_rows_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "domain,score\ngood.com,0.5\nnodot,0.5\ntext.com,abc\n\nhigh.com,1.5\nshort.com\nfine.net,0\n",
        encoding="utf-8",
    )
    ratings, errors = load_ratings(path)
    assert ratings == {"good.com": 0.5, "fine.net": 0.0}
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 6", "line 7"]
    assert "not a number" in errors[1] and "outside 0-1" in errors[2]


def test_load_ratings_rejects_files_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(EnrichmentError, match="cannot read"):
        load_ratings(tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("site,rating\na.com,0.5\n", encoding="utf-8")
    with pytest.raises(EnrichmentError, match="header"):
        load_ratings(wrong)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(EnrichmentError, match="header"):
        load_ratings(empty)


def test_reputation_falls_back_to_the_parent_domain() -> None:
    ratings = {"example.com": 0.7}
    assert reputation_for("news.Example.com", ratings) == 0.7
    assert reputation_for("www.example.com", ratings) == 0.7
    assert reputation_for("other.org", ratings) is None


def test_the_shipped_prior_rates_outlets_without_any_import() -> None:
    shipped = shipped_ratings()
    assert len(shipped) == 11_519
    assert all(0.0 <= value <= 1.0 for value in shipped.values())
    assert shipped["reuters.com"] == 1.0
    assert shipped["reuters.com"] > shipped["bbc.co.uk"] > 0.5 > shipped["infowars.com"]
    assert rating_for("WWW.Reuters.com.") == SourceRating(
        "reuters.com", 1.0, "shipped", "reuters.com", "shipped"
    )


def test_subdomains_fall_back_to_their_parent_unless_rated_themselves() -> None:
    assert rating_for("news.bbc.co.uk") == SourceRating(
        "news.bbc.co.uk", shipped_ratings()["bbc.co.uk"], "parent-domain", "bbc.co.uk", "shipped"
    )
    own = rating_for("french.xinhuanet.com")  # rated itself (0.304), apart from xinhuanet.com (0.308)
    assert (own.origin, own.value) == ("shipped", 0.304)
    assert rating_for("co.uk").origin == "neutral"  # never a bare public suffix


def test_imported_ratings_override_the_shipped_ones() -> None:
    imported = {"bbc.co.uk": 0.2}
    assert rating_for("bbc.co.uk", imported) == SourceRating(
        "bbc.co.uk", 0.2, "imported", "bbc.co.uk", "imported"
    )
    # an imported parent beats even a shipped rating of the exact subdomain
    assert rating_for("french.xinhuanet.com", {"xinhuanet.com": 0.9}).value == 0.9
    assert rating_for("reuters.com", imported).table == "shipped"


def test_unknown_domains_keep_the_neutral_value() -> None:
    rating = rating_for("blog.unknown-site.example")
    assert rating == SourceRating("blog.unknown-site.example", NEUTRAL_REPUTATION, "neutral")
    assert score_quality(complete(reputation=None))[1][0].detail == "unrated source (neutral)"


def test_source_rating_command_prints_rating_and_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDESK_ENCRYPT", "0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ratings.csv").write_text("domain,score\nbbc.co.uk,0.2\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["source", "import-ratings", "ratings.csv"]).exit_code == 0
    result = runner.invoke(
        app, ["source", "rating", "news.bbc.co.uk", "https://www.reuters.com/x", "nowhere.example", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    rows = {row["domain"]: (row["value"], row["origin"], row["table"]) for row in json.loads(result.stdout)}
    assert rows == {
        "news.bbc.co.uk": (0.2, "parent-domain", "imported"),
        "reuters.com": (1.0, "shipped", "shipped"),
        "nowhere.example": (NEUTRAL_REPUTATION, "neutral", ""),
    }
    table = runner.invoke(app, ["source", "rating", "infowars.com"]).stdout
    assert "infowars.com" in table and "shipped" in table and os.linesep in table


def test_enrichment_scores_sources_with_the_prior(tmp_path: Path, store_url: str) -> None:
    nd = make_desk(tmp_path, database_url=store_url)
    try:
        sites = {
            "reuters": ("https://feeds.example.net/reuters.xml", "https://www.reuters.com/"),
            "infowars": ("https://feeds.example.net/iw.xml", "https://www.infowars.com/"),
            "bbc": ("https://feeds.example.net/bbc.xml", "https://news.bbc.co.uk/"),
            "unknown": ("https://blog.unknown-site.example/feed.xml", None),
            "by-hand": ("https://edition.cnn.com/rss.xml", None),
        }
        sources = {}
        for name, (url, site) in sites.items():
            reputation = 0.9 if name == "by-hand" else None
            sources[name] = nd.store.add_source(Source(url, site_url=site, reputation=reputation)).id
        (tmp_path / "ratings.csv").write_text("domain,score\nbbc.co.uk,0.2\n", encoding="utf-8")
        nd.sources.import_ratings(tmp_path / "ratings.csv")
        ids = {
            name: nd.store.save_article(article(n, source_id=sid)).id
            for n, (name, sid) in enumerate(sources.items(), 1)
        }
        Enricher(nd.settings, nd.store, nd.taxonomy, embedder=load_embedder(backend="onnx")).run(
            list(ids.values())
        )
        stored = nd.store.get_articles(list(ids.values()))
        points = {
            name: next(r for r in stored[i].quality_reasons if r.name == "source").value
            for name, i in ids.items()
        }
    finally:
        nd.close()
    assert points["reuters"] == pytest.approx(30.0)
    assert points["infowars"] == pytest.approx(30.0 * shipped_ratings()["infowars.com"])
    assert points["bbc"] == pytest.approx(6.0)  # imported 0.2 overrides the shipped 0.718
    assert points["unknown"] == pytest.approx(15.0)
    assert points["by-hand"] == pytest.approx(27.0)  # the source's own reputation comes first
