"""The pool's extraction jobs leave language detection to the process they work for: a worker never
loads py3langid's model (≈ 70 MB a process), and the language the run stores is the one an in-process
extraction gives (issue 14 goal 3; docs/benchmarks.md, "Large runs")."""

from __future__ import annotations

import pytest

from newsdesk.extract.article import extract, with_language
from newsdesk.extract.jobs import extract_job
from newsdesk.ingestor import process_pool

ENGLISH = "The council approved the new budget for schools and roads after a long debate on Tuesday. "
GERMAN = "Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt für Schulen und Straßen beschlossen. "


def _page(body: str, *, lang: str | None = None, title: str = "A title") -> bytes:
    declared = f' lang="{lang}"' if lang else ""
    return (
        f"<html{declared}><head><title>{title}</title></head><body><article><p>{body}</p>"
        "</article></body></html>"
    ).encode()


PAGES = {
    "undeclared English": _page(ENGLISH * 4),
    "undeclared German": _page(GERMAN * 4),
    "declared French on German text": _page(GERMAN * 4, lang="fr"),
    "short text, title joins the sample": _page("Budget passed.", title=ENGLISH),
    "too short to judge": _page("Short.", title="Hi"),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_language_finished_later_is_the_one_extract_gives(name: str) -> None:
    page = PAGES[name]
    whole = extract(page, "https://a.test/x")
    later = extract(page, "https://a.test/x", detect_language=False)
    assert with_language(later) == whole
    assert with_language(whole) == whole


def test_a_pool_worker_loads_neither_the_language_model_nor_unused_stop_lists() -> None:
    pool = process_pool(1)
    try:
        pages = list(PAGES.values())
        results = [pool.submit(extract_job, page, "https://a.test/x", True).result() for page in pages]
        probe = "__import__('py3langid').langid.IDENTIFIER is None"
        assert pool.submit(eval, probe).result() is True
        # fast mode (the default extract_fast), warm-up included, never reads justext's stop-lists
        probe = "__import__('trafilatura.external').external.JT_STOPLIST is None"
        assert pool.submit(eval, probe).result() is True
    finally:
        pool.shutdown()
    languages = [with_language(r).language for r in results]
    assert languages == [extract(p, "https://a.test/x", fast=True).language for p in pages]
    assert results[0].language is None and languages[0] == "en" and languages[1] == "de"
