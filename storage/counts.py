"""The read side of ``newsbot status`` and ``/status``: counts over the whole database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .models import DevelopmentRow, FeedRow, ItemRow
from .repository import Storage

__all__ = ["DatabaseCounts", "database_counts"]


@dataclass(frozen=True, slots=True)
class DatabaseCounts:
    """Feeds by health, items and developments (the outbox: ``storage.outbox.outbox_counts``)."""

    feeds: int
    # The rule of bot.actions.feeds.health, counted in SQL: disabled; else failing while the
    # feed has errors since its last good fetch; else ok.
    feeds_failing: int
    feeds_disabled: int
    last_fetch: datetime | None
    items: int
    items_untracked: int
    developments: int

    @property
    def feeds_ok(self) -> int:
        """Enabled feeds whose last fetch (if any) worked."""
        return self.feeds - self.feeds_disabled - self.feeds_failing


async def database_counts(storage: Storage) -> DatabaseCounts:
    """Count feeds by health, items and developments, in one session."""
    async with storage.session() as session:
        feeds = await session.scalar(select(func.count(FeedRow.id))) or 0
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
        return DatabaseCounts(
            feeds=feeds,
            feeds_failing=failing,
            feeds_disabled=disabled,
            last_fetch=last_fetch,
            items=items,
            items_untracked=untracked,
            developments=developments,
        )
