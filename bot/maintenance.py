"""Housekeeping on a schedule: keep the search index in step, prune old items."""

from __future__ import annotations

import logging

from storage.repository import Storage
from storage.search import index_pending, optimize_index, prune_items

from .config import Config

log = logging.getLogger("newsbot.maintenance")

# How often `run` prunes and compacts (seconds).
PRUNE_INTERVAL = 24 * 3600.0


async def index_new_items(storage: Storage) -> int:
    """Index items stored since the last call (search would also do it before reading)."""
    return await index_pending(storage.engine)


async def prune_old_items(storage: Storage, config: Config) -> int:
    """Delete items older than ``storage.keep_days`` (never those of a development still shown)."""
    async with storage.session() as session, session.begin():
        pruned = await prune_items(session, keep_days=config.storage.keep_days)
    await optimize_index(storage.engine)
    log.info("pruned items=%d keep_days=%d", pruned, config.storage.keep_days)
    return pruned
