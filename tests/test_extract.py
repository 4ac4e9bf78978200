"""The extract stage end to end: sample pages, excerpts, hostile input, and the accuracy gate."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from newsdesk.errors import ExtractionError
from newsdesk.extract.article import MAX_ELEMENTS, Extracted, extract, site_domain
from newsdesk.extract.jsonld import repair_script_ends
from newsdesk.extract.text import EXCERPT_CHARS, content_hash, cut_excerpt
from newsdesk.fetch.sniff import html_start
from newsdesk.fetch.urls import pick_canonical

ROOT = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).parent / "data" / "pages"
DATA = ROOT.parent / "shared" / "data"

GATE_PAGES = 30
GATE_F1_FLOOR = 0.955
"""Measured 0.964 for ``extract`` on the first 30 benchmark pages (sorted ids), trafilatura defaults
0.944 on the same pages; the floor sits a little under ours so real regressions fail the build."""


def page(name: str, url: str) -> Extracted:
    return extract((PAGES / f"{name}.html").read_text(encoding="utf-8"), url)


# --- sample pages ---------------------------------------------------------------------------------


def test_graph_page_gives_a_full_record() -> None:
    got = page("graph", "https://www.ejinsight.com/eji/article/id/3001610/x")
    assert got.title == "Following the money of Hong Kong's growing fintech cluster"
    assert got.text.startswith("Economist Michael Porter once said")  # headline not repeated in the text
    assert got.text.count("\n\n") == got.paragraph_count - 1 == 3
    assert "Copyright" not in got.text and "Home" not in got.text
    assert got.excerpt == (
        "Economist Michael Porter once said that California is successful for its wine, not because of its "
        "meteorological conditions, but because it has an economic cluster of interconnected wineries, grape"
    )
    assert got.published_at == datetime(2021, 12, 24, 1, 41, tzinfo=UTC)
    assert got.provider_name == "EJ Insight"
    assert got.site_domain == "ejinsight.com"
    assert got.author == "Louis & Jane Lau"
    assert got.language == "en"
    assert got.word_count == len(got.text.split())
    assert got.image_urls[-1] == "https://www.ejinsight.com/eji/images/3001610_body.jpg"  # lead image last


def test_the_worker_also_works_out_the_canonical_url_and_content_hash() -> None:
    """Done in the extraction worker so the run's parent process does not: same answers as the parent's
    own functions."""
    url = "https://www.ejinsight.com/eji/article/id/3001610/x?utm_source=feed"
    got = page("graph", url)
    assert got.web_url == pick_canonical(url, got.canonical_url, got.og_url)
    assert got.web_url is not None and "utm_source" not in got.web_url
    assert got.text_hash == content_hash(got.text) and got.text_hash is not None
    short = extract("<html><head><title>Only a title</title></head><body></body></html>", url)
    assert short.text_hash is None  # too little text to stand for the article


def test_og_only_page() -> None:
    got = page("og_only", "https://www.reuters.com/markets/x")
    assert got.title == "Markets rally as inflation cools"
    assert got.description is not None and got.excerpt == got.description
    assert got.published_at == datetime(2021, 12, 24, 1, 41, tzinfo=UTC)
    assert got.modified_at == datetime(2021, 12, 24, 10, 0, tzinfo=UTC)
    assert got.author == "Jane Doe"
    assert got.provider_name is None
    assert got.language == "en"
    assert got.keywords == ("markets", "inflation", "stocks", "rates")
    assert got.paragraph_count == 3


def test_video_page() -> None:
    got = page("video", "https://video.example.com/v/1")
    assert (got.type, got.title, got.provider_name) == ("video", "How a chip is made", "Chip Weekly")
    assert got.published_at == datetime(2023, 3, 5, 19, 30, tzinfo=UTC)
    assert got.author == "Ana Silva, Bo Chen"
    assert got.image_urls == ("https://cdn.example.com/thumb.jpg",)
    assert got.site_domain == "example.com"


def test_podcast_page_with_invalid_jsonld_script() -> None:
    got = page("podcast", "https://pod.example.org/ep12")
    assert got.type == "podcast"
    assert got.title == "Episode 12: Rates and risk"  # " — The Money Show" removed (application-name)
    assert got.published_at == datetime(2020, 3, 3, 15, 15, tzinfo=UTC)
    assert got.excerpt == "We talk about interest rates and the risks they bring to banks."


def test_blog_page() -> None:
    got = page("blog", "https://blog.technotes.dev/queue")
    assert (got.category_hint, got.title) == ("blog", "Why we moved our queue to PostgreSQL")
    assert got.author == "Ada Lovelace, Grace Hopper"
    assert got.text.startswith("For three years")  # extractor text, not the short JSON-LD articleBody


def test_scholarly_page() -> None:
    got = page("scholarly", "https://arxiv.org/abs/1706.03762")
    assert (got.type, got.category_hint) == ("paper", "research")
    assert got.published_at == datetime(2017, 6, 12, tzinfo=UTC)


def test_language_is_detected_when_not_declared() -> None:
    assert page("french", "https://www.lemonde.fr/x").language == "fr"


def test_title_only_page_is_an_article_without_text() -> None:
    got = page("title_only", "https://city.example.com/b")
    assert got.title == "Breaking: council approves new budget"
    assert (got.text, got.excerpt, got.word_count, got.paragraph_count) == ("", "", 0, 0)


def test_jsonld_article_body_used_when_extractor_finds_nothing() -> None:
    body = "First paragraph of a page rendered by scripts.\nSecond paragraph of it."
    html = (
        '<html><head><title>JS page</title><script type="application/ld+json">'
        f'{{"@type": "NewsArticle", "articleBody": "{body}"}}</script></head><body><div id="app"></div></body></html>'
    )
    got = extract(html, "https://spa.example.com/a")
    assert got.text == "First paragraph of a page rendered by scripts.\n\nSecond paragraph of it."
    assert got.paragraph_count == 2


HARBOUR = [
    f"Paragraph {n} of the harbour report: the board met on Tuesday and agreed that the dues for ferries, "
    "fishing boats and yachts would rise by a tenth from the spring onwards."
    for n in range(8)
]


def harbour_page(body_html: str, *, broken_json: bool = False) -> str:
    """A page whose JSON-LD ``articleBody`` quotes an embed's ``</script>`` (issue 11 item 5)."""
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Harbour dues rise",
        "articleBody": 'Watch: <blockquote>a post</blockquote><script async src="https://embed.example/w.js">'
        "</script>\n" + "\n".join(HARBOUR),
        "author": {"@type": "Person", "name": "Ada Quay"},
        "datePublished": "2026-11-20T08:00:00Z",
        "publisher": {"@type": "Organization", "name": "Harbour Ledger"},
    }
    script = json.dumps(ld) + ("," if broken_json else "")
    return (
        "<!doctype html><html><head><title>Harbour dues rise</title>"
        f'<script type="application/ld+json">{script}</script></head><body>{body_html}'
        "<div class='foot'><a href='/about'>About us</a></div></body></html>"
    )


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize(
    "body_html",
    [
        "<div id='app'>Loading…</div>",
        "<article><h1>Harbour dues rise</h1>" + "".join(f"<p>{p}</p>" for p in HARBOUR) + "</article>",
    ],
    ids=["rendered-by-script", "in-the-markup"],
)
def test_a_jsonld_string_holding_a_script_end_tag_loses_neither_text_nor_metadata(
    body_html: str, fast: bool
) -> None:
    """The HTML parser ends the JSON-LD script at the quoted ``</script>``: before the repair the JSON's
    tail was the stored text and the author, publisher (and, in fast mode, date) were lost."""
    got = extract(harbour_page(body_html), "https://harbour.example/news/dues", fast=fast)
    assert '"@type"' not in got.text and "Ledger" not in got.text
    assert all(paragraph in got.text for paragraph in HARBOUR)
    assert (got.author, got.provider_name) == ("Ada Quay", "Harbour Ledger")
    assert got.published_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_a_jsonld_block_broken_some_other_way_is_left_as_the_page_had_it() -> None:
    html = harbour_page("<p>x</p>", broken_json=True).encode()
    assert repair_script_ends(html) == html
    plain = b'<script type="application/ld+json">{"a": "</b>"}</script><p>"</script>"</p>'
    assert repair_script_ends(plain) == plain


