"""The store's editorial and read side: decisions, events, runs, tokens, meta, and the read models
behind the API and the UI (each one query whatever the store holds)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    func,
    insert,
    literal_column,
    select,
    update,
)

from ..model import Article, ReviewState, Story, now, utc
from . import rows, search
from . import tables as t
from .base import StoreBase, _as_date, _chunks, _inserted_id

log = logging.getLogger(__name__)


TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)  # how stale a token's last_used_at may get


class ReadModels(StoreBase):
    # ------------------------------------------------------------------------- decisions and events

    def record_decision(
        self, article_id: int, action: str, actor: str, reason: str = "", data: dict[str, Any] | None = None
    ) -> int:
        """Log a decision; its id (an undo names the decision it reverts)."""
        with self._begin() as c:
            return _inserted_id(
                c.execute(
                    insert(t.decisions).values(
                        article_id=article_id,
                        action=action,
                        actor=actor,
                        reason=reason,
                        at=now(),
                        data=data or {},
                    )
                )
            )

    def decisions(self, article_id: int) -> list[dict[str, Any]]:
        query = select(t.decisions).where(t.decisions.c.article_id == article_id).order_by(t.decisions.c.id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def set_review_state(
        self, article_id: int, state: ReviewState, *, expect: ReviewState | None = None
    ) -> bool:
        """Move an article to ``state`` (and ``published`` with it); with ``expect``, only from that state —
        two editors publishing at once: one wins, the other learns it was already done."""
        values = rows.review_columns(ReviewState(state)) | {"updated_at": now()}
        condition = t.articles.c.id == article_id
        if expect is not None:
            condition = and_(condition, t.articles.c.review_state == ReviewState(expect).value)
        with self._begin() as c:
            return bool(c.execute(update(t.articles).where(condition).values(**values)).rowcount)

    def record_event(
        self,
        kind: str,
        message: str,
        *,
        source_id: int | None = None,
        article_id: int | None = None,
        url: str | None = None,
        run_id: int | None = None,
        level: str = "error",
    ) -> None:
        row = {"kind": kind, "message": message[:4000], "source_id": source_id, "article_id": article_id,
               "url": url, "run_id": run_id, "level": level, "at": now()}  # fmt: skip
        with self._begin() as c:
            c.execute(insert(t.events).values(**row))

    def events(
        self, *, source_id: int | None = None, run_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(t.events)
        if source_id is not None:
            query = query.where(t.events.c.source_id == source_id)
        if run_id is not None:
            query = query.where(t.events.c.run_id == run_id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(t.events.c.id.desc()).limit(limit)).mappings()]

    def start_run(self) -> int:
        with self._begin() as c:
            return _inserted_id(c.execute(insert(t.runs).values(started_at=now(), stats={})))

    def finish_run(self, run_id: int, stats: dict[str, Any]) -> None:
        with self._begin() as c:
            c.execute(update(t.runs).where(t.runs.c.id == run_id).values(finished_at=now(), stats=stats))

    # -------------------------------------------------------------------------------------- tokens

    def create_token(self, name: str, scope: str, token_hash: str) -> int:
        with self._begin() as c:
            values = {"name": name, "scope": scope, "token_hash": token_hash, "created_at": now()}
            return _inserted_id(c.execute(insert(t.tokens).values(**values)))

    def find_token(self, token_hash: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this hash; marks it used."""
        query = select(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
        with self.engine.connect() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            return None
        last = row["last_used_at"]
        if last is None or now() - utc(last) > TOKEN_TOUCH_INTERVAL:  # not a write per request
            with self._begin() as c:
                c.execute(update(t.tokens).where(t.tokens.c.id == row["id"]).values(last_used_at=now()))
        return dict(row)

    def list_tokens(self) -> list[dict[str, Any]]:
        query = select(t.tokens.c.id, t.tokens.c.name, t.tokens.c.scope, t.tokens.c.created_at,
                       t.tokens.c.revoked_at, t.tokens.c.last_used_at)  # fmt: skip
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(t.tokens.c.id)).mappings()]

    def revoke_token(self, token_id: int) -> bool:
        live = and_(t.tokens.c.id == token_id, t.tokens.c.revoked_at.is_(None))
        with self._begin() as c:
            return bool(c.execute(update(t.tokens).where(live).values(revoked_at=now())).rowcount)

    # ---------------------------------------------------------------------------------------- meta

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as c:
            row = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._begin() as c:
            if c.execute(update(t.meta).where(t.meta.c.key == key).values(value=value)).rowcount == 0:
                c.execute(insert(t.meta).values(key=key, value=value))

    def change_stamp(self) -> tuple[Any, ...]:
        """A value that moves whenever a record could read differently: an article saved, decided or
        removed (count and newest ``updated_at``, both indexed) or a run finished (enrichment, heat,
        related and rules write elsewhere). The desk compares it to decide whether to rewrite outputs."""
        articles = select(func.count(), func.max(t.articles.c.updated_at)).select_from(t.articles)
        runs = select(func.max(t.runs.c.id), func.max(t.runs.c.finished_at))
        with self.engine.connect() as c:
            return (*c.execute(articles).one(), *c.execute(runs).one())

    def topic_counts(self) -> dict[str, int]:
        query = select(t.article_topics.c.topic, func.count()).group_by(t.article_topics.c.topic)
        with self.engine.connect() as c:
            return {str(topic): int(n) for topic, n in c.execute(query)}

    # --------------------------------------------------------------- read models (newsdesk.catalog)
    # What the API and the web UI show, counted and filtered in SQL: each is one query whatever the
    # store holds. ``published_only`` is the anonymous reader's view (see newsdesk.catalog.Audience).

    def topic_totals(self, *, published_only: bool = False) -> dict[str, int]:
        """Articles per topic (as :meth:`topic_counts`), only the published ones with ``published_only``."""
        at, a = t.article_topics, t.articles
        query = select(at.c.topic, func.count()).select_from(at.join(a, a.c.id == at.c.article_id))
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            return {str(topic): int(n) for topic, n in c.execute(query.group_by(at.c.topic))}

    def topic_day_counts(
        self,
        since: datetime,
        until: datetime,
        *,
        topics: Sequence[str] | None = None,
        published_only: bool = False,
    ) -> list[tuple[str, date, int]]:
        """``(topic, UTC day, articles)`` for the articles whose ``sort_at`` (publication, else first
        sighting) is in ``[since, until)``, grouped by topic and day; days without articles are absent."""
        at, a = t.article_topics, t.articles
        day = self._utc_day(a.c.sort_at).label("day")
        query = (
            select(at.c.topic, day, func.count())
            .select_from(at.join(a, a.c.id == at.c.article_id))
            .where(a.c.sort_at >= since, a.c.sort_at < until)
        )
        if topics is not None:
            query = query.where(at.c.topic.in_(list(topics)))
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            found = c.execute(query.group_by(at.c.topic, day))
            return [(str(topic), _as_date(when), int(n)) for topic, when, n in found]

    def _utc_day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column. SQLite keeps UTC text (``YYYY-MM-DD HH:MM:SS``);
        PostgreSQL's ``timestamptz`` is shifted to UTC first so the session time zone cannot move a day.
        'UTC' is inlined, not bound: with server-side binding the SELECT and GROUP BY copies of a bound
        value are different parameters, and PostgreSQL would refuse the grouping."""
        if self.dialect == "sqlite":
            return func.date(column)
        return func.date(func.timezone(literal_column("'UTC'"), column))

    def article_total(
        self, *, since: datetime | None = None, until: datetime | None = None, published_only: bool = False
    ) -> int:
        """How many articles (``sort_at`` in ``[since, until)`` when given; published only if asked)."""
        a = t.articles
        query = select(func.count()).select_from(a)
        if since is not None:
            query = query.where(a.c.sort_at >= since)
        if until is not None:
            query = query.where(a.c.sort_at < until)
        if published_only:
            query = query.where(a.c.published.is_(True))
        with self.engine.connect() as c:
            return int(c.execute(query).scalar_one())

    def published_among(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are published articles: filters a ranking without loading whole rows."""
        out: set[int] = set()
        a = t.articles
        with self.engine.connect() as c:
            for chunk in _chunks(list(ids), 500):
                query = select(a.c.id).where(a.c.id.in_(chunk), a.c.published.is_(True))
                out.update(int(i) for (i,) in c.execute(query))
        return out

    def image_published(self, sha256: str) -> bool:
        """Whether a published article shows the cached image ``sha256``: the public may see an image
        only through an article it may see. One indexed lookup (``article_images``)."""
        a, ai = t.articles, t.article_images
        query = (
            select(ai.c.article_id)
            .join(a, a.c.id == ai.c.article_id)
            .where(ai.c.sha256 == sha256, a.c.published.is_(True))
            .limit(1)
        )
        with self.engine.connect() as c:
            return c.execute(query).first() is not None

    def search_ranking(self, q: str, *, limit: int = 20) -> list[tuple[int, float]]:
        """``(article id, score)`` best first, as :meth:`search` ranks them, without loading the articles."""
        with self.engine.connect() as c:
            return search.search_ids(c, q, limit)

    def top_stories(
        self, *, limit: int = 50, since: datetime | None = None, published_only: bool = False
    ) -> list[Story]:
        """Stories hottest first (as :meth:`list_stories`); with ``published_only`` only the stories
        holding at least one published article."""
        s, a = t.stories, t.articles
        query = select(s)
        if since is not None:
            query = query.where(s.c.last_seen_at >= since)
        if published_only:
            shown = select(a.c.id).where(a.c.story_id == s.c.id, a.c.published.is_(True)).exists()
            query = query.where(shown)
        query = query.order_by(s.c.heat.desc(), s.c.last_seen_at.desc()).limit(limit)
        with self.engine.connect() as c:
            return [rows.story_from_row(r) for r in c.execute(query).mappings()]

    def articles_of_stories(
        self, story_ids: Sequence[int], *, published_only: bool = False
    ) -> dict[int, list[Article]]:
        """Each story's articles, oldest first (as :meth:`story_articles`), for many stories in one
        query per 500; a story without (published) articles is absent."""
        a = t.articles
        out: dict[int, list[Article]] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(list(story_ids), 500):
                query = select(a).where(a.c.story_id.in_(chunk))
                if published_only:
                    query = query.where(a.c.published.is_(True))
                for row in c.execute(query.order_by(a.c.sort_at, a.c.id)).mappings():
                    out.setdefault(int(row["story_id"]), []).append(rows.article_from_row(row))
        return out
