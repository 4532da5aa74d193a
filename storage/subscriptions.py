"""Subscriptions: which chat gets which story's digest, on what schedule, and when next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update

from .chats import ChatInfo, _chat
from .models import (
    ChatRow,
    ItemRow,
    StoryItemRow,
    StoryRow,
    SubscriptionRow,
    utcnow,
)
from .repository import GLOBAL_SCOPE, Storage


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """A chat's subscription to a story, with the story's name and owner."""

    id: int
    chat_id: int
    story_id: int
    story_name: str
    story_scope: int
    schedule: str
    next_digest_at: datetime | None
    last_digest_at: datetime | None
    created_at: datetime
    thread_id: int | None = None  # the forum topic its digests go to
    story_title: str | None = None  # the story's display title, if it has one
    alerts: bool = False  # breaking alerts for this story (beside its digests)
    alert_outlets: int | None = None  # the alert threshold; None: the configured one
    alert_minutes: int | None = None
    alert_multiple: float | None = None  # relative to the story's usual volume
    muted_at: datetime | None = None  # muted: no digest section, no alert

    @property
    def muted(self) -> bool:
        """True when muted (from a digest's button) until unmuted."""
        return self.muted_at is not None

    @property
    def heading(self) -> str:
        """What digests call the story: its title, else its name."""
        return self.story_title or self.story_name


@dataclass(frozen=True, slots=True)
class ScheduleUpdate:
    """A subscription's digest done at ``last`` and next due at ``next`` (None: not scheduled)."""

    subscription_id: int
    last: datetime | None
    next: datetime | None


def _subscription_query() -> Select[tuple[SubscriptionRow, str, int, str | None]]:
    return select(SubscriptionRow, StoryRow.name, StoryRow.scope, StoryRow.title).join(
        StoryRow, StoryRow.id == SubscriptionRow.story_id
    )


def _subscription(row: SubscriptionRow, name: str, scope: int, title: str | None = None) -> SubscriptionInfo:
    return SubscriptionInfo(
        row.id,
        row.chat_id,
        row.story_id,
        name,
        scope,
        row.schedule,
        row.next_digest_at,
        row.last_digest_at,
        row.created_at,
        row.thread_id,
        title,
        bool(row.alerts),
        row.alert_outlets,
        row.alert_minutes,
        row.alert_multiple,
        row.muted_at,
    )


async def subscribe(
    storage: Storage,
    chat_id: int,
    story_id: int,
    *,
    schedule: str,
    next_digest_at: datetime | None,
    user_id: int | None,
    thread_id: int | None = None,
    alerts: bool | None = None,
) -> tuple[SubscriptionInfo, bool]:
    """Subscribe a (known) chat to a story, or change the schedule of its subscription;
    ``thread_id`` is the forum topic its digests go to (None: the chat itself). ``alerts``
    None keeps what the schedule always meant: ``instant`` turns breaking alerts on, leaving
    ``instant`` turns them off, any other change keeps them as they were.

    Returns the subscription and True when it is new.
    """
    async with storage.session() as session, session.begin():
        row = await session.scalar(
            select(SubscriptionRow).where(
                SubscriptionRow.chat_id == chat_id, SubscriptionRow.story_id == story_id
            )
        )
        created = row is None
        if alerts is None:
            alerts = schedule == "instant" or (row is not None and row.alerts and row.schedule != "instant")
        if row is None:
            row = SubscriptionRow(
                chat_id=chat_id,
                story_id=story_id,
                schedule=schedule,
                next_digest_at=next_digest_at,
                created_by=user_id,
                created_at=utcnow(),
                thread_id=thread_id,
                alerts=alerts,
            )
            session.add(row)
        else:
            row.schedule, row.next_digest_at = schedule, next_digest_at
            row.thread_id = thread_id
            row.alerts = alerts
        await session.flush()
        story = await session.get(StoryRow, story_id)
        assert story is not None
        return _subscription(row, story.name, story.scope, story.title), created


async def set_story_title(storage: Storage, story_id: int, title: str | None) -> None:
    """A story's display title ("Wagner / Africa Corps"); None: its name is shown."""
    async with storage.session() as session, session.begin():
        await session.execute(update(StoryRow).where(StoryRow.id == story_id).values(title=title))


async def story_titles(storage: Storage, story_ids: Iterable[int]) -> dict[int, str]:
    """The display titles of those of these stories that have one."""
    wanted = sorted(set(story_ids))
    if not wanted:
        return {}
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryRow.id, StoryRow.title).where(StoryRow.id.in_(wanted), StoryRow.title.is_not(None))
        )
        return {int(i): str(t) for i, t in rows}


