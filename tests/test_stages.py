"""The run as one ordered list of stages (newsdesk/stages.py): the list is the documented table of
contents, a stage whose setting is off does not run, and a later stage that fails is recorded on the run
while the stages after it still run — through the facade, over loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from newsdesk import stages
from newsdesk.app import Newsdesk
from newsdesk.config import SETTINGS, load_settings
from newsdesk.model import Source
from tests.conftest import quiet_env
from tests.httpserver import LoopbackServer, Reply

RSS = "application/rss+xml"
ORDER = ["ingest", "enrich", "images", "seal", "rules", "alerts"]


def test_the_stage_list_is_the_table_of_contents_of_its_module() -> None:
    assert [stage.name for stage in stages.STAGES] == ORDER
    doc = stages.__doc__ or ""
    rows = [
        line.split()[:2] for line in doc.splitlines() if line.startswith("    ") and line.split()[0] in ORDER
    ]
    assert rows == [[stage.name, stage.setting or "always"] for stage in stages.STAGES]
    switches = {setting.name for setting in SETTINGS if setting.type is bool}
    assert {stage.setting for stage in stages.STAGES if stage.setting} <= switches


def _feed(server: LoopbackServer) -> None:
    items = "".join(
        f"<item><title>Report {n}</title><link>{server.url(f'/a/{n}')}</link>"
        f"<description>Report {n} in brief, with a few words more.</description></item>"
        for n in range(3)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>{items}</channel></rss>'
    server.route("/feed.xml", Reply(body=body.encode(), content_type=RSS))


def test_a_failing_stage_is_recorded_and_the_next_stages_still_run(store_url: str, tmp_path: Path) -> None:
    """Enrichment refuses a half-life for a topic the taxonomy lacks (before loading any model): the run
    records ``enrich: …``, leaves the articles unenriched for the next run, and still applies the rules
    and matches the alerts. Images and sealing are off, so they neither run nor report."""
    seen: list[tuple[str, int, int]] = []
    with LoopbackServer({}) as server:
        _feed(server)
        env = quiet_env(tmp_path / "data", store_url, NEWSDESK_WORKERS="1", NEWSDESK_FETCH_PAGES="0",
                        NEWSDESK_ENRICH="1", NEWSDESK_HEAT_HALF_LIFE_TOPICS="Astrology=3")  # fmt: skip
        with Newsdesk(load_settings(env=env, base_dir=tmp_path)) as nd:
            nd.sources.add(Source(url=server.url("/feed.xml"), allow_loopback=True))
            summary = nd.run(progress=lambda stage, done, total: seen.append((stage, done, total)))
            events = nd.store.events(limit=100)  # this run's: the store is new
            unenriched = nd.store.unenriched_ids()
    assert summary.new == 3 and len(unenriched) == 3
    assert [(e["kind"], e["message"].split(":")[0]) for e in events] == [("settings", "enrich")]
    assert dict(summary.errors) == {"settings": 1}
    timed = [key.removesuffix("_s") for key in summary.stages if key.endswith("_s")]
    assert timed == ["ingest", "enrich", "rules", "alerts", "duration"]
    assert summary.stages["alerts"] == 0 and summary.stages["published_by_rule"] == 0
    started = [stage for stage, done, _ in seen if done == 0]
    assert started == ["poll", "enrich", "rules", "alerts"]
    assert ("rules", 1, 1) in seen and ("alerts", 1, 1) in seen