# --- pages that fast mode used to get wrong (issue 15 item 2) ---------------------------------------

STORY = [
    f"Story paragraph {n}: the {topic} committee heard evidence from {who} about the harbour's future, "
    f"and its members asked how the {thing} would be paid for before the winter storms arrive again."
    for n, (topic, who, thing) in enumerate(
        (t, w, x)
        for t in ("finance", "planning", "transport", "fisheries")
        for w in ("pilots", "ferry crews", "dock workers", "residents")
        for x in ("sea wall", "new crane", "dredging")
    )
]
PHP_WARNINGS = (
    '<br />\n<b>Warning</b>:  Undefined array key "lang" in <b>/var/www/html/wp-content/themes/daily/'
    "header.php</b> on line <b>12</b><br />\n"
) * 3


def story_page(before_story: str, *, story_tag: str = "p") -> str:
    nav = "".join(f"<li><a href='/s/{n}'>Section {n}</a></li>" for n in range(10))
    story = "".join(f"<{story_tag}>{p}</{story_tag}>" for p in STORY)
    return (
        "<!doctype html><html lang='en'><head><title>Harbour hearing</title></head><body>"
        f"<nav><ul>{nav}</ul></nav>{before_story}<div class='story'>{story}</div>"
        "<footer><a href='/privacy'>Privacy</a></footer></body></html>"
    )


