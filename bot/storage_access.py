"""Opening the database for a command: migrate, connect, seed.

Kept apart from :mod:`bot.app` so read-only commands (``search``, ``stories``, ``feeds``...)
import only storage, not the poller, the tracker or python-telegram-bot (issue 14 item 3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from storage.locks import upgrade_once
from storage.repository import Storage

from .config import Config
from .observability import install_log_redaction

__all__ = ["feed_url", "open_storage"]

log = logging.getLogger("newsbot")


def feed_url(config: Config, url: str) -> str:
    """A configured feed URL, with relative ``file:`` paths resolved against the config's folder."""
    # Only a file: URL needs the feeds layer (and httpx): urlsplit drops tabs and newlines
    # anywhere and ignores case, so this cannot miss one.
    if "file:" not in url.lower().translate({9: None, 10: None, 13: None}):
        return url
    from feeds.fetch import resolve_file_url

    base = config.path.parent if config.path else Path.cwd()
    return resolve_file_url(url, base)


@asynccontextmanager
async def open_storage(
    config: Config, *, seed: bool = True, connect: Callable[[Config], Storage] | None = None
) -> AsyncIterator[Storage]:
    """Migrate the database (under the migration lock), open it (with ``connect``, default
    ``Storage.connect``), and seed configured feeds and stories on first start."""
    install_log_redaction(*config.secrets())
    await asyncio.to_thread(upgrade_once, config.database.url)
    storage = connect(config) if connect else Storage.connect(config.database.url)
    try:
        if seed:
            feeds, stories = await storage.seed(
                [(feed_url(config, f.url), f.title) for f in config.feeds],
                [(s.name, s.query) for s in config.stories],
            )
            if feeds or stories:
                log.info("first start: added %d feeds and %d stories from %s", feeds, stories, config.path)
        yield storage
    finally:
        await storage.close()