async def unsubscribe(storage: Storage, chat_id: int, story_id: int) -> bool:
    """Remove a chat's subscription; True if there was one."""
    async with storage.session() as session, session.begin():
        result = await session.execute(
            delete(SubscriptionRow).where(
                SubscriptionRow.chat_id == chat_id, SubscriptionRow.story_id == story_id
            )
        )
        return bool(getattr(result, "rowcount", 0))


async def list_subscriptions(storage: Storage, chat_id: int) -> list[SubscriptionInfo]:
    """A chat's subscriptions, by story name."""
    async with storage.session() as session:
        rows = await session.execute(
            _subscription_query().where(SubscriptionRow.chat_id == chat_id).order_by(StoryRow.name_key)
        )
        return [_subscription(row, name, scope, title) for row, name, scope, title in rows]


async def managed_subscriptions(storage: Storage, user_id: int) -> list[tuple[ChatInfo, SubscriptionInfo]]:
    """Subscriptions a user made for chats other than their private chat (e.g. a channel from a
    private chat), with each chat's state, so that they can see a paused chat from anywhere."""
    async with storage.session() as session:
        rows = await session.execute(
            select(ChatRow, SubscriptionRow, StoryRow.name, StoryRow.scope, StoryRow.title)
            .join(SubscriptionRow, SubscriptionRow.chat_id == ChatRow.id)
            .join(StoryRow, StoryRow.id == SubscriptionRow.story_id)
            .where(SubscriptionRow.created_by == user_id, ChatRow.id != user_id)
            .order_by(ChatRow.title, StoryRow.name_key)
        )
        return [
            (_chat(chat), _subscription(sub, name, scope, title)) for chat, sub, name, scope, title in rows
        ]


async def due_subscriptions(
    storage: Storage, now: datetime, *, chat_id: int | None = None
) -> list[SubscriptionInfo]:
    """Subscriptions whose digest is due, of chats that are not paused, by chat then story
    (only ``chat_id``'s when given)."""
    query = (
        _subscription_query()
        .join(ChatRow, ChatRow.id == SubscriptionRow.chat_id)
        .where(
            ChatRow.paused.is_(False),
            SubscriptionRow.next_digest_at.is_not(None),
            SubscriptionRow.next_digest_at <= now,
        )
        .order_by(SubscriptionRow.chat_id, StoryRow.name_key)
    )
    if chat_id is not None:
        query = query.where(SubscriptionRow.chat_id == chat_id)
    async with storage.session() as session:
        rows = await session.execute(query)
        return [_subscription(row, name, scope, title) for row, name, scope, title in rows]


async def subscriptions_with_schedule(storage: Storage, schedule: str) -> list[SubscriptionInfo]:
    """Subscriptions with exactly this schedule (e.g. ``instant``) of chats not paused."""
    async with storage.session() as session:
        rows = await session.execute(
            _subscription_query()
            .join(ChatRow, ChatRow.id == SubscriptionRow.chat_id)
            .where(ChatRow.paused.is_(False), SubscriptionRow.schedule == schedule)
            .order_by(SubscriptionRow.chat_id, StoryRow.name_key)
        )
        return [_subscription(row, name, scope, title) for row, name, scope, title in rows]