@pytest.mark.parametrize("fast", [False, True])
def test_php_warnings_before_the_page_do_not_lose_it(fast: bool) -> None:
    """``<br />\\n<b>Warning</b>: …`` printed before ``<!doctype html>`` made lxml put the page in a body
    with no head: the page was refused as "not an HTML document"."""
    got = extract(PHP_WARNINGS + story_page(""), "https://daily.example/hearing", fast=fast)
    assert got.title == "Harbour hearing" and got.language == "en"
    assert all(p in got.text for p in STORY) and "Warning" not in got.text


def test_stray_output_is_skipped_only_before_a_document_start() -> None:
    page = story_page("").encode()
    assert html_start(PHP_WARNINGS.encode() + page) == len(PHP_WARNINGS.encode())
    assert html_start(page) == 0
    assert html_start(b"<title>T</title><p>x</p><html><body>y</body></html>") == 0  # the page's own head
    assert html_start(b"just text, no page at all") == 0


def test_fast_mode_does_not_keep_a_teaser_for_the_article() -> None:
    """An ``<article>`` holding a summary of the story's opening, the story itself in a plain ``<div>``:
    fast mode kept the summary (under a tenth of the text) and missed the story."""
    teaser = f"<article><h1>Harbour hearing</h1><div class='summary'><p>{STORY[0]}</p><p>{STORY[1]}</p></div></article>"
    got = extract(story_page(teaser), "https://daily.example/hearing", fast=True)
    assert all(p in got.text for p in STORY)


@pytest.mark.parametrize("fast", [False, True])
def test_a_slideshow_kept_instead_of_the_article_is_dropped(fast: bool) -> None:
    """Slides (counter, caption, credit, previous/next) in the ``<article>`` element, the story in plain
    ``<div>`` elements: fast mode kept the slides and no sentence of the story (the accurate path got
    this page right, but with longer captions it too keeps the slides: the eval's slideshow class)."""
    caption = "Crowds gather along the harbour wall as the tall ships arrive at dawn for the regatta week."
    slides = "".join(
        f"<div class='slide'><p>{n} / 20</p><p>{caption} Picture {n}.</p><p>Photo: Example Agency</p>"
        f"<p><a href='/g/{n - 1}'>Previous</a> <a href='/g/{n + 1}'>Next</a></p></div>"
        for n in range(1, 21)
    )
    got = extract(
        story_page(f"<article>{slides}</article>", story_tag="div"), "https://d.example/s", fast=fast
    )
    assert all(p in got.text for p in STORY)
    assert "Photo: Example Agency" not in got.text


def test_an_article_that_repeats_its_headings_is_not_taken_for_navigation() -> None:
    """A menu plan saying "Pre-workout meal" under every day is an article, not a slideshow: the block
    holding the repeated lines is the article itself, so the text found without it is not taken."""
    days = "".join(
        f"<h3>Day {n}</h3><p>Pre-workout meal</p><p>Oats</p><p>Post-workout meal</p><p>Rice and fish</p>"
        f"<p>Notes</p><p>{STORY[n]}</p>"
        for n in range(12)
    )
    got = extract(story_page(f"<article>{days}</article>"), "https://d.example/menu", fast=True)
    assert got.text.count("Pre-workout meal") == 12


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.bbc.co.uk/news/x", "bbc.co.uk"),
        ("https://news.example.com.au/a", "example.com.au"),
        ("http://127.0.0.1:8000/a", "127.0.0.1"),
        ("http://localhost/a", "localhost"),
        ("not a url", ""),
    ],
)
def test_site_domain_is_public_suffix_aware(url: str, domain: str) -> None:
    assert site_domain(url) == domain


# --- excerpts -------------------------------------------------------------------------------------

LONG = "Economist Michael Porter once said that California is successful for its wine, " * 5


def test_excerpt_is_cut_on_a_word_boundary() -> None:
    got = cut_excerpt(LONG)
    assert len(got) <= EXCERPT_CHARS
    assert LONG.startswith(got)
    assert LONG[len(got)] in " ,"  # the next character ends a word
    assert not got.endswith((",", " ", "…"))


