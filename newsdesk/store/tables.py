"""The schema, written once for both engines (SQLite and PostgreSQL) in SQLAlchemy Core.

Changes to it go through an Alembic migration in ``migrations/versions`` (``make migration``); the
migration is what creates tables in a database, this module is what queries use.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

_CLEAR_TEXT = text("text IS NOT NULL")
_PUBLISHED_SQLITE, _PUBLISHED_PG = text("published = 1"), text("published = true")  # as queries spell it
_UNENRICHED = text("enriched_at IS NULL")
_POSTGRESQL_WHERE = {
    "ix_articles_clear_text": _CLEAR_TEXT,
    "ix_articles_published": _PUBLISHED_PG,
    "ix_articles_unenriched": _UNENRICHED,
}
"""The partial indexes' conditions as PostgreSQL reads them, added to ``metadata`` by
:func:`metadata_for` (see there why not in the ``Index`` calls)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


LABEL_CHARS = 40
"""Length of the category and type columns of sources and articles; the API and OPML import cut or
refuse longer labels by it."""
SOURCE_NAME_CHARS = 300  # a source's display name; a longer feed title is cut to fit


def _ts(name: str, **kw: object) -> Column[object]:
    return Column(name, DateTime(timezone=True), **kw)  # type: ignore[arg-type]


sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(SOURCE_NAME_CHARS)),
    Column("name_given", Boolean, nullable=False, default=False),  # see model.Source.name_given
    Column("category", String(LABEL_CHARS)),
    Column("type", String(LABEL_CHARS)),
    Column("topics", JSON, nullable=False, default=list),
    Column("poll_min_s", Float),
    Column("poll_max_s", Float),
    Column("allow_loopback", Boolean, nullable=False, default=False),
    Column("reputation", Float),
    Column("site_url", String(2048)),
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    _ts("created_at", nullable=False),
    # health, written by the poller
    _ts("last_polled_at"),
    _ts("last_success_at"),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_kind", String(40)),
    _ts("next_poll_at"),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
    Column("interval_s", Float),
    Column("body_hash", String(64)),  # SourceHealth.body_hash
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    _ts("first_seen_at", nullable=False),
    _ts("last_seen_at", nullable=False),
    Column("size", Integer, nullable=False, default=1),
    Column("providers", JSON, nullable=False, default=list),
    Column("heat", Integer, nullable=False, default=-1),
    Column("centroid", LargeBinary),
    Column("state", JSON, nullable=False, default=dict),  # clustering state: title terms, …
    Index("ix_stories_last_seen_at", "last_seen_at"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("canonical_url", String(2048), nullable=False, unique=True),  # webUrl
    Column("original_url", String(2048), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="SET NULL")),
    Column("category", String(LABEL_CHARS), nullable=False),
    Column("title", Text, nullable=False),
    Column("excerpt", Text, nullable=False, default=""),
    _ts("published_at"),
    Column("type", String(LABEL_CHARS), nullable=False),
    Column("quality", Integer, nullable=False, default=-1),
    Column("heat", Integer, nullable=False, default=-1),
    Column("published", Boolean, nullable=False, default=False),  # = review_state is published (rows.py)
    Column("review_state", String(16), nullable=False, default="pending"),  # model.ReviewState
    Column("provider_name", String(300), nullable=False),
    Column("provider_domain", String(300), nullable=False),
    Column("topics", JSON, nullable=False, default=list),
    Column("images", JSON, nullable=False, default=list),
    Column("secured", Text),
    Column("key_id", String(64)),
    Column("text", Text),  # clear text only when encryption is off
    Column("content_hash", String(64)),
    Column("language", String(16)),
    Column("author", String(300)),
    _ts("first_seen_at", nullable=False),
    _ts("sort_at", nullable=False),  # published_at, else first_seen_at: the listing order and cursor
    _ts("fetched_at"),
    _ts("updated_at", nullable=False),
    _ts("enriched_at"),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("quality_reasons", JSON, nullable=False, default=list),
    Column("heat_reasons", JSON, nullable=False, default=list),
    Column("topic_scores", JSON, nullable=False, default=list),
    Column("fetch_error", Text),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
    Column("minhash", LargeBinary),
    Column("names", LargeBinary),  # similarity.names_to_bytes: ≤ 64 uint32 hashes (keyed: after a tag)
    Column("search_text", Text, nullable=False, default=""),
    Column("extra", JSON, nullable=False, default=dict),
    Index("ix_articles_content_hash", "content_hash"),
    Index("ix_articles_original_url", "original_url"),
    Index("ix_articles_published_at", "published_at"),
    Index("ix_articles_sort_at", "sort_at", "id"),
    Index("ix_articles_story_id", "story_id"),
    Index("ix_articles_source_id", "source_id"),
    Index("ix_articles_review_state", "review_state"),
    Index("ix_articles_updated_at", "updated_at"),
    # Rows still holding the full text in the clear (encryption off, or stored by a version that sealed
    # only after enrichment): the sealing stage finds the leftovers through it without a table scan.
    Index("ix_articles_clear_text", "id", sqlite_where=_CLEAR_TEXT),
    # the published articles' ids: the public topic counts walk it instead of every article row
    Index("ix_articles_published", "id", sqlite_where=_PUBLISHED_SQLITE),
    # Rows not enriched yet: the enrichment stage's pending work, found without a table scan.
    Index("ix_articles_unenriched", "id", sqlite_where=_UNENRICHED),
)

