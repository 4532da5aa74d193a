"""Database-wide locks: the one home of "only one process at a time" in newsbot.

Every lock is named, and every name becomes one PostgreSQL advisory-lock key
(``hashtext(current_schema() || ':newsbot:' || name)``). Advisory locks are per
database, while tests (and some deployments) keep several newsbot schemas in one
database, so the key includes the schema. The kinds of hold, by how long they last:

* ``xact_lock(session, name)``: until the transaction ends (choosing feeds to
  lease, claiming outbox rows);
* ``SessionLock``: across transactions, on a connection of its own, until
  released or until the connection (the process) dies; no stale lock after SIGKILL
  (the one tracker among workers);
* ``advisory_lock(storage, name)``: a ``SessionLock`` tried for one block, yielding
  whether it was granted (a chat's due digest);
* ``exclusive_lock(storage, name)``: a ``SessionLock`` that must be granted (else
  :class:`LockTaken`) and is watched by a heartbeat (the single Telegram poller).
  On SQLite, an exclusive ``flock`` on a file next to the database file;
* ``upgrade_once(url)``: migrations, waiting for whoever is migrating now.

SQLite is the one-process deployment: ``xact_lock``, ``SessionLock`` and
``advisory_lock`` are always granted there.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .db import backend_name, make_sync_engine, upgrade
from .repository import Storage, StorageError

log = logging.getLogger("newsbot.locks")

FEED_LEASE_LOCK = "lease-feeds"
OUTBOX_LEASE_LOCK = "claim-outbox"
MIGRATION_LOCK = "migrate"
TRACKER_LOCK = "tracker"

__all__ = [
    "FEED_LEASE_LOCK",
    "MIGRATION_LOCK",
    "OUTBOX_LEASE_LOCK",
    "TRACKER_LOCK",
    "HeldLock",
    "LockTaken",
    "SessionLock",
    "advisory_lock",
    "claim_chat_digest",
    "exclusive_lock",
    "sqlite_lock_path",
    "upgrade_once",
    "xact_lock",
]


def _lock_sql(name: str, function: str) -> tuple[str, dict[str, str]]:
    # hashtext() gives a stable int4 key; the schema keeps test schemas (and several
    # newsbot installations in one database) from blocking each other.
    return f"SELECT {function}(hashtext(current_schema() || :key))", {"key": f":newsbot:{name}"}


async def xact_lock(session: AsyncSession, name: str) -> None:
    """Serialise with other holders of ``name`` until this transaction ends (PostgreSQL only)."""
    if session.bind.dialect.name != "postgresql":
        return
    sql, params = _lock_sql(name, "pg_advisory_xact_lock")
    await session.execute(text(sql), params)


class SessionLock:
    """A database-wide lock held across transactions, for leadership (e.g. the one tracker).

    PostgreSQL: a session advisory lock on a connection of its own, kept until
    ``release`` or until the connection (the process) dies. SQLite: always granted.
    """

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage = storage
        self.name = name
        self._conn: AsyncConnection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lock."""
        return self._held

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (now or already)."""
        if self._held:
            return True
        if self.storage.backend != "postgresql":
            self._held = True
            return True
        conn = await self.storage.engine.connect()
        try:
            sql, params = _lock_sql(self.name, "pg_try_advisory_lock")
            got = bool(await conn.scalar(text(sql), params))
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn, self._held = conn, True
        return True

    async def still_held(self) -> bool:
        """Check the lock's connection; on failure the lock is gone (the server dropped it)."""
        if not self._held:
            return False
        if self._conn is None:
            return True
        try:
            await self._conn.scalar(text("SELECT 1"))
            await self._conn.commit()
        except Exception as exc:
            log.error("lost the %r lock: database connection failed: %s", self.name, exc)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Give the lock up (closing the connection releases it too)."""
        if self._conn is not None and self._held:
            with contextlib.suppress(Exception):  # a dead connection has dropped it already
                sql, params = _lock_sql(self.name, "pg_advisory_unlock")
                await self._conn.scalar(text(sql), params)
                await self._conn.commit()
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


@contextlib.asynccontextmanager
async def advisory_lock(storage: Storage, name: str) -> AsyncIterator[bool]:
    """Try to take the database-wide lock ``name``; yields whether this process got it.

    Released on exit, or when the connection dies with the process (no stale locks
    after SIGKILL). SQLite: always True (one process per database file).
    """
    lock = SessionLock(storage, name)
    got = await lock.try_acquire()
    try:
        yield got
    finally:
        await lock.release()


def claim_chat_digest(storage: Storage, chat_id: int) -> contextlib.AbstractAsyncContextManager[bool]:
    """Claim building and sending ``chat_id``'s due digest: yields whether this process has it.

    Several bot processes (webhook mode) run the digest job at once; whoever holds the claim
    builds the digest, and the others skip that chat. The holder must re-read what is due
    under the claim: a process that saw the chat due a moment ago may get the claim just
    after another one has written the digest and moved the schedule on.
    """
    return advisory_lock(storage, f"digest-chat:{chat_id}")


# ---------------------------------------------------------------- exclusive locks


class LockTaken(StorageError):
    """``exclusive_lock`` found the lock held by another process."""

    def __init__(self, name: str, where: str, holder: str | None = None) -> None:
        held_by = f" (held by {holder})" if holder else ""
        super().__init__(f"lock {name!r} in {where} is taken{held_by}")
        self.name, self.where, self.holder = name, where, holder


@dataclass
class HeldLock:
    """A held exclusive lock; ``lost`` is set if it can no longer be guaranteed (connection gone)."""

    name: str
    where: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def _pg_exclusive(storage: Storage, name: str, check_interval: float) -> AsyncIterator[HeldLock]:
    where = f"database {make_url(storage.url).render_as_string(hide_password=True)}"
    lock = SessionLock(storage, f"singleton:{name}")
    if not await lock.try_acquire():
        raise LockTaken(name, where)
    held = HeldLock(name, where)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(check_interval)
            if not await lock.still_held():
                held.lost.set()
                return

    task = asyncio.create_task(heartbeat(), name=f"lock-heartbeat-{name}")
    try:
        yield held
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await lock.release()


def sqlite_lock_path(url: str, name: str) -> Path | None:
    """The lock file for ``name`` next to the SQLite database file (None for in-memory databases)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).resolve().with_name(f"{Path(database).name}.{name}.lock")