async def alert_subscriptions(storage: Storage) -> list[SubscriptionInfo]:
    """Subscriptions with breaking alerts on, not muted, of chats not paused, by chat then story."""
    async with storage.session() as session:
        rows = await session.execute(
            _subscription_query()
            .join(ChatRow, ChatRow.id == SubscriptionRow.chat_id)
            .where(
                ChatRow.paused.is_(False),
                SubscriptionRow.alerts.is_(True),
                SubscriptionRow.muted_at.is_(None),
            )
            .order_by(SubscriptionRow.chat_id, StoryRow.name_key)
        )
        return [_subscription(row, name, scope, title) for row, name, scope, title in rows]


async def set_alerts(
    storage: Storage,
    chat_id: int,
    story_id: int,
    *,
    alerts: bool,
    outlets: int | None = None,
    minutes: int | None = None,
    multiple: float | None = None,
) -> SubscriptionInfo | None:
    """Turn a subscription's breaking alerts on or off, with its threshold (all None: the
    configured one); None when the chat is not subscribed to the story."""
    async with storage.session() as session, session.begin():
        row = await session.scalar(
            select(SubscriptionRow).where(
                SubscriptionRow.chat_id == chat_id, SubscriptionRow.story_id == story_id
            )
        )
        if row is None:
            return None
        row.alerts = alerts
        row.alert_outlets, row.alert_minutes, row.alert_multiple = outlets, minutes, multiple
        await session.flush()
        story = await session.get(StoryRow, story_id)
        assert story is not None
        return _subscription(row, story.name, story.scope, story.title)


async def set_muted(storage: Storage, chat_id: int, story_id: int, muted_at: datetime | None) -> bool:
    """Mute a chat's subscription to a story since ``muted_at`` (None: unmute); False when the
    chat is not subscribed to it."""
    async with storage.session() as session, session.begin():
        result = await session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.chat_id == chat_id, SubscriptionRow.story_id == story_id)
            .values(muted_at=muted_at)
        )
        return bool(getattr(result, "rowcount", 0))


async def story_report_counts(
    storage: Storage, story_ids: Iterable[int], *, since: datetime
) -> dict[int, int]:
    """How many reports each story matched that were first seen since ``since`` (a story's
    usual volume, for alert thresholds relative to it); stories with none are left out."""
    wanted = sorted(set(story_ids))
    if not wanted:
        return {}
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryItemRow.story_id, func.count(StoryItemRow.item_id))
            .join(ItemRow, ItemRow.id == StoryItemRow.item_id)
            .where(StoryItemRow.story_id.in_(wanted), ItemRow.first_seen >= since)
            .group_by(StoryItemRow.story_id)
        )
        return {int(story): int(n) for story, n in rows}


async def reschedule(storage: Storage, updates: Iterable[ScheduleUpdate]) -> None:
    """Set subscriptions' next digest times (after a time zone change)."""
    async with storage.session() as session, session.begin():
        for change in updates:
            await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == change.subscription_id)
                .values(next_digest_at=change.next)
            )


async def global_story_ids(storage: Storage) -> list[tuple[int, str]]:
    """(id, name) of every global story, by name."""
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryRow.id, StoryRow.name)
            .where(StoryRow.scope == GLOBAL_SCOPE)
            .order_by(StoryRow.name_key)
        )
        return [(int(i), str(n)) for i, n in rows]


__all__ = [
    "ScheduleUpdate",
    "SubscriptionInfo",
    "alert_subscriptions",
    "due_subscriptions",
    "global_story_ids",
    "list_subscriptions",
    "managed_subscriptions",
    "reschedule",
    "set_alerts",
    "set_muted",
    "set_story_title",
    "story_report_counts",
    "story_titles",
    "subscribe",
    "subscriptions_with_schedule",
    "unsubscribe",
]
