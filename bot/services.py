"""What the Telegram bot runs on: the services handed in by the composition root, and the
bot's own runtime state (permission cache, outbox sender) kept in ``application.bot_data``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext

from storage.repository import Storage
from stories.digest import SearchHit

from .config import Config
from .keyboards import CallbackSigner
from .outbox import OutboxSender
from .permissions import Permissions

if TYPE_CHECKING:  # imported lazily: the bot can run without fetching or tracking
    from .poller import Poller
    from .tracking import TrackingService

__all__ = ["RUNTIME_KEY", "Runtime", "SearchFunction", "SearchPage", "Services", "runtime_of"]

RUNTIME_KEY = "newsbot"


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of full-text search results: the hits, whether more follow, and the total
    number of hits when the search knows it."""

    hits: Sequence[SearchHit]
    has_more: bool
    total: int | None = None


SearchFunction = Callable[[Storage, str, int, int], Awaitable[SearchPage]]
"""``search(storage, query, offset, limit)``; raises ``stories.query.QueryError`` for a bad query.
The default is ``storage.search.search_items``."""


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived services the bot uses, built by the composition root.

    ``poller`` must already be entered (``async with poller``) by whoever built it; it and
    ``tracking`` are optional so that a bot without fetching (or a test) can run.
    ``tracking.start()`` is called by the bot on start-up. ``search`` overrides the full-text
    search used by ``/search`` (default: ``storage.search`` when available).
    """

    config: Config
    storage: Storage
    poller: Poller | None = None
    tracking: TrackingService | None = None
    search: SearchFunction | None = None


@dataclass
class Runtime:
    """The bot's mutable state, shared by handlers and jobs."""

    services: Services
    permissions: Permissions
    sender: OutboxSender
    bot_username: str = ""
    # Signs and checks inline buttons; loaded (with the shared secret) on first use.
    signer: CallbackSigner | None = None
    # One poll at a time: the poll job and /feed add must not fetch the same feed at once.
    poll_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One digest writer at a time: two concurrent builds would both see the same unseen items.
    digest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def config(self) -> Config:
        """The configuration."""
        return self.services.config

    @property
    def storage(self) -> Storage:
        """The repository."""
        return self.services.storage


def runtime_of(
    holder: CallbackContext[Any, Any, Any, Any] | Application[Any, Any, Any, Any, Any, Any],
) -> Runtime:
    """The Runtime stored in the application's ``bot_data``."""
    runtime = holder.bot_data[RUNTIME_KEY]
    assert isinstance(runtime, Runtime)
    return runtime
