"""What every part of the repository shares: the engine and its sessions, and the errors.

:class:`Connection` is the base of the per-concept parts (``feed_store``, ``item_store``,
``story_store``) that :class:`storage.repository.Storage` is made of.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from stories.errors import NewsbotError

from .db import backend_name
from .known_items import KnownItems

__all__ = ["AlreadyExists", "Connection", "NotFound", "StorageError"]


class StorageError(NewsbotError):
    """A repository operation that cannot be done as asked; ``str()`` says why."""


class NotFound(StorageError):
    """The named feed, story or chat does not exist."""


class AlreadyExists(StorageError):
    """A feed URL or story name is taken."""


class Connection:
    """One database (SQLite file or PostgreSQL): its engine, sessions, backend name, and the
known-items cache."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.backend = backend_name(url)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Each feed's last window of entries: stores skip what is known (items), and removing
        # a feed forgets its window (feeds).
        self._known = KnownItems()

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        """A new session, for modules of storage/ (search) that need raw access."""
        return self._sessions()

    async def count_rows(self, key: InstrumentedAttribute[int], *where: ColumnElement[bool]) -> int:
        """How many rows of ``key``'s table (its primary key) meet every condition in ``where``."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(key)).where(*where)) or 0)
