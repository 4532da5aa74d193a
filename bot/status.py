"""Health at a glance, for ``newsbot status`` and the bot admins' ``/status``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.leasing import scale_status
from storage.models import DevelopmentRow, FeedRow, ItemRow, OutboxRow
from storage.repository import Storage


async def collect_status(storage: Storage) -> dict[str, Any]:
    """Counts of feeds by health, items, developments and the outbox by status."""
    async with storage.session() as session:
        feeds_total = await session.scalar(select(func.count(FeedRow.id))) or 0
        disabled = await session.scalar(select(func.count(FeedRow.id)).where(FeedRow.disabled.is_(True))) or 0
        failing = (
            await session.scalar(
                select(func.count(FeedRow.id)).where(
                    FeedRow.disabled.is_(False), FeedRow.consecutive_errors > 0
                )
            )
            or 0
        )
        items = await session.scalar(select(func.count(ItemRow.id))) or 0
        untracked = (
            await session.scalar(select(func.count(ItemRow.id)).where(ItemRow.tracked.is_(False))) or 0
        )
        developments = await session.scalar(select(func.count(DevelopmentRow.id))) or 0
        last_fetch = await session.scalar(select(func.max(FeedRow.last_fetched_at)))
        outbox = dict(
            (await session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)))
            .tuples()
            .all()
        )
    scale = (await scale_status(storage)).as_dict()
    return {
        **scale,
        "database": storage.backend,
        "feeds": feeds_total,
        "feeds_ok": feeds_total - disabled - failing,
        "feeds_failing": failing,
        "feeds_disabled": disabled,
        "last_fetch": last_fetch.isoformat() if last_fetch else None,
        "items": items,
        "items_untracked": untracked,
        "developments": developments,
        "outbox": {str(k): int(v) for k, v in outbox.items()},
    }