@contextlib.asynccontextmanager
async def _file_exclusive(storage: Storage, name: str) -> AsyncIterator[HeldLock]:
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
            raise LockTaken(name, f"lock file {path}", f"pid {holder}" if holder else None) from None
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
async def exclusive_lock(
    storage: Storage, name: str, *, check_interval: float = 30.0
) -> AsyncIterator[HeldLock]:
    """Hold the lock ``name`` for the block, or raise :class:`LockTaken` at once.

    PostgreSQL: a session advisory lock, checked every ``check_interval`` seconds; a lost
    connection sets ``lost``. SQLite: an exclusive ``flock`` on a file next to the
    database (the kernel releases it when the holder dies).
    """
    if storage.backend == "postgresql":
        async with _pg_exclusive(storage, name, check_interval) as held:
            yield held
    else:
        async with _file_exclusive(storage, name) as held:
            yield held


# -------------------------------------------------------------------- migrations


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            sql, params = _lock_sql(MIGRATION_LOCK, "pg_advisory_lock")
            conn.execute(text(sql), params)
            conn.commit()
            try:
                yield
            finally:
                unlock, unlock_params = _lock_sql(MIGRATION_LOCK, "pg_advisory_unlock")
                conn.execute(text(unlock), unlock_params)
                conn.commit()
    finally:
        engine.dispose()


def upgrade_once(url: str) -> None:
    """Apply migrations, one process at a time: a bot and workers starting together must not race.

    Every process that migrates (``run``, ``worker``, ``db upgrade``) comes through here.
    """
    if backend_name(url) != "postgresql":
        upgrade(url)
        return
    with _migration_lock(url):
        upgrade(url)
