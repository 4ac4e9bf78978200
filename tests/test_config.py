"""Settings: one declared table; defaults ← newsdesk.toml ← NEWSDESK_*; one clear error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdesk.config import SETTINGS, describe, load_settings, load_sources, load_taxonomy, parse_taxonomy
from newsdesk.errors import SettingsError
from newsdesk.model import SourceKind


def test_defaults_file_and_env_in_that_order(tmp_path: Path) -> None:
    toml = tmp_path / "newsdesk.toml"
    toml.write_text('concurrency = 4\nuser_agent = "desk/1"\npublish_rules = ["publish: quality >= 40"]\n')
    settings = load_settings(toml, env={"NEWSDESK_CONCURRENCY": "8", "NEWSDESK_ENCRYPT": "off"})
    assert settings.concurrency == 8 and settings.origins["concurrency"] == "NEWSDESK_CONCURRENCY"
    assert settings.user_agent == "desk/1" and settings.origins["user_agent"] == str(toml)
    assert settings.encrypt is False
    assert settings.publish_rules == ["publish: quality >= 40"]
    assert settings.per_host_delay == 0.5 and settings.origins["per_host_delay"] == "default"
    assert settings.data_dir == tmp_path / ".newsdesk"  # relative paths hang off the config file's folder
    assert settings.database == f"sqlite:///{tmp_path / '.newsdesk' / 'newsdesk.db'}"


def test_every_setting_is_documented_and_shown() -> None:
    rows = describe(load_settings(env={"NEWSDESK_SECRET_KEY": "c2VjcmV0"}))
    assert [r[0] for r in rows] == [s.name for s in SETTINGS]
    assert all(s.help.strip() for s in SETTINGS)
    assert dict((r[0], r[1]) for r in rows)["secret_key"] == "****"  # secrets are masked


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("concurrency = 'many'", {}, "concurrency: expected int"),
        ("concurency = 3", {}, "unknown setting 'concurency'"),
        ("this is not toml", {}, "not valid TOML"),
        ("", {"NEWSDESK_PER_HOST_DELAY": "soon"}, "NEWSDESK_PER_HOST_DELAY: per_host_delay: expected float"),
        ("", {"NEWSDESK_ENCRYPT": "perhaps"}, "encrypt: expected bool"),
        ("max_redirects = -1", {}, "must not be negative"),
    ],
)
def test_bad_settings_are_one_clear_line(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "newsdesk.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env=env)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(tmp_path / "absent.toml", env={})


def test_sources_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - url: https://fintechdaily.example/feed.xml\n    name: Fintech Daily\n    topics: [Fintech]\n"
        "    poll_min: 600\n    poll_max: 7200\n"
        "  - url: https://marketwire.example/news-sitemap.xml\n    kind: sitemap\n    allow_loopback: true\n"
        "  - https://lab.example/post/1\n"
    )
    sources = load_sources(path)
    assert [s.kind for s in sources] == [SourceKind.FEED, SourceKind.SITEMAP, SourceKind.FEED]
    assert sources[0].topics == ("Fintech",) and sources[0].poll_min_s == 600
    assert sources[1].allow_loopback


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- url: not a url\n", "not an http(s) URL"),
        ("- url: https://a.example/\n  kind: podcast\n", "'podcast' is not a valid SourceKind"),
        ("- url: https://a.example/\n  colour: red\n", "unknown key(s) colour"),
        ("- name: no url\n", "needs at least a url"),
        ("- url: https://a.example/\n  poll_min: 100\n  poll_max: 10\n", "poll_min_s is above poll_max_s"),
        ("sources: {a: 1}\n", "expected a list"),
        ("[unclosed\n", "not valid YAML"),
    ],
)
def test_bad_sources_yaml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=r"sources\.yaml") as info:
        load_sources(path)
    assert message in str(info.value)


def test_bundled_taxonomy_is_valid_and_hierarchical() -> None:
    taxonomy = load_taxonomy(None)
    assert taxonomy.ancestors("AI in Finance") == ("AI",)
    assert taxonomy.with_ancestors(["AI in Finance"]) == ("AI in Finance", "AI")
    assert all(t.description for t in taxonomy.topics)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"name": "A", "parent": "B"}, {"name": "B", "parent": "A"}], "cycle"),
        ([{"name": "A", "parent": "Nowhere"}], "unknown parent 'Nowhere'"),
        ([{"name": "A"}, {"name": "A"}], "appears twice"),
        ([{"description": "nameless"}], "has no name"),
        ([], "non-empty 'topics' list"),
    ],
)
def test_bad_taxonomies(data: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_taxonomy(data)


def test_an_unreadable_taxonomy_is_named_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load_taxonomy(tmp_path / "absent.yaml")
    assert (
        str(info.value) == f"{tmp_path / 'absent.yaml'}: cannot read the taxonomy: No such file or directory"
    )
    (tmp_path / "latin1.yaml").write_bytes("topics:\n  - name: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match=r"latin1\.yaml: cannot read the taxonomy: not UTF-8 text"):
        load_taxonomy(tmp_path / "latin1.yaml")
