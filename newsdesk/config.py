"""Settings, sources.yaml and taxonomy.yaml.

Every setting is declared once in :data:`SETTINGS` (name, type, default, help). Values come from, in rising
precedence: the default, ``newsdesk.toml`` (top-level keys named like the settings), and ``NEWSDESK_<NAME>``
environment variables. :func:`load_settings` validates everything at start and fails with one clear line;
the resulting frozen :class:`Settings` is passed explicitly to the code that needs it — no stage reads the
environment or a global. ``newsdesk config`` prints the table with where each value came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SettingsError
from .model import Source, SourceKind, Taxonomy, Topic

ENV_PREFIX = "NEWSDESK_"
CONFIG_FILE = "newsdesk.toml"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    secret: bool = False


# The formatter would spread each row over six lines; as a table, one setting a row, it reads like the
# settings page it generates.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    # storage and files
    Setting("data_dir", Path, Path(".newsdesk"), "Folder for the database, key file, image cache and vector index."),
    Setting("database_url", str, "", "SQLAlchemy URL; empty = SQLite file <data_dir>/newsdesk.db. "
            "PostgreSQL: postgresql+psycopg://user@host/db"),
    Setting("records_dir", Path, Path("records"), "Where `export` and `demo` write record files."),
    Setting("sources_file", Path, Path("sources.yaml"), "The sources list (url, kind, name, defaults)."),
    Setting("taxonomy_file", Path, Path(), "Topic taxonomy YAML; empty = the bundled finance & technology taxonomy."),
    # fetching
    Setting("user_agent", str, "newsdesk/0.1 (+https://github.com/newsdesk/newsdesk)", "User-Agent sent with every request."),
    Setting("connect_timeout", float, 5.0, "Seconds to establish a connection."),
    Setting("read_timeout", float, 15.0, "Seconds between bytes before a read times out."),
    Setting("total_timeout", float, 30.0, "Seconds for a whole request including the body (stops drip-fed responses)."),
    Setting("max_body_bytes", int, 10_000_000, "Largest body read; bigger responses are aborted."),
    Setting("max_redirects", int, 5, "Redirects followed before giving up."),
    Setting("concurrency", int, 16, "Requests in flight at once, over all hosts."),
    Setting("per_host_concurrency", int, 2, "Requests in flight at once to one host."),
    Setting("per_host_delay", float, 0.5, "Seconds between request starts to one host."),
    Setting("allow_private_networks", bool, False, "Let every source reach private/loopback addresses (SSRF guard off)."),
    Setting("respect_robots", bool, True, "Honour robots.txt."),
    Setting("workers", int, 0, "Processes for parsing and extraction; 0 = one per core."),
    Setting("inline_jobs", int, 256, "Pages (and large feeds) a run parses in this process, on one thread, before it starts the worker pool; 0 = always the pool."),
    Setting("pool_idle_s", float, 300.0, "The desk stops the extraction workers after this long without a job (0 = never)."),
    # polling
    Setting("poll_min_interval", float, 300.0, "Shortest adaptive poll interval, seconds."),
    Setting("poll_max_interval", float, 86_400.0, "Longest adaptive poll interval, seconds."),
    Setting("fetch_pages", bool, True, "Fetch each entry's page and extract its text (off = feed content only)."),
    Setting("extract_fast", bool, True, "trafilatura's fast mode: F1 0.965 vs 0.970 on the extraction "
            "benchmark (both above trafilatura's published 0.958), and faster (docs/evaluation.md, docs/benchmarks.md)."),
    # enrichment
    Setting("embed_model", str, "bundled", "Embedding model: 'bundled' (multilingual USE blended with MiniLM-L6 for "
            "English, offline), 'bundled-minilm', 'bundled-use', or a sentence-transformers name/path."),
    Setting("embed_backend", str, "auto", "auto | onnx | onnx-int8 | torch."),
    Setting("near_duplicate_threshold", float, 0.0, "MinHash Jaccard above which articles fold; 0 = the measured default."),
    Setting("story_threshold", float, 0.0, "Similarity for joining a story; 0 = the measured default."),
    Setting("heat_half_life_hours", float, 6.0, "Half-life of a story's activity in the heat score."),
    Setting("related_count", int, 5, "Related records per article."),
    Setting("related_window_days", float, 14.0, "Related records are published within ± this many days."),
    Setting("reembed_batch", int, 64, "Articles embedded by another model that each enrichment run (and the idle desk) "
            "embeds again after an embed_model change; 0 = none (`newsdesk reembed` does them all)."),
    Setting("enrich", bool, True, "Run enrichment (embeddings, topics, scores, related) after ingestion."),
    # images, secured payload, publishing
    Setting("cache_images", bool, True, "Download article images into the cache."),
    Setting("image_cache_max_bytes", int, 2_000_000_000, "Image cache size before least-recently-used eviction."),
    Setting("thumbnail_width", int, 400, "Thumbnail width in pixels."),
    Setting("secret_key", str, "", "Base64 of 32 bytes for AES-256-GCM; empty = the key file in data_dir.", secret=True),
    Setting("key_file", Path, Path(), "Key ring file; empty = <data_dir>/newsdesk.key."),
    Setting("encrypt", bool, True, "Keep the full text only encrypted (the record's `secured`)."),
    Setting("index_full_text", bool, False, "Let full-text search index the article text (in clear) too."),
    Setting("publish_rules", list, [], "Ordered rules, e.g. 'publish: quality >= 40 and \"AI in Finance\" in topics'."),
    # the desk (`newsdesk serve`): outputs kept up to date as the store changes
    Setting("live_records", bool, True, "`serve` keeps records_dir up to date (every article, as `export` writes it)."),
    Setting("desk_nice", int, 0, "Nice increment of `serve`'s desk thread and the threads and processes it starts "
            "(extraction, embedding), Linux: on busy cores requests get the CPU first; 0 = same priority "
            "(no gain measured yet at 100k articles, docs/benchmarks.md)."),
    Setting("desk_wake_gather_s", float, 1.5, "After a wake (a source added or polled now), `serve`'s desk waits this "
            "long for more, each one restarting the wait (at most 5x this in all), so a burst is one cycle; 0 = none."),
    Setting("feeds_dir", Path, Path(), "`serve` keeps RSS/Atom/JSON Feed files of published records here; empty = off."),
    Setting("feeds_base_url", str, "http://127.0.0.1:8000/feeds", "Public URL the feed files are served from."),
    # scale-out
    Setting("redis_url", str, "redis://127.0.0.1:6379/0", "Redis for the job queue (`newsdesk worker`, `schedule`)."),
    Setting("queue_name", str, "newsdesk", "Queue the scheduler fills and workers drain."),
    # API
    Setting("api_host", str, "127.0.0.1", "Address `serve` listens on."),
    Setting("api_port", int, 8000, "Port `serve` listens on."),
    Setting("api_workers", int, 1, "Processes `serve` answers requests in; 0 = one per CPU core. With more "
            "than one the desk runs in the process that supervises them (docs/deploy.md)."),
    Setting("response_cache", int, 2000, "Anonymous GET answers (lists, articles, search, pages) each "
            "process keeps until the next change; 0 = off."),
    Setting("public_read", bool, True, "Reading public data needs no token."),
    Setting("write_rate_limit", int, 60, "Write requests per minute per token; 0 = no limit."),
    Setting("cors_origins", list, [], "Origins allowed by CORS; empty = CORS off."),
    # WebSub (issue 16): push in from hubs, pings out to ours
    Setting("public_url", str, "", "Base URL the world reaches this server at (e.g. https://desk.example.org); "
            "for WebSub callbacks (empty = no subscriptions) and links in digest emails (empty = http://api_host:api_port)."),
    Setting("websub_hub", str, "", "Hub newsdesk's own feeds declare and ping when they change; empty = none."),
    Setting("websub_lease_s", int, 864_000, "Lease asked of hubs, seconds (10 days, the spec's example default)."),
    # heat on slow beats (issue 11)
    Setting("heat_half_life_topics", list, [], "Half-lives for slower beats, one 'Topic=hours' per item (e.g. "
            "'AI in Finance=24'); a story takes the longest of its topics', else heat_half_life_hours."),
    # webhooks, alerts and email digests
    Setting("webhook_max_attempts", int, 8, "Attempts before a webhook delivery is dead (redeliver by hand)."),
    Setting("webhook_retry_base", float, 30.0, "Seconds before the first retry; doubles each attempt (jittered, at most 6 h)."),
    Setting("webhook_timeout", float, 10.0, "Seconds a webhook receiver has to answer one attempt."),
    Setting("smtp_host", str, "", "SMTP server for email digests; empty = digests off."),
    Setting("smtp_port", int, 587, "SMTP port (587: submission with STARTTLS)."),
    Setting("smtp_user", str, "", "SMTP login; empty = no AUTH."),
    Setting("smtp_password", str, "", "SMTP password.", secret=True),
    Setting("smtp_starttls", bool, True, "Upgrade the SMTP connection with STARTTLS before AUTH (refuse if the server cannot)."),
    Setting("smtp_ca_file", Path, Path(), "CA bundle that signs the SMTP server's certificate; empty = the system's CAs."),
    Setting("mail_from", str, "newsdesk@localhost", "From address of digest emails."),
    # operations
    Setting("log_format", str, "text", "Log lines of `serve`: text, or json (one JSON object a line, for journald/Loki)."),
)
# fmt: on
_BY_NAME = {s.name: s for s in SETTINGS}


class SettingValues:
    """The settings as typed attributes, one per row of :data:`SETTINGS`, so that a misspelt or mistyped
    read fails mypy (``tests/test_docs.py`` keeps this list and the table the same). They are bare
    annotations: no class attribute exists, so at run time :class:`Settings` looks each name up in its
    values."""

    data_dir: Path
    database_url: str
    records_dir: Path
    sources_file: Path
    taxonomy_file: Path
    user_agent: str
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_body_bytes: int
    max_redirects: int
    concurrency: int
    per_host_concurrency: int
    per_host_delay: float
    allow_private_networks: bool
    respect_robots: bool
    workers: int
    inline_jobs: int
    pool_idle_s: float
    poll_min_interval: float
    poll_max_interval: float
    fetch_pages: bool
    extract_fast: bool
    embed_model: str
    embed_backend: str
    near_duplicate_threshold: float
    story_threshold: float
    heat_half_life_hours: float
    related_count: int
    related_window_days: float
    reembed_batch: int
    enrich: bool
    cache_images: bool
    image_cache_max_bytes: int
    thumbnail_width: int
    secret_key: str
    key_file: Path
    encrypt: bool
    index_full_text: bool
    publish_rules: list[str]
    live_records: bool
    desk_nice: int
    desk_wake_gather_s: float
    feeds_dir: Path
    feeds_base_url: str
    redis_url: str
    queue_name: str
    api_host: str
    api_port: int
    api_workers: int
    response_cache: int
    public_read: bool
    write_rate_limit: int
    cors_origins: list[str]
    public_url: str
    websub_hub: str
    websub_lease_s: int
    heat_half_life_topics: list[str]
    webhook_max_attempts: int
    webhook_retry_base: float
    webhook_timeout: float
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_starttls: bool
    smtp_ca_file: Path
    mail_from: str
    log_format: str


@dataclass(frozen=True)
class Settings(SettingValues):
    """Validated settings. ``origins`` says where each value came from (default, file, env)."""

    values: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            try:
                return self.values[name]
            except KeyError:
                raise AttributeError(name) from None

    @property
    def database(self) -> str:
        if self.values["database_url"]:
            return str(self.values["database_url"])
        return f"sqlite:///{self.values['data_dir'] / 'newsdesk.db'}"

    @property
    def key_path(self) -> Path:
        path: Path = self.values["key_file"]
        return path if str(path) not in ("", ".") else self.values["data_dir"] / "newsdesk.key"

    @property
    def models_dir(self) -> Path:
        """Where ``newsdesk init`` builds the embedding model's ONNX graph and every embedder loads it."""
        path: Path = self.values["data_dir"] / "models"
        return path

    def with_values(self, **changes: Any) -> Settings:
        values = dict(self.values)
        origins = dict(self.origins)
        for name, raw in changes.items():
            values[name] = _convert(_BY_NAME[name], raw, "override")
            origins[name] = "override"
        return Settings(values, origins)


