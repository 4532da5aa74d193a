"""Chats the bot knows: their settings (time zone, language), pausing, and a group's migration
to a supergroup.

Each function opens its own short transaction on a ``Storage`` and returns frozen
dataclasses; ORM rows never leave storage/.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from .models import (
    PENDING,
    ChatRow,
    OutboxRow,
    SentItemRow,
    StoryRow,
    SubscriptionRow,
)
from .repository import Storage


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """A chat the bot knows, with its delivery settings."""

    id: int
    type: str
    title: str | None
    username: str | None
    timezone: str
    paused: bool
    paused_reason: str | None
    migrated_to: int | None
    language: str | None = None  # en, es, ru; None: the user's own
    added_by: int | None = None  # who added the bot to the chat
    silent: bool = False  # digests and alerts without a notification sound
    link_previews: bool = False  # digests and alerts with link previews


def _chat(row: ChatRow) -> ChatInfo:
    return ChatInfo(
        row.id,
        row.type,
        row.title,
        row.username,
        row.timezone,
        row.paused,
        row.paused_reason,
        row.migrated_to,
        row.language,
        row.added_by,
        bool(row.silent),
        bool(row.link_previews),
    )


async def upsert_chat(
    storage: Storage,
    chat_id: int,
    *,
    type: str,
    title: str | None,
    username: str | None,
    timezone: str,
    added_by: int | None = None,
) -> ChatInfo:
    """Record a chat (or refresh its title and username); ``timezone`` applies only to a new chat;
    ``added_by`` (the user who just added the bot) replaces the one recorded when given."""
    async with storage.session() as session, session.begin():
        row = await session.get(ChatRow, chat_id)
        if row is None:
            row = ChatRow(id=chat_id, type=type, title=title, username=username, timezone=timezone)
            session.add(row)
        else:
            row.type, row.title = type, title
            row.username = username
        if added_by is not None:
            row.added_by = added_by
        await session.flush()
        return _chat(row)


async def get_chat(storage: Storage, chat_id: int) -> ChatInfo | None:
    """A chat by id."""
    async with storage.session() as session:
        row = await session.get(ChatRow, chat_id)
        return _chat(row) if row else None


async def set_chat_timezone(storage: Storage, chat_id: int, timezone: str) -> None:
    """Change the zone a chat's schedules and times are shown in."""
    async with storage.session() as session, session.begin():
        await session.execute(update(ChatRow).where(ChatRow.id == chat_id).values(timezone=timezone))


async def set_chat_language(storage: Storage, chat_id: int, language: str | None) -> None:
    """The bot's language in a chat (None: each user's own)."""
    async with storage.session() as session, session.begin():
        await session.execute(update(ChatRow).where(ChatRow.id == chat_id).values(language=language))


async def set_chat_delivery(
    storage: Storage, chat_id: int, *, silent: bool | None = None, link_previews: bool | None = None
) -> None:
    """How digests and alerts reach a chat: without a sound (``silent``), with link previews;
    None leaves a setting as it is."""
    values = {
        name: value
        for name, value in (("silent", silent), ("link_previews", link_previews))
        if value is not None
    }
    if not values:
        return
    async with storage.session() as session, session.begin():
        await session.execute(update(ChatRow).where(ChatRow.id == chat_id).values(**values))


async def candidate_chats(storage: Storage, user_id: int, *, limit: int = 30) -> list[ChatInfo]:
    """Groups and channels the bot is in (not paused, not migrated) that a user may manage:
    those the user added the bot to first, then the most recent others. The caller checks
    that the user really is an admin there (``getChatMember``)."""
    async with storage.session() as session:
        rows = await session.scalars(
            select(ChatRow)
            .where(
                ChatRow.type.in_(("group", "supergroup", "channel")),
                ChatRow.paused.is_(False),
                ChatRow.migrated_to.is_(None),
            )
            .order_by((ChatRow.added_by == user_id).desc(), ChatRow.created_at.desc(), ChatRow.id)
            .limit(limit)
        )
        return [_chat(row) for row in rows]


async def pause_chat(storage: Storage, chat_id: int, reason: str) -> None:
    """Stop deliveries to a chat (e.g. the bot was removed); ``reason`` is shown to its admins."""
    async with storage.session() as session, session.begin():
        await session.execute(
            update(ChatRow).where(ChatRow.id == chat_id).values(paused=True, paused_reason=reason)
        )


async def resume_chat(storage: Storage, chat_id: int) -> bool:
    """Resume deliveries to a paused chat; True if it was paused."""
    async with storage.session() as session, session.begin():
        row = await session.get(ChatRow, chat_id)
        if row is None or not row.paused:
            return False
        row.paused, row.paused_reason = False, None
        return True


async def migrate_chat(storage: Storage, old_id: int, new_id: int) -> None:
    """A group became a supergroup: move its settings, subscriptions, seen items, own stories
    and pending messages to ``new_id`` and remember where it went."""
    async with storage.session() as session, session.begin():
        old = await session.get(ChatRow, old_id)
        new = await session.get(ChatRow, new_id)
        if new is None:
            new = ChatRow(
                id=new_id,
                type="supergroup",
                title=old.title if old else None,
                username=old.username if old else None,
                timezone=old.timezone if old else "UTC",
            )
            session.add(new)
            await session.flush()
        if old is not None:
            old.migrated_to = new_id
            taken = set(
                await session.scalars(
                    select(SubscriptionRow.story_id).where(SubscriptionRow.chat_id == new_id)
                )
            )
            for sub in await session.scalars(
                select(SubscriptionRow).where(SubscriptionRow.chat_id == old_id)
            ):
                if sub.story_id in taken:
                    await session.delete(sub)
                else:
                    sub.chat_id = new_id
            seen = set(
                await session.scalars(select(SentItemRow.item_id).where(SentItemRow.chat_id == new_id))
            )
            for sent in await session.scalars(select(SentItemRow).where(SentItemRow.chat_id == old_id)):
                if sent.item_id in seen:
                    await session.delete(sent)
                else:
                    session.add(
                        SentItemRow(
                            chat_id=new_id,
                            item_id=sent.item_id,
                            development_id=sent.development_id,
                            sent_at=sent.sent_at,
                        )
                    )
                    await session.delete(sent)
            names = set(await session.scalars(select(StoryRow.name_key).where(StoryRow.scope == new_id)))
            for story in await session.scalars(select(StoryRow).where(StoryRow.scope == old_id)):
                if story.name_key not in names:
                    story.scope = new_id
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.chat_id == old_id, OutboxRow.status == PENDING)
            .values(chat_id=new_id)
        )


async def count_chat_stories(storage: Storage, chat_id: int) -> int:
    """How many stories a chat owns (for the per-chat limit)."""
    return await storage.count_rows(StoryRow.id, StoryRow.scope == chat_id)


__all__ = [
    "ChatInfo",
    "candidate_chats",
    "count_chat_stories",
    "get_chat",
    "migrate_chat",
    "pause_chat",
    "resume_chat",
    "set_chat_delivery",
    "set_chat_language",
    "set_chat_timezone",
    "upsert_chat",
]
