"""Repository: the only way the rest of newsbot reads and writes the database.

Every public method opens its own short transaction and speaks the core's types
(`stories.model`) or small frozen dataclasses; ORM rows never leave. :class:`Storage` is
one class written in parts by concept, and this module is its public face: the class, the
types its methods take and return, and its errors are all importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .connection import AlreadyExists, NotFound, StorageError
from .db import make_async_engine
from .feed_store import FeedStore, FeedSummary
from .item_store import FeedItems, ItemStore, ItemVerdict, StoredBatch, StoreResult, TrackerInput
from .models import FeedRow, StoryRow
from .story_store import GLOBAL_SCOPE, AuditEntry, StoredItem, StoryStore, name_key

__all__ = [
    "GLOBAL_SCOPE",
    "AlreadyExists",
    "AuditEntry",
    "FeedItems",
    "FeedSummary",
    "ItemVerdict",
    "NotFound",
    "Storage",
    "StorageError",
    "StoreResult",
    "StoredBatch",
    "StoredItem",
    "TrackerInput",
    "name_key",
]


class Storage(FeedStore, ItemStore, StoryStore):
    """Async repository over one database (SQLite file or PostgreSQL).

    One class, one access style, written in parts by concept: feeds (``feed_store``), items
    and the tracker's state (``item_store``), stories (``story_store``), over the shared
    engine and sessions (``connection``).
    """

    @classmethod
    def connect(cls, url: str) -> Storage:
        """Open (lazily) the database at ``url``; migrations are applied separately."""
        return cls(make_async_engine(url), url)

    async def seed(
        self, feeds: Iterable[tuple[str, str]], stories: Iterable[tuple[str, str]]
    ) -> tuple[int, int]:
        """On first start, add the configured feeds and global stories (only into empty tables)."""
        added_feeds = added_stories = 0
        async with self._sessions() as session:
            has_feeds = await session.scalar(select(func.count(FeedRow.id)))
            has_stories = await session.scalar(
                select(func.count(StoryRow.id)).where(StoryRow.scope == GLOBAL_SCOPE)
            )
        if not has_feeds:
            for url, title in feeds:
                try:
                    await self.add_feed(url, title=title or None)
                    added_feeds += 1
                except (AlreadyExists, IntegrityError):
                    pass
        if not has_stories:
            for name, query in stories:
                try:
                    await self.add_story(name, query, user_name="config")
                    added_stories += 1
                except AlreadyExists:
                    pass
        return added_feeds, added_stories
