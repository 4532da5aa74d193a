"""storage.locks: migrations take turns, and an exclusive lock admits one holder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from storage.db import current_revision
from storage.locks import MIGRATION_LOCK, LockTaken, SessionLock, exclusive_lock, upgrade_once
from storage.repository import Storage
from tests.conftest import PG_ENV, PG_SKIP, _pg_schema_url

# The advisory lock ``name`` in this schema, waited for and not granted yet.
_WAITERS = text(
    """
    SELECT count(*) FROM pg_locks AS l,
        (SELECT hashtext(current_schema() || :key)::bigint AS k) AS h
    WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ((h.k >> 32) & 4294967295)::oid AND l.objid = (h.k & 4294967295)::oid
    """
)


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema with no tables (not migrated)."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    yield from _pg_schema_url(os.environ[PG_ENV])


async def _wait_for_waiter(storage: Storage, name: str) -> None:
    async with asyncio.timeout(60):
        while True:
            async with storage.engine.connect() as conn:
                if await conn.scalar(_WAITERS, {"key": f":newsbot:{name}"}):
                    return
            await asyncio.sleep(0.05)


async def test_a_migration_waits_while_another_process_migrates(empty_pg_url: str) -> None:
    storage = Storage.connect(empty_pg_url)
    other = SessionLock(storage, MIGRATION_LOCK)  # another process, in the middle of migrating
    try:
        assert await other.try_acquire()
        migrating = asyncio.create_task(asyncio.to_thread(upgrade_once, empty_pg_url))
        await _wait_for_waiter(storage, MIGRATION_LOCK)
        assert not migrating.done()
        assert current_revision(empty_pg_url) is None  # nothing applied while the lock is held
        await other.release()
        await asyncio.wait_for(migrating, 120)
        assert current_revision(empty_pg_url) is not None
    finally:
        await other.release()
        await storage.close()


async def test_processes_starting_together_all_migrate(empty_pg_url: str) -> None:
    await asyncio.gather(*(asyncio.to_thread(upgrade_once, empty_pg_url) for _ in range(3)))
    revision = current_revision(empty_pg_url)
    upgrade_once(empty_pg_url)  # at head already: nothing to do, no error
    assert revision is not None and current_revision(empty_pg_url) == revision


async def test_exclusive_lock_on_sqlite_names_the_holder(sqlite_url: str) -> None:
    first, second = Storage.connect(sqlite_url), Storage.connect(sqlite_url)
    try:
        async with exclusive_lock(first, "unit") as held:
            assert "lock file" in held.where
            with pytest.raises(LockTaken) as taken:
                async with exclusive_lock(second, "unit"):
                    pytest.fail("two holders of one exclusive lock")
            assert f"held by pid {os.getpid()}" in str(taken.value)
            async with exclusive_lock(second, "another"):  # other names are independent
                pass
        async with exclusive_lock(second, "unit"):  # released on exit
            pass
    finally:
        await first.close()
        await second.close()