@pytest.mark.parametrize("seed", range(20))
def test_excerpt_never_exceeds_limit_nor_ends_mid_word(seed: int) -> None:
    rng = random.Random(seed)
    words = ["naïve", "café", "über", "a", "longerword", "x—y", "(aside", "end.", "“quoted”", "漢字"]
    text = " ".join(rng.choice(words) for _ in range(120))
    got = cut_excerpt(text)
    assert 0 < len(got) <= EXCERPT_CHARS
    assert text.startswith(got) or text.startswith(got.rstrip())
    assert text[len(got)] == " " or text[len(got) :].startswith(tuple(" ,;:—(“…"))


@pytest.mark.parametrize(
    "joint", ["end, (nextword", "end — continuing", "end: “quoted words", "end & morewords"]
)
def test_excerpt_strips_dangling_punctuation(joint: str) -> None:
    text = "word " * 38 + joint + " tail" * 10
    got = cut_excerpt(text)
    assert got == "word " * 38 + "end"


def test_excerpt_of_text_without_spaces_cuts_between_characters() -> None:
    text = "日本語の文章" * 50
    assert cut_excerpt(text) == text[:EXCERPT_CHARS]


def test_excerpt_does_not_split_combining_marks() -> None:
    text = "e\u0301" * 150  # 300 code points, 150 visible characters
    got = cut_excerpt(text)
    assert len(got) <= EXCERPT_CHARS and len(got) % 2 == 0


def test_excerpt_drops_publisher_truncation() -> None:
    assert cut_excerpt("isn't slowing down on stacking up new potential models. T…") == (
        "isn't slowing down on stacking up new potential models."
    )


def test_short_text_is_kept_whole() -> None:
    assert cut_excerpt("  A short   lead.  ") == "A short lead."


# --- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        os.urandom(4096).decode("latin-1"),
        "\x00\x01\x02binary" * 100,
        "plain text with no markup at all",
        "<html><head></head><body></body></html>",
    ],
    ids=["empty", "blank", "random-bytes", "nul-bytes", "no-markup", "empty-page"],
)
def test_pages_without_content_raise_extraction_error(html: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(html, "https://example.com/x")
    assert caught.value.url == "https://example.com/x"


BODY = "<p>" + "The council approved the new budget after a long debate about schools. " * 6 + "</p>"


def test_control_characters_are_dropped_and_the_text_kept() -> None:
    """lxml keeps C0 controls and U+FFFE/U+FFFF in text; trafilatura would fail copying them, so the
    parser removes them: the article survives, without them."""
    body = BODY.replace("long", "lo\x0bng\ufffe")
    html = f"<html><head><title>Budget\x01 vote</title></head><body>{body}</body></html>"
    got = extract(html, "https://example.com/x")
    assert got.title == "Budget vote"
    assert "long debate" in got.text
    assert not any(ch in got.text for ch in "\x01\x0b\ufffe")


def test_utf8_bytes_and_text_extract_alike() -> None:
    """The pipeline hands its workers a UTF-8 page's bytes as they came; the result is the text's."""
    html = (PAGES / "graph.html").read_text(encoding="utf-8")
    url = "https://marketwire.example/2026/11/19/ai-supervision"
    assert extract(html.encode("utf-8"), url) == extract(html, url)
    with pytest.raises(ExtractionError, match="binary"):
        extract(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, url)


def test_a_self_closed_html_root_does_not_lose_the_document() -> None:
    html = f'<!DOCTYPE html>\n<html lang="en" />\n<head><title>Budget vote</title></head><body>{BODY}</body></html>'
    got = extract(html, "https://example.com/x")
    assert got.title == "Budget vote"
    assert got.text.startswith("The council approved")
    assert got.language == "en"


def test_xhtml_doctype_and_a_stale_charset_declaration_are_harmless() -> None:
    """The text arrives decoded; a page that still declares another charset is parsed as what it is."""
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252"><title>Café €</title>'
    html = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml"><head>{head}</head><body>{BODY}<p>Prix: 3 € au café.</p></body></html>'
    )
    got = extract(html, "https://example.com/x")
    assert got.title == "Café €"
    assert "3 € au café" in got.text