def load_settings(
    config_file: Path | None = None, env: Mapping[str, str] | None = None, *, base_dir: Path | None = None
) -> Settings:
    """Defaults ← newsdesk.toml ← NEWSDESK_* variables. Relative paths are taken from ``base_dir``
    (the folder of the config file, else the current directory)."""
    env = os.environ if env is None else env
    path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", CONFIG_FILE))
    values = {s.name: s.default for s in SETTINGS}
    origins = dict.fromkeys(values, "default")
    for name, raw in _read_toml(path, must_exist=config_file is not None).items():
        values[name] = _convert(_BY_NAME[name], raw, str(path))
        origins[name] = str(path)
    for setting in SETTINGS:
        key = ENV_PREFIX + setting.name.upper()
        if key in env:
            values[setting.name] = _convert(setting, env[key], key)
            origins[setting.name] = key
    root = base_dir or (path.parent if path.exists() else Path.cwd())
    for setting in SETTINGS:
        value = values[setting.name]
        if setting.type is Path and str(value) not in ("", ".") and not value.is_absolute():
            values[setting.name] = root / value
    return Settings(values, origins)


def _read_toml(path: Path, *, must_exist: bool) -> dict[str, Any]:
    if not path.exists():
        if must_exist:
            raise SettingsError(f"{path}: no such settings file")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from e
    for name in data:
        if name not in _BY_NAME:
            raise SettingsError(f"{path}: unknown setting {name!r} (see `newsdesk config` for the list)")
    return data


