"""Storage: one schema, two engines (SQLite by default, PostgreSQL by URL).

:class:`Store` is a composition of mixins, one per entity, over :class:`~.base.StoreBase`. The rule:
**a module holds one entity's reads and writes** — not "the writes" in one place and "the read models"
in another, so whoever changes how an entity is stored finds all of it, and its prebuilt statements,
in one file.

Entity modules (each defines one ``…Mixin``):

==================  ==================================================================================
``sources.py``      sources: settings (and the loopback rule), poll health (batched per cycle), what is
                    due
``articles.py``     articles: save/find/list/search/count, and the topic and image rows written with
                    an article
``alternates.py``   the other URLs an article was seen under
``topics.py``       counts of articles per topic (in all, per day)
``stories.py``      stories: clusters, their heat, the articles each holds
``editorial.py``    an article's review state and the decision log (undo included)
``enrichment.py``   what the enrichment stages add: embeddings, near-duplicate signatures, related
                    records, the enriched mark
``sealing.py``      encryption at rest: sealed payloads for key rotation, texts still in the clear
``operations.py``   runs, events, API tokens, ``meta``, the change stamp, the later stages' pending
                    articles (the ``finished_through`` mark)
``changes.py``      the change log: what each move of the change stamp touched (written with the stamp
                    by ``base.py``), and which of some articles match a search's words
``users.py``        users (editors' flag rows too), app passwords, reader-app items and flags
``reading.py``      an editor's review queue and read/starred flags
``alerts.py``       saved searches, alerts, digests
``webhooks.py``     webhooks and their delivery queue
``websub.py``       WebSub subscriptions
``robots.py``       robots.txt rules runs loaded, kept for the next run until they expire
``locks.py``        work one process at a time does on a database (enrichment): PostgreSQL's advisory
                    lock, or ``flock`` beside the SQLite file
==================  ==================================================================================

Shared, entity-free modules: ``base.py`` (:class:`~.base.StoreBase`: the engine, the transaction helper,
small utilities), ``rows.py`` (model object ⇄ row conversions: nothing else knows column names),
``tables.py`` (the schema), ``search.py`` (full-text search, the dialect-specific piece), ``listing.py``
(the article list's filters and page cursor), ``migrate.py`` and ``migrations/``. ``store.py`` only composes the mixins and opens the engine.

Where a new method goes: to the module of the entity whose rows it reads or writes — a count of
articles goes to ``articles.py`` even if only ``/metrics`` asks for it. A table's rows are created in
one module only (``tests/test_store_layout.py`` checks it). When a method spans entities, it goes where
its main table lives, and reaches another entity's rows through that module's connection-level function
(``articles.articles_by_id``, ``articles.existing_ids``), never through a sibling mixin's method. A new
entity gets a new module and a mixin in :class:`Store`'s bases; a module nearing 450 lines is split.
Every public method is one transaction.
"""

from .articles import ArticleQuery, Page, Saved
from .store import Store, make_engine

__all__ = ["ArticleQuery", "Page", "Saved", "Store", "make_engine"]
