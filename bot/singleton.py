"""Only one process may long-poll Telegram: a database-backed lock that fails fast.

Two processes calling ``getUpdates`` with one token make Telegram answer 409
Conflict to both, over and over, and updates go to whichever asked last. So the
bot takes this lock before it starts polling::

    async with polling_lock(storage) as lock:
        ...  # run the updater; lock.lost is set if the lock cannot be kept

and a second process gets :class:`AlreadyRunning` at once, with a message that says
what to do. The lock lives where the processes meet anyway, the database:

* PostgreSQL: a session advisory lock on a dedicated connection. The server drops
  it when the connection ends, so a crashed or SIGKILLed holder never leaves it
  stale. A heartbeat query every ``check_interval`` seconds notices a lost
  connection and sets ``lock.lost``.
* SQLite: an exclusive ``flock`` on a file next to the database file (SQLite is a
  one-machine database; the kernel releases the lock when the holder dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.repository import Storage
from stories.errors import NewsbotError

log = logging.getLogger("newsbot.singleton")

POLLING_LOCK = "telegram-polling"


class AlreadyRunning(NewsbotError):
    """Another process holds the lock; ``str()`` says which lock and what to do."""


@dataclass
class HeldLock:
    """A held lock; ``lost`` is set if it can no longer be guaranteed (connection gone)."""

    name: str
    where: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)


def _message(name: str, where: str, holder: str | None) -> str:
    held_by = f" (held by {holder})" if holder else ""
    return (
        f"another newsbot process is already long-polling Telegram: lock {name!r} in {where} is taken"
        f"{held_by}. Only one process may call getUpdates with a bot token. Stop the other process, "
        'or run several bot processes in webhook mode ([telegram] mode = "webhook").'
    )


def _lock_key(name: str) -> str:
    return f":newsbot:singleton:{name}"


@contextlib.asynccontextmanager
async def _pg_lock(storage: Storage, name: str, check_interval: float) -> AsyncIterator[HeldLock]:
    where = f"database {make_url(storage.url).render_as_string(hide_password=True)}"
    key = {"key": _lock_key(name)}
    async with storage.engine.connect() as conn:
        got = bool(
            await conn.scalar(text("SELECT pg_try_advisory_lock(hashtext(current_schema() || :key))"), key)
        )
        await conn.commit()
        if not got:
            raise AlreadyRunning(_message(name, where, None))
        held = HeldLock(name, where)

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(check_interval)
                try:
                    await conn.scalar(text("SELECT 1"))
                    await conn.commit()
                except Exception as exc:
                    log.error("lost the %r lock: database connection failed: %s", name, exc)
                    held.lost.set()
                    return

        task = asyncio.create_task(heartbeat(), name=f"lock-heartbeat-{name}")
        try:
            yield held
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if not held.lost.is_set():
                with contextlib.suppress(Exception):  # the connection closing releases it anyway
                    await conn.scalar(
                        text("SELECT pg_advisory_unlock(hashtext(current_schema() || :key))"), key
                    )
                    await conn.commit()


def sqlite_lock_path(url: str, name: str) -> Path | None:
    """The lock file for ``name`` next to the SQLite database file (None for in-memory databases)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).resolve().with_name(f"{Path(database).name}.{name}.lock")


@contextlib.asynccontextmanager
async def _file_lock(storage: Storage, name: str) -> AsyncIterator[HeldLock]:
    path = sqlite_lock_path(storage.url, name)
    if path is None:  # an in-memory database cannot be shared by two processes
        yield HeldLock(name, "memory")
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or None
            raise AlreadyRunning(
                _message(name, f"lock file {path}", f"pid {holder}" if holder else None)
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        try:
            yield HeldLock(name, f"lock file {path}")
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def polling_lock(
    storage: Storage, name: str = POLLING_LOCK, *, check_interval: float = 30.0
) -> AsyncIterator[HeldLock]:
    """Hold the single-poller lock ``name`` for the block; raise :class:`AlreadyRunning` if taken."""
    if storage.backend == "postgresql":
        async with _pg_lock(storage, name, check_interval) as held:
            yield held
    else:
        async with _file_lock(storage, name) as held:
            yield held