article_topics = Table(
    "article_topics",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("rank", Integer, nullable=False),
    Index("ix_article_topics_topic", "topic"),
)

article_images = Table(
    # The cached images (by content hash) each article shows: answers "does a published article show
    # this image?" with one indexed lookup (the public may fetch only such images).
    "article_images",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Index("ix_article_images_sha256", "sha256"),
)

alternates = Table(
    "alternates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="SET NULL")),
    _ts("seen_at", nullable=False),
    Column("reason", String(32), nullable=False),
    Column("provider_name", String(300)),
    Column("provider_domain", String(300)),
    UniqueConstraint("article_id", "url", name="uq_alternates_article_url"),
    Index("ix_alternates_url", "url"),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
)

related = Table(
    "related",
    metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("related_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("similarity", Float, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),  # publish | reject | topics
    Column("actor", String(200), nullable=False),  # "rule: <text>" or the editor's name / token name
    Column("reason", Text, nullable=False, default=""),
    _ts("at", nullable=False),
    Column("data", JSON, nullable=False, default=dict),
    Index("ix_decisions_article_id", "article_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE")),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE")),
    Column("url", String(2048)),
    Column("level", String(8), nullable=False, default="error"),
    Column("kind", String(40), nullable=False),
    Column("message", Text, nullable=False),
    _ts("at", nullable=False),
    Index("ix_events_source_id", "source_id"),
    Index("ix_events_run_id", "run_id"),  # a run's closing count of its errors
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
    Column("stats", JSON, nullable=False, default=dict),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope", String(16), nullable=False),  # read | write | admin
    Column("token_hash", String(128), nullable=False, unique=True),
    _ts("created_at", nullable=False),
    _ts("revoked_at"),
    _ts("last_used_at"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON),
)

change_stamp = Table(
    # One row (id 1); ``seq`` moves in every committed transaction that wrote a table in
    # ``base.STAMPED_TABLES`` (the bump is the transaction's last statement: see base._Transaction).
    "change_stamp",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

change_log = Table(
    # One row per move of ``change_stamp.seq``, written in the same transaction (base.log_change): what
    # that transaction touched, so a reader holding an older stamp can tell which of its answers the
    # move affects (api/cache.py). Ids as sorted comma-separated text; ``everything`` when it cannot say.
    # Pruned to the newest base.LOG_KEPT rows.
    "change_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("articles", Text),
    Column("published", Text),  # those of ``articles`` published after the transaction
    Column("stories", Text),
    Column("lists", Boolean, nullable=False),
    Column("everything", Boolean, nullable=False),
    Column("vectors", Text),  # articles whose vectors it wrote: what semantic search finds (0016)
)

# ------------------------------------------------------------------ reader apps (newsdesk.readerapi)

USER_NAME_CHARS = 64  # a reader app's login field; also the prefix of the Google Reader auth token

users = Table(
    # People who follow the desk in a reader app (Google Reader / Fever APIs). Not API tokens: a user
    # signs in with an app password, reads published records only, and keeps read/starred state.
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(USER_NAME_CHARS), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # reader | editor (editors also get each source as a feed)
    _ts("created_at", nullable=False),
)

app_passwords = Table(
    # One per device or app. Nothing here lets anyone sign in: ``password_hash`` is scrypt (ClientLogin),
    # ``fever_hash`` the SHA-256 of Fever's md5("name:password") api_key, ``greader_hash`` the SHA-256
    # of the Google Reader auth token (see newsdesk.readerapi.users).
    "app_passwords",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("password_hash", String(255), nullable=False),
    Column("fever_hash", String(64), nullable=False, unique=True),
    Column("greader_hash", String(64), nullable=False, unique=True),
    _ts("created_at", nullable=False),
    _ts("last_used_at"),
    Index("ix_app_passwords_user_id", "user_id"),
)

reader_states = Table(
    # A user's read and starred flags; no row means unread and not starred.
    "reader_states",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("is_read", Boolean, nullable=False, default=False),
    Column("starred", Boolean, nullable=False, default=False),
    _ts("updated_at", nullable=False),
    Index("ix_reader_states_article_id", "article_id"),
)

# ------------------------------------------------------ webhooks and alerts (newsdesk.webhooks, .alerts)

webhooks = Table(
    # Where events are POSTed. ``secret`` is the HMAC key: kept in the clear because signing needs it
    # (shown once at creation; docs/webhooks.md). ``allow_private`` lifts the SSRF guard for this URL
    # and is set only by an admin (or the operator at the CLI).
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),  # the kinds it receives (newsdesk.events.EVENT_KINDS)
    Column("secret", String(128), nullable=False),
    Column("allow_private", Boolean, nullable=False, default=False),
    _ts("created_at", nullable=False),
)

