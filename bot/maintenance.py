"""Housekeeping on a schedule: prune old items (``storage.retention`` does the work) and
forget the queries behind old /search paging buttons (``storage.buttons``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from storage import buttons, retention
from storage.repository import Storage

from .config import Config

log = logging.getLogger("newsbot.maintenance")

# How often `run` prunes and compacts (seconds).
PRUNE_INTERVAL = 24 * 3600.0
# A /search result's paging buttons work this long; a later press says the search expired.
SEARCH_BUTTONS_LAST = timedelta(days=7)


async def prune_old_items(storage: Storage, config: Config) -> int:
    """Delete items older than ``storage.keep_days`` (never those of a development still shown)."""
    pruned = await retention.prune_old_items(storage, keep_days=config.storage.keep_days)
    forgotten = await buttons.forget_searches_before(storage, SEARCH_BUTTONS_LAST)
    log.info("pruned items=%d keep_days=%d search_tokens=%d", pruned, config.storage.keep_days, forgotten)
    return pruned
