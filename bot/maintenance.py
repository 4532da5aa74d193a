"""Housekeeping on a schedule: prune old items (``storage.retention`` does the work)."""

from __future__ import annotations

import logging

from storage import retention
from storage.repository import Storage

from .config import Config

log = logging.getLogger("newsbot.maintenance")

# How often `run` prunes and compacts (seconds).
PRUNE_INTERVAL = 24 * 3600.0


async def prune_old_items(storage: Storage, config: Config) -> int:
    """Delete items older than ``storage.keep_days`` (never those of a development still shown)."""
    pruned = await retention.prune_old_items(storage, keep_days=config.storage.keep_days)
    log.info("pruned items=%d keep_days=%d", pruned, config.storage.keep_days)
    return pruned
