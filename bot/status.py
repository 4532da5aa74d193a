"""Health at a glance, for ``newsbot status`` and the bot admins' ``/status``."""

from __future__ import annotations

from typing import Any

from storage.counts import database_counts
from storage.leasing import scale_status
from storage.outbox import outbox_counts
from storage.repository import Storage


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