def _convert(setting: Setting, raw: Any, origin: str) -> Any:
    """Coerce ``raw`` (a TOML value or an environment string) to the setting's type."""
    where = f"{origin}: {setting.name}"
    try:
        if setting.type is bool:
            return _to_bool(raw)
        if setting.type is list:
            return _to_list(raw)
        if setting.type in (int, float):
            if isinstance(raw, bool):
                raise ValueError
            value = setting.type(raw)
            if value < 0:
                raise SettingsError(f"{where}: must not be negative, got {raw!r}")
            return value
        if setting.type is Path:
            return Path(str(raw)).expanduser()
        if not isinstance(raw, str):
            raise ValueError
        return raw
    except (ValueError, TypeError) as e:
        raise SettingsError(f"{where}: expected {setting.type.__name__}, got {raw!r}") from e


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _to_list(raw: Any) -> list[str]:
    if isinstance(raw, list):
        if not all(isinstance(item, str) for item in raw):
            raise ValueError(raw)
        return list(raw)
    if isinstance(raw, str):  # environment: one item per line (rules contain commas)
        return [line.strip() for line in raw.splitlines() if line.strip()]
    raise ValueError(raw)


def describe(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(name, value, origin, help) for every setting; secrets are masked."""
    rows = []
    for s in SETTINGS:
        value = settings.values[s.name]
        shown = ("****" if value else "") if s.secret else str(value)
        rows.append((s.name, shown, settings.origins.get(s.name, "default"), s.help))
    return rows


def settings_markdown() -> str:
    """docs/settings.md: the settings table, generated so that it can never drift from the code."""
    lines = [
        "# Settings",
        "",
        "Generated by `newsdesk config --markdown` from the table in `newsdesk/config.py`; a test fails when",
        "this page and the code disagree. Each setting is read from `newsdesk.toml` (top-level key) and from",
        "the environment variable `NEWSDESK_<NAME>`, which wins.",
        "",
        "| setting | type | default | what it does |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = "(secret)" if s.secret else (str(s.default) or '""')
        text = s.help.replace("|", "\\|")
        lines.append(f"| `{s.name}` | {s.type.__name__} | `{default}` | {text} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- sources.yaml

SOURCE_KEYS = frozenset(
    {
        "url",
        "kind",
        "name",
        "category",
        "type",
        "topics",
        "poll_min",
        "poll_max",
        "allow_loopback",
        "reputation",
    }
)


def parse_sources(data: Any, origin: str = "sources.yaml") -> list[Source]:
    """Validate the parsed YAML of a sources file: a list of mappings, or ``{sources: [...]}``."""
    if isinstance(data, dict) and "sources" in data:
        data = data["sources"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise SettingsError(f"{origin}: expected a list of sources")
    return [_source(item, f"{origin}: source {i + 1}") for i, item in enumerate(data)]


def _source(item: Any, where: str) -> Source:
    if isinstance(item, str):
        item = {"url": item}
    if not isinstance(item, dict) or "url" not in item:
        raise SettingsError(f"{where}: each source needs at least a url")
    unknown = set(item) - SOURCE_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return Source(
            url=str(item["url"]),
            kind=SourceKind(item.get("kind", "feed")),
            name=item.get("name"),
            category=item.get("category"),
            type=item.get("type"),
            topics=tuple(item.get("topics") or ()),
            poll_min_s=item.get("poll_min"),
            poll_max_s=item.get("poll_max"),
            allow_loopback=bool(item.get("allow_loopback", False)),
            reputation=item.get("reputation"),
        )
    except (ValueError, TypeError) as e:
        raise SettingsError(f"{where}: {e}") from e


# libyaml's parser when PyYAML has it, else the pure-Python one; the same safe constructor builds the
# objects either way. The bundled taxonomy, which every run reads (preflight), parses in 2 CPU-ms
# instead of 16 (docs/benchmarks.md, "the cold CLI").
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, C or Python


def load_sources(path: Path) -> list[Source]:
    if not path.exists():
        return []
    try:
        data = _read_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: not valid YAML: {e}") from e
    return parse_sources(data, str(path))


# ------------------------------------------------------------------------------------ taxonomy.yaml


def parse_taxonomy(data: Any, origin: str = "taxonomy.yaml") -> Taxonomy:
    """A taxonomy from parsed YAML: ``{topics: [{name, description, keywords, parent}, …]}`` or the bare
    list. Every problem names the topic: a missing or repeated name, an unknown parent, a cycle (spelled
    out, ``A → B → A``), keywords that are not a list."""
    items = data.get("topics") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise SettingsError(f"{origin}: expected a non-empty 'topics' list")
    topics = [_topic(item, index, origin) for index, item in enumerate(items, start=1)]
    _check_tree(topics, origin)
    return Taxonomy(tuple(topics))


def _topic(item: Any, index: int, origin: str) -> Topic:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
        raise SettingsError(f"{origin}: topic #{index} has no name")
    keywords = item.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str | int | float) for k in keywords):
        raise SettingsError(f"{origin}: topic {item['name']!r}: keywords must be a list of strings")
    parent = item.get("parent")
    try:
        return Topic(
            name=item["name"].strip(),
            description=str(item.get("description") or "").strip(),
            keywords=tuple(str(k).strip() for k in keywords if str(k).strip()),
            parent=str(parent).strip() if parent is not None else None,
        )
    except ValueError as e:
        raise SettingsError(f"{origin}: topic #{index}: {e}") from e


def _check_tree(topics: list[Topic], origin: str) -> None:
    parents: dict[str, str | None] = {}
    for topic in topics:
        if topic.name in parents:
            raise SettingsError(f"{origin}: topic {topic.name!r} appears twice")
        parents[topic.name] = topic.parent
    for topic in topics:
        if topic.parent is not None and topic.parent not in parents:
            raise SettingsError(f"{origin}: topic {topic.name!r} has an unknown parent {topic.parent!r}")
    for topic in topics:
        chain, parent = [topic.name], topic.parent
        while parent is not None:
            if parent in chain:
                raise SettingsError(f"{origin}: the taxonomy has a cycle: {' → '.join([*chain, parent])}")
            chain.append(parent)
            parent = parents[parent]


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The taxonomy at ``path``, or the bundled default when ``path`` is empty."""
    if path is None or str(path) in ("", "."):
        text = resources.files("newsdesk").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
        origin = "bundled taxonomy.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SettingsError(f"{path}: cannot read the taxonomy: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise SettingsError(f"{path}: cannot read the taxonomy: not UTF-8 text ({e.reason})") from e
        origin = str(path)
    try:
        data = _read_yaml(text)
    except yaml.YAMLError as e:
        raise SettingsError(f"{origin}: cannot read the taxonomy: not valid YAML: {e}") from e
    return parse_taxonomy(data, origin)
