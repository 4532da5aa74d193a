"""One bot process's digest turn, for the two-process test: ``python -m tests.bot.run_digests URL``.

Connects to the database, prints ``ready``, waits for a line on stdin (so that two processes
start their turn together), runs ``bot.actions.digests.run_due_digests`` once and prints how many outbox
messages it wrote.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from sqlalchemy import text

from bot.config import Config, DatabaseConfig
from bot.actions.digests import run_due_digests
from storage.repository import Storage


async def main(url: str, now: datetime) -> int:
    storage = Storage.connect(url)
    try:
        async with storage.engine.connect() as conn:  # connected before the start signal
            await conn.execute(text("SELECT 1"))
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        return await run_due_digests(storage, Config(database=DatabaseConfig(url=url)), now=now)
    finally:
        await storage.close()


if __name__ == "__main__":
    written = asyncio.run(main(sys.argv[1], datetime.fromisoformat(sys.argv[2]).astimezone(UTC)))
    print(f"written {written}", flush=True)
