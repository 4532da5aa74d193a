"""Only one process may long-poll Telegram: a database-backed lock that fails fast.

Two processes calling ``getUpdates`` with one token make Telegram answer 409
Conflict to both, over and over, and updates go to whichever asked last. So the
bot takes this lock before it starts polling::

    async with polling_lock(storage) as lock:
        ...  # run the updater; lock.lost is set if the lock cannot be kept

and a second process gets :class:`AlreadyRunning` at once, with a message that says
what to do. The lock lives where the processes meet anyway, the database
(``storage.locks.exclusive_lock``): a session advisory lock on PostgreSQL, which the
server drops when a crashed or SIGKILLed holder's connection ends, and on SQLite an
exclusive ``flock`` on a file next to the database file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from storage.locks import HeldLock, LockTaken, exclusive_lock
from storage.repository import Storage
from stories.errors import NewsbotError

POLLING_LOCK = "telegram-polling"

__all__ = ["POLLING_LOCK", "AlreadyRunning", "HeldLock", "polling_lock"]


class AlreadyRunning(NewsbotError):
    """Another process holds the lock; ``str()`` says which lock and what to do."""


@contextlib.asynccontextmanager
async def polling_lock(
    storage: Storage, name: str = POLLING_LOCK, *, check_interval: float = 30.0
) -> AsyncIterator[HeldLock]:
    """Hold the single-poller lock ``name`` for the block; raise :class:`AlreadyRunning` if taken."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            held = await stack.enter_async_context(
                exclusive_lock(storage, name, check_interval=check_interval)
            )
        except LockTaken as taken:
            raise AlreadyRunning(
                f"another newsbot process is already long-polling Telegram: {taken}. Only one process "
                "may call getUpdates with a bot token. Stop the other process, or run several bot "
                'processes in webhook mode ([telegram] mode = "webhook").'
            ) from None
        yield held
