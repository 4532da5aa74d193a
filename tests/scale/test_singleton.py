"""Only one process may long-poll Telegram: the second fails fast, a killed holder frees the lock."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from bot.singleton import AlreadyRunning, polling_lock
from storage.repository import Storage

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.singleton import polling_lock
    from storage.repository import Storage

    async def main() -> None:
        storage = Storage.connect(sys.argv[1])
        async with polling_lock(storage):
            print("locked", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_second_holder_fails_fast_with_a_clear_message(storage: Storage) -> None:
    other = Storage.connect(storage.url)
    try:
        async with polling_lock(storage) as held:
            assert not held.lost.is_set()
            with pytest.raises(AlreadyRunning) as caught:
                async with asyncio.timeout(5), polling_lock(other):
                    pytest.fail("two processes hold the polling lock")
            message = str(caught.value)
            assert "already long-polling Telegram" in message
            assert "webhook" in message
            assert "secret" not in message
            # Other lock names are independent.
            async with polling_lock(other, "another-lock"):
                pass
        # Released on exit: the other one gets it now.
        async with polling_lock(other):
            pass
    finally:
        await other.close()


async def test_a_killed_holder_process_releases_the_lock(storage: Storage) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, storage.url],
        stdout=subprocess.PIPE,
        cwd=os.getcwd(),
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == b"locked"
        with pytest.raises(AlreadyRunning):
            async with polling_lock(storage):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # The database (or the kernel, for the SQLite lock file) drops a dead holder's lock.
        for _ in range(50):
            try:
                async with polling_lock(storage):
                    break
            except AlreadyRunning:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("lock not released after the holder was killed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