def test_scripts_styles_and_svg_never_reach_the_text_but_jsonld_still_counts() -> None:
    """Invisible elements are dropped before the text extractor runs; the JSON-LD they sit beside has
    already given the metadata, and its articleBody still rescues a page with no markup text."""
    noise = (
        "<script>var track = 'SCRIPT-TEXT';</script><style>.a{content:'STYLE-TEXT'}</style>"
        "<svg><title>SVG-TEXT</title><path d='M0'/></svg>"
    )
    page = f"<html><head><title>Budget vote</title></head><body>{noise}{BODY}{noise}</body></html>"
    text = extract(page, "https://example.com/x").text
    assert "council approved" in text
    assert not any(marker in text for marker in ("SCRIPT-TEXT", "STYLE-TEXT", "SVG-TEXT"))
    body = "The committee met on Tuesday and agreed the plan in full. " * 12
    ld = f'<script type="application/ld+json">{{"@type": "NewsArticle", "headline": "Plan agreed", "articleBody": "{body}"}}</script>'
    rendered_by_js = f"<html><head>{ld}</head><body>{noise}<div id='app'></div></body></html>"
    got = extract(rendered_by_js, "https://example.com/y")
    assert got.title == "Plan agreed"
    assert got.text.startswith("The committee met on Tuesday")


@pytest.mark.parametrize("seed", range(5))
def test_random_markup_soup_never_raises_anything_else(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [
        "<div>",
        "</div>",
        "<p>",
        "text ",
        "<script>",
        '{"@type":',
        "</script>",
        "<meta ",
        "&#x0;",
        "<!--",
        "é",
    ]
    html = "".join(rng.choice(pieces) for _ in range(3000))
    try:
        got = extract(html, "https://example.com/x")
    except ExtractionError:
        return
    assert isinstance(got.text, str)


def test_huge_flat_page_is_bounded() -> None:
    paragraphs = "".join(
        f"<div><p>Paragraph {i} with several words of running text.</p></div>" for i in range(80_000)
    )
    html = f"<html><head><title>Huge</title></head><body>{paragraphs}</body></html>"
    assert len(html) > 5_000_000
    got = extract(html, "https://example.com/huge")
    assert got.title == "Huge"
    assert 0 < got.paragraph_count <= MAX_ELEMENTS


def test_deeply_nested_page_is_handled() -> None:
    depth = 600_000
    html = (
        "<html><head><title>Deep</title></head><body>"
        + "<div>x " * depth
        + "</div>" * depth
        + "</body></html>"
    )
    assert len(html) > 5_000_000
    assert extract(html, "https://example.com/deep").title == "Deep"


# --- accuracy gate --------------------------------------------------------------------------------


def _load_eval() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_extraction", ROOT / "eval" / "extraction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (DATA / "article-extraction-benchmark").is_dir(), reason=f"benchmark data absent: {DATA}"
)
def test_extraction_f1_gate() -> None:
    evaluation = _load_eval()
    pages = evaluation.load_pages(DATA, GATE_PAGES)
    ours = evaluation.run(pages, evaluation.newsdesk_text)
    baseline = evaluation.run(pages, evaluation.trafilatura_text())
    assert ours.pages == GATE_PAGES
    assert ours.f1 >= GATE_F1_FLOOR, (
        f"extraction F1 {ours.f1:.3f} fell below the pinned floor {GATE_F1_FLOOR}"
    )
    assert ours.f1 >= baseline.f1, (
        f"extraction F1 {ours.f1:.3f} is below plain trafilatura's {baseline.f1:.3f}"
    )


def test_a_short_text_takes_its_language_from_the_title_and_description_too() -> None:
    """A two-word body says nothing; the undeclared page's title and description still do."""
    html = (
        "<html><head><title>La Banque centrale européenne relève encore ses taux directeurs</title>"
        '<meta name="description" content="Les marchés attendaient une pause, mais le conseil des '
        'gouverneurs a choisi de poursuivre la hausse pour contenir l’inflation.">'
        "</head><body><article><p>Voir aussi.</p></article></body></html>"
    )
    assert extract(html, "https://journal.example/bce").language == "fr"


SYNTHETIC_F1_FLOOR = 0.95
"""Fast mode scores 0.967-1.000 per synthetic failure class over all 181 pages (``docs/evaluation.md``)
and 0.00-0.30 without the checks; the floor catches the checks being lost, not a point of F1."""


@pytest.mark.skipif(
    not (DATA / "article-extraction-benchmark").is_dir(), reason=f"benchmark data absent: {DATA}"
)
def test_synthetic_failure_classes_gate() -> None:
    """Fast mode (the pipeline default) on the first 30 benchmark pages rebuilt per failure class."""
    evaluation = _load_eval()
    sets = evaluation.synthetic_sets(evaluation.load_pages(DATA, GATE_PAGES))
    for name, pages in sets.items():
        scores = evaluation.run(pages, lambda page: evaluation.newsdesk_text(page, fast=True))
        assert pages and scores.f1 >= SYNTHETIC_F1_FLOOR, f"{name}: fast-mode F1 {scores.f1:.3f}"