webhook_deliveries = Table(
    # One event for one webhook: the body is fixed when the event is emitted (the signature covers it),
    # the worker sends what is due. state: pending | delivered | dead.
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_attempt_at", nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    _ts("created_at", nullable=False),
    _ts("finished_at"),
    Index("ix_webhook_deliveries_state", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_id", "webhook_id"),
)

saved_searches = Table(
    # An editor's standing query; new matching articles become alerts. ``query`` holds the filters
    # (newsdesk.alerts.SearchSpec as JSON); ``digest`` is off | hourly | daily | weekly.
    "saved_searches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("query", JSON, nullable=False),
    Column("digest", String(16), nullable=False, default="off"),
    Column("email", String(320)),
    _ts("last_digest_at"),
    _ts("created_at", nullable=False),
)

alerts = Table(
    # One new match of a saved search; ``seen_at`` set when the editor marks it seen, ``mailed_at`` when
    # a digest carried it.
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("search_id", Integer, ForeignKey("saved_searches.id", ondelete="CASCADE"), nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    _ts("created_at", nullable=False),
    _ts("seen_at"),
    _ts("mailed_at"),
    UniqueConstraint("search_id", "article_id", name="uq_alerts_search_article"),
    Index("ix_alerts_article_id", "article_id"),
)

# ------------------------------------------------------------------ WebSub (newsdesk.websub)

websub_subscriptions = Table(
    # One row per feed source once its hubs were looked for: ``state`` is ``none`` (no hub declared),
    # ``requested`` (subscribe sent, waiting for the hub's verification of intent), ``active`` (verified,
    # leased until ``lease_expires_at``), ``denied`` (the hub refused) or ``failed`` (the hub could not
    # be reached or answered an error). Only ``active`` with a lease in the future slows polling down.
    "websub_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("hub", String(2048)),
    Column("topic", String(2048)),
    Column("callback_key", String(64), nullable=False, unique=True),  # the callback URL's secret path part
    Column("secret", String(128), nullable=False),  # hub.secret: keys the HMAC of every push
    Column("lease_s", Integer),
    _ts("lease_expires_at"),
    _ts("requested_at"),
    _ts("checked_at", nullable=False),  # when the source's feed was last looked at for hubs
    _ts("last_push_at"),
    Column("pushes", Integer, nullable=False, default=0),
    Column("error", Text),
)

# ------------------------------------------------------------------ robots.txt (newsdesk.fetch.robots)

robots_rules = Table(
    # The robots.txt rules runs loaded, kept for the next run until they expire (RFC 9309's 24 hours,
    # 10 minutes after an error): one row per robots.txt URL (scheme://host[:port]/robots.txt), for the
    # user agent they were read for (a run under another agent ignores them). ``rules`` is the parsed
    # group as JSON (fetch.robots.rules_to_json). Rows past ``expires_at`` are deleted as rules are kept.
    "robots_rules",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("user_agent", Text, nullable=False),
    Column("rules", Text, nullable=False),
    _ts("expires_at", nullable=False),
)


def metadata_for(dialect: str) -> MetaData:
    """``metadata`` as the schema stands in a ``dialect`` database, for what compares the two (Alembic's
    autogenerate in ``migrations/env.py``, ``tests/test_migrations.py``). Queries do not read index
    conditions, and migrations create indexes with their own, so only a comparison needs PostgreSQL's:
    they are added here, once, instead of as ``postgresql_where`` in the ``Index`` calls, where
    SQLAlchemy checks the keyword by importing the PostgreSQL dialect, ≈ 40 CPU-ms of every SQLite
    process's start (docs/benchmarks.md, "The cold 304 poll at reader's cost")."""
    if dialect == "postgresql":
        for index in articles.indexes:
            where = _POSTGRESQL_WHERE.get(str(index.name))
            if where is not None and index.dialect_options["postgresql"]["where"] is None:
                index.dialect_options["postgresql"]["where"] = where
    return metadata
