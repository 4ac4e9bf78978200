"""The store's stories: clusters of articles about one event, their heat, and the articles they hold.

The clustering stage writes a batch's stories with their centroids and states at once
(:meth:`StoriesMixin.save_stories`); heat is written apart (:meth:`StoriesMixin.update_story_heat`,
:meth:`StoriesMixin.save_story_heats`) so a cluster update never undoes a heat score. An article names
its story (``articles.story_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, update

from ..errors import StorageError
from ..model import Article, Reason, Story, now, utc
from . import rows
from . import tables as t
from .base import StoreBase, _chunks, _inserted_id, note_change
from .webhooks import queue_event_rows

if TYPE_CHECKING:
    from ..events import Event


class HeatMember(NamedTuple):
    """What heat reads of one article of a story, instead of the whole article: a story of many
    articles (a big event, or a large run's generated texts that all cluster together) held every
    article's text and rows at once while its heat was scored (docs/benchmarks.md, "Large runs")."""

    article_id: int
    at: datetime  # its publication time, else when it was first seen
    domain: str
    topics: tuple[str, ...]
    heat: int
    reasons: tuple[Reason, ...]


class StoryWrite(NamedTuple):
    """A story as clustering leaves it, to be saved: its row, centroid and state, and for a new story
    (``story.id`` None) the webhook event announcing it, made from the id it is given."""

    story: Story
    centroid: bytes | None
    state: dict[str, Any]
    event: Callable[[int], Event] | None = None


class HeatWrite(NamedTuple):
    """A story's heat and reasons, and its articles whose values changed (they take both)."""

    story_id: int
    heat: int
    reasons: tuple[Reason, ...]
    article_ids: Sequence[int]


_UPDATE_STORY = update(t.stories).where(t.stories.c.id == bindparam("story_id_"))
_UPDATE_ARTICLE = update(t.articles).where(t.articles.c.id == bindparam("article_id_"))
"""Built once, run with each row's values (the column names) and its id (``story_id_``, ``article_id_``)."""


class StoriesMixin(StoreBase):
    """Stories and their articles. A method here is one transaction, as everywhere."""

    def create_story(
        self,
        story: Story,
        centroid: bytes | None,
        state: dict[str, Any],
        *,
        event: Callable[[int], Event] | None = None,
    ) -> int:
        """A new story; ``event`` (given the new id) is its webhook event, queued in the same transaction."""
        return self.save_stories([StoryWrite(story, centroid, state, event)], [])[0]

    def update_story(self, story: Story, centroid: bytes | None, state: dict[str, Any]) -> None:
        self.save_stories([], [StoryWrite(story, centroid, state)])

    def save_stories(self, new: Sequence[StoryWrite], changed: Sequence[StoryWrite]) -> list[int]:
        """Insert ``new`` (their ids ascend in that order, as one insert at a time would give them) and
        update ``changed``, in one transaction; the new ids. Clustering saves a batch's stories at once,
        each in its final state: a transaction to create a story and one more for each article that
        joined it were most of the stage's store time (docs/benchmarks.md, "Lean pipeline")."""
        ids: list[int] = []
        adding = insert(t.stories)  # one statement, run with each new story's values
        with self._begin() as c:
            for write in new:
                values = _story_values(write.story, write.centroid, write.state) | {"heat": write.story.heat}
                ids.append(_inserted_id(c.execute(adding, values)))
                if write.event is not None:
                    queue_event_rows(c, write.event(ids[-1]))
            note_change(c, stories=[*ids, *(w.story.id for w in changed)])
            if changed:
                updates = [{"story_id_": w.story.id, **_story_values(*w[:3])} for w in changed]
                c.execute(_UPDATE_STORY, updates)
        return ids

    def update_story_heat(self, story_id: int, heat: int) -> None:
        with self._begin() as c:
            note_change(c, stories=[story_id])
            c.execute(update(t.stories).where(t.stories.c.id == story_id).values(heat=heat))

    def save_story_heat(
        self, story_id: int, heat: int, reasons: Sequence[Reason], article_ids: Sequence[int]
    ) -> None:
        self.save_story_heats([HeatWrite(story_id, heat, tuple(reasons), article_ids)])

    def save_story_heats(self, heats: Sequence[HeatWrite]) -> None:
        """Stories' heat and, in the same transaction, the heat and reasons of each one's ``article_ids``
        (its articles whose values changed), which move their ``updated_at`` as a save of the article
        does. One transaction for a chunk of stories (heat saves every touched or warm story)."""
        stamp = now()
        members: list[dict[str, Any]] = []
        for h in heats:
            values = {"heat": h.heat, "heat_reasons": rows._reasons_json(h.reasons), "updated_at": stamp}
            members += [{"article_id_": i, **values} for i in h.article_ids]
        with self._begin() as c:
            note_change(
                c, stories=[h.story_id for h in heats], articles=[i for h in heats for i in h.article_ids]
            )
            if heats:
                c.execute(_UPDATE_STORY, [{"story_id_": h.story_id, "heat": h.heat} for h in heats])
            if members:
                c.execute(_UPDATE_ARTICLE, members)

    def story_member_counts(self, story_ids: Sequence[int]) -> dict[int, int]:
        """How many articles each story of ``story_ids`` holds (a story without any is absent)."""
        a = t.articles
        out: dict[int, int] = {}
        with self._read() as c:
            for chunk in _chunks(sorted(story_ids), 500):
                query = select(a.c.story_id, func.count()).where(a.c.story_id.in_(chunk))
                out |= {int(s): int(n) for s, n in c.execute(query.group_by(a.c.story_id))}
        return out

    def heat_members(self, story_ids: Sequence[int]) -> dict[int, list[HeatMember]]:
        """Each story's articles as heat reads them (:class:`HeatMember`), oldest first, as
        :meth:`articles_of_stories` orders them; a story without articles is absent."""
        a = t.articles
        columns = (a.c.story_id, a.c.id, a.c.published_at, a.c.first_seen_at, a.c.provider_domain)
        query = select(*columns, a.c.topics, a.c.heat, a.c.heat_reasons).order_by(a.c.sort_at, a.c.id)
        out: dict[int, list[HeatMember]] = {}
        with self._read() as c:
            for chunk in _chunks(list(story_ids), 500):
                for story_id, *row in c.execute(query.where(a.c.story_id.in_(chunk))):
                    out.setdefault(int(story_id), []).append(_heat_member(*row))
        return out

    def get_story(self, story_id: int) -> Story:
        with self._read() as c:
            row = c.execute(select(t.stories).where(t.stories.c.id == story_id)).mappings().first()
        if row is None:
            raise StorageError(f"no such story: {story_id}")
        return rows.story_from_row(row)

    def recent_stories(self, since: datetime) -> list[tuple[Story, bytes | None, dict[str, Any]]]:
        query = select(t.stories).where(t.stories.c.last_seen_at >= since).order_by(t.stories.c.id)
        with self._read() as c:
            return [
                (rows.story_from_row(r), r["centroid"], dict(r["state"] or {}))
                for r in c.execute(query).mappings()
            ]

    def recent_stories_after(
        self, since: datetime, after_id: int, limit: int
    ) -> list[tuple[Story, bytes | None, dict[str, Any]]]:
        """A page of :meth:`recent_stories`: at most ``limit`` of them with ids above ``after_id``, so
        that every open story can be read without holding them all."""
        s = t.stories
        query = select(s).where(s.c.last_seen_at >= since, s.c.id > after_id).order_by(s.c.id).limit(limit)
        with self._read() as c:
            return [
                (rows.story_from_row(r), r["centroid"], dict(r["state"] or {}))
                for r in c.execute(query).mappings()
            ]

    def stories_by_id(self, story_ids: Sequence[int]) -> list[tuple[Story, bytes | None, dict[str, Any]]]:
        """The stories of ``story_ids`` with their centroids and states, in id order."""
        s = t.stories
        found: list[tuple[Story, bytes | None, dict[str, Any]]] = []
        with self._read() as c:
            for chunk in _chunks(sorted(story_ids), 500):
                query = select(s).where(s.c.id.in_(chunk)).order_by(s.c.id)
                found += [
                    (rows.story_from_row(r), r["centroid"], dict(r["state"] or {}))
                    for r in c.execute(query).mappings()
                ]
        return found

    def warm_story_ids(self, since: datetime) -> list[int]:
        """Stories seen since ``since`` whose heat is not 0 (it may still fall): ids only, no centroids."""
        s = t.stories
        query = select(s.c.id).where(s.c.last_seen_at >= since, s.c.heat != 0).order_by(s.c.id)
        with self._read() as c:
            return [int(i) for (i,) in c.execute(query)]

    def list_stories(self, *, limit: int = 50, since: datetime | None = None) -> list[Story]:
        query = select(t.stories)
        if since is not None:
            query = query.where(t.stories.c.last_seen_at >= since)
        query = query.order_by(t.stories.c.heat.desc(), t.stories.c.last_seen_at.desc()).limit(limit)
        with self._read() as c:
            return [rows.story_from_row(r) for r in c.execute(query).mappings()]

    def story_articles(self, story_id: int) -> list[Article]:
        query = select(t.articles).where(t.articles.c.story_id == story_id).order_by(t.articles.c.sort_at)
        with self._read() as c:
            return [rows.article_from_row(r) for r in c.execute(query).mappings()]

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
        with self._read() as c:
            return [rows.story_from_row(r) for r in c.execute(query).mappings()]

    def articles_of_stories(
        self, story_ids: Sequence[int], *, published_only: bool = False
    ) -> dict[int, list[Article]]:
        """Each story's articles, oldest first (as :meth:`story_articles`), for many stories in one
        query per 500; a story without (published) articles is absent."""
        a = t.articles
        out: dict[int, list[Article]] = {}
        with self._read() as c:
            for chunk in _chunks(list(story_ids), 500):
                query = select(a).where(a.c.story_id.in_(chunk))
                if published_only:
                    query = query.where(a.c.published.is_(True))
                for row in c.execute(query.order_by(a.c.sort_at, a.c.id)).mappings():
                    out.setdefault(int(row["story_id"]), []).append(rows.article_from_row(row))
        return out


def _heat_member(
    article_id: int,
    published: datetime | None,
    first_seen: datetime,
    domain: str,
    topics: list[str] | None,
    heat: int,
    reasons: list[dict[str, Any]] | None,
) -> HeatMember:
    return HeatMember(
        int(article_id),
        utc(published or first_seen),
        str(domain),
        tuple(topics or ()),
        int(heat),
        tuple(Reason(**r) for r in reasons or ()),
    )


def _story_values(story: Story, centroid: bytes | None, state: dict[str, Any]) -> dict[str, Any]:
    """A story's row; heat is left out — only ``update_story_heat`` writes it."""
    return {
        "title": story.title,
        "first_seen_at": story.first_seen_at,
        "last_seen_at": story.last_seen_at,
        "size": story.size,
        "providers": list(story.providers),
        "centroid": centroid,
        "state": state,
    }
