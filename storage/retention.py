"""Retention: old items out, the search index kept in step with what is stored."""

from __future__ import annotations

from .repository import Storage
from .search import index_pending, optimize_index, prune_items

__all__ = ["index_new_items", "prune_old_items"]


async def index_new_items(storage: Storage) -> int:
    """Index items stored since the last call (search would also do it before reading)."""
    return await index_pending(storage.engine)


async def prune_old_items(storage: Storage, *, keep_days: int) -> int:
    """Delete items older than ``keep_days`` (never those of a development still shown), then
    compact the search index; returns how many items went."""
    async with storage.session() as session, session.begin():
        pruned = await prune_items(session, keep_days=keep_days)
    await optimize_index(storage.engine)
    return pruned
