"""Health at a glance, for ``newsbot status`` and the bot admins' ``/status``."""

from __future__ import annotations

import json
from typing import Any

from storage.counts import database_counts
from storage.leasing import scale_status
from storage.outbox import outbox_counts
from storage.repository import Storage

from .config import Config
from .storage_access import open_storage


async def collect_status(storage: Storage) -> dict[str, Any]:
    """Counts of feeds by health, items, developments and the outbox by status."""
    counts = await database_counts(storage)
    scale = (await scale_status(storage)).as_dict()
    return {
        **scale,
        "database": storage.backend,
        "feeds": counts.feeds,
        "feeds_ok": counts.feeds_ok,
        "feeds_failing": counts.feeds_failing,
        "feeds_disabled": counts.feeds_disabled,
        "last_fetch": counts.last_fetch.isoformat() if counts.last_fetch else None,
        "items": counts.items,
        "items_untracked": counts.items_untracked,
        "developments": counts.developments,
        "outbox": await outbox_counts(storage),
    }


async def print_status(config: Config, *, as_json: bool = False) -> int:
    """``newsbot status``: feeds by health, items, developments, outbox depth."""
    async with open_storage(config, seed=False) as storage:
        status = await collect_status(storage)
    if as_json:
        print(json.dumps(status, ensure_ascii=False, default=str))
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return 0
