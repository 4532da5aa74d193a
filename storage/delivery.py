"""Delivery repository: chats, subscriptions, what each chat has seen, and the outbox.

The bot's digests and its delivery outbox read and write through these functions. Each
opens its own short transaction on a ``Storage`` and returns frozen dataclasses; ORM rows
never leave this module. ``enqueue_digest`` is the one place that writes a digest: the
outbox messages, the items marked as seen and the subscriptions' next times go in one
transaction, so a crash leaves either all of it or none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (
    ChatRow,
    DevelopmentRow,
    ItemRow,
    ItemSourceRow,
    OutboxRow,
    SentItemRow,
    StoryItemRow,
    StoryRow,
    SubscriptionRow,
    utcnow,
)
from .repository import GLOBAL_SCOPE, Storage

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
_CHUNK = 500


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

    @property
    def heading(self) -> str:
        """What digests call the story: its title, else its name."""
        return self.story_title or self.story_name


@dataclass(frozen=True, slots=True)
class CandidateItem:
    """A tracked item of a story, with its verdict and every outlet that carried it."""

    story_id: int
    item_id: int
    development_id: int | None
    kind: str | None
    duplicate_of: int | None
    title: str
    url: str | None
    outlet: str
    published: datetime
    first_seen: datetime
    outlets: tuple[str, ...]
    new_facts: tuple[str, ...] = ()
    """For an update: the facts it adds, as it wrote them."""


def _facts(raw: str | None) -> tuple[str, ...]:
    """The stored JSON list of an update's new facts."""
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class DevelopmentInfo:
    """A development (event) with its distinct outlets counted over every source."""

    id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    outlets: int


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message written before it is sent."""

    id: int
    chat_id: int
    kind: str
    text: str
    parse_mode: str | None
    status: str
    attempts: int
    not_before: datetime
    message_id: int | None
    last_error: str | None
    thread_id: int | None = None  # the forum topic it goes to


@dataclass(frozen=True, slots=True)
class ScheduleUpdate:
    """A subscription's digest done at ``last`` and next due at ``next`` (None: not scheduled)."""

    subscription_id: int
    last: datetime | None
    next: datetime | None


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
    )


def _outbox(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        row.id,
        row.chat_id,
        row.kind,
        row.text,
        row.parse_mode,
        row.status,
        row.attempts,
        row.not_before,
        row.message_id,
        row.last_error,
        row.thread_id,
    )


# ---------------------------------------------------------------------------------- chats


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


# -------------------------------------------------------------------------- subscriptions


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
) -> tuple[SubscriptionInfo, bool]:
    """Subscribe a (known) chat to a story, or change the schedule of its subscription;
    ``thread_id`` is the forum topic its digests go to (None: the chat itself).

    Returns the subscription and True when it is new.
    """
    async with storage.session() as session, session.begin():
        row = await session.scalar(
            select(SubscriptionRow).where(
                SubscriptionRow.chat_id == chat_id, SubscriptionRow.story_id == story_id
            )
        )
        created = row is None
        if row is None:
            row = SubscriptionRow(
                chat_id=chat_id,
                story_id=story_id,
                schedule=schedule,
                next_digest_at=next_digest_at,
                created_by=user_id,
                created_at=utcnow(),
                thread_id=thread_id,
            )
            session.add(row)
        else:
            row.schedule, row.next_digest_at = schedule, next_digest_at
            row.thread_id = thread_id
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


async def reschedule(storage: Storage, updates: Iterable[ScheduleUpdate]) -> None:
    """Set subscriptions' next digest times (after a time zone change)."""
    async with storage.session() as session, session.begin():
        for change in updates:
            await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == change.subscription_id)
                .values(next_digest_at=change.next)
            )


# --------------------------------------------------------------------- digest selection


async def _outlets(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(item_ids), _CHUNK):
        rows = await session.execute(
            select(ItemSourceRow.item_id, ItemSourceRow.outlet)
            .where(ItemSourceRow.item_id.in_(item_ids[start : start + _CHUNK]))
            .order_by(ItemSourceRow.id)
        )
        for item_id, outlet in rows:
            outlets = found.setdefault(item_id, [])
            if outlet not in outlets:
                outlets.append(outlet)
    return found


async def unseen_items(
    storage: Storage, chat_id: int, story_ids: Sequence[int], *, since: datetime, limit: int = 2000
) -> list[CandidateItem]:
    """Tracked items of these stories first seen at or after ``since`` that the chat has not
    been shown, oldest first (an item in two stories comes once per story)."""
    if not story_ids:
        return []
    async with storage.session() as session:
        seen = select(SentItemRow.item_id).where(SentItemRow.chat_id == chat_id)
        rows = list(
            await session.execute(
                select(StoryItemRow.story_id, ItemRow)
                .join(ItemRow, ItemRow.id == StoryItemRow.item_id)
                .where(
                    StoryItemRow.story_id.in_(list(story_ids)),
                    ItemRow.tracked.is_(True),
                    ItemRow.first_seen >= since,
                    ItemRow.id.not_in(seen),
                )
                .order_by(ItemRow.first_seen, ItemRow.id)
                .limit(limit)
            )
        )
        outlets = await _outlets(session, sorted({row.id for _, row in rows}))
        return [
            CandidateItem(
                story_id=story_id,
                item_id=row.id,
                development_id=row.development_id,
                kind=row.kind,
                duplicate_of=row.duplicate_of,
                title=row.title,
                url=row.url,
                outlet=row.outlet,
                published=row.published,
                first_seen=row.first_seen,
                outlets=tuple(outlets.get(row.id, [row.outlet])),
                new_facts=_facts(row.new_facts),
            )
            for story_id, row in rows
        ]


async def developments(storage: Storage, ids: Iterable[int]) -> dict[int, DevelopmentInfo]:
    """Developments by id, their outlets counted over every source of every item."""
    wanted = sorted(set(ids))
    found: dict[int, DevelopmentInfo] = {}
    if not wanted:
        return found
    async with storage.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            result = await session.execute(
                select(ItemRow.development_id, func.count(func.distinct(ItemSourceRow.outlet)))
                .join(ItemSourceRow, ItemSourceRow.item_id == ItemRow.id)
                .where(ItemRow.development_id.in_(chunk))
                .group_by(ItemRow.development_id)
            )
            counts = {dev_id: int(n) for dev_id, n in result}
            rows = list(await session.scalars(select(DevelopmentRow).where(DevelopmentRow.id.in_(chunk))))
            # The title is the lead report's as it reads now (an outlet may retitle it).
            leads = [row.lead_item_id for row in rows if row.lead_item_id is not None]
            lead_rows = await session.execute(select(ItemRow.id, ItemRow.title).where(ItemRow.id.in_(leads)))
            titles = {item_id: title for item_id, title in lead_rows.tuples()}
            for row in rows:
                outlets = int(counts.get(row.id, 0)) or row.outlet_count
                title = titles.get(row.lead_item_id, row.title) if row.lead_item_id is not None else row.title
                found[row.id] = DevelopmentInfo(row.id, title, row.first_seen, row.last_seen, outlets)
    return found


async def seen_developments(storage: Storage, chat_id: int, ids: Iterable[int]) -> set[int]:
    """Which of these developments the chat has already been shown something of."""
    wanted = sorted(set(ids))
    seen: set[int] = set()
    async with storage.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            seen.update(
                dev
                for dev in await session.scalars(
                    select(SentItemRow.development_id)
                    .where(
                        SentItemRow.chat_id == chat_id,
                        SentItemRow.development_id.in_(wanted[start : start + _CHUNK]),
                    )
                    .distinct()
                )
                if dev is not None
            )
    return seen


async def fresh_developments(
    storage: Storage, story_ids: Sequence[int], *, since: datetime
) -> dict[int, list[int]]:
    """Developments first seen at or after ``since`` with an item in each story: story id -> ids."""
    if not story_ids:
        return {}
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryItemRow.story_id, ItemRow.development_id)
            .join(ItemRow, ItemRow.id == StoryItemRow.item_id)
            .join(DevelopmentRow, DevelopmentRow.id == ItemRow.development_id)
            .where(StoryItemRow.story_id.in_(list(story_ids)), DevelopmentRow.first_seen >= since)
            .distinct()
        )
        found: dict[int, list[int]] = {}
        for story_id, dev_id in rows:
            if dev_id is not None:
                found.setdefault(story_id, []).append(dev_id)
        return found


async def development_items(
    storage: Storage, dev_ids: Sequence[int], story_id: int | None = None
) -> list[CandidateItem]:
    """Every tracked item of these developments (in a story, when given), oldest first."""
    if not dev_ids:
        return []
    async with storage.session() as session:
        query = select(ItemRow).where(ItemRow.development_id.in_(list(dev_ids)))
        if story_id is not None:
            query = query.join(StoryItemRow, StoryItemRow.item_id == ItemRow.id).where(
                StoryItemRow.story_id == story_id
            )
        rows = list(await session.scalars(query.order_by(ItemRow.first_seen, ItemRow.id)))
        outlets = await _outlets(session, [row.id for row in rows])
        return [
            CandidateItem(
                story_id=story_id or 0,
                item_id=row.id,
                development_id=row.development_id,
                kind=row.kind,
                duplicate_of=row.duplicate_of,
                title=row.title,
                url=row.url,
                outlet=row.outlet,
                published=row.published,
                first_seen=row.first_seen,
                outlets=tuple(outlets.get(row.id, [row.outlet])),
                new_facts=_facts(row.new_facts),
            )
            for row in rows
        ]


async def enqueue_digest(
    storage: Storage,
    chat_id: int,
    *,
    kind: str,
    messages: Sequence[str],
    seen: Mapping[int, int | None],
    schedule: Iterable[ScheduleUpdate] = (),
    parse_mode: str | None = "HTML",
    thread_id: int | None = None,
) -> list[int]:
    """In one transaction: write ``messages`` to the outbox (to forum topic ``thread_id`` when
    given), mark ``seen`` items (item id -> development id) as shown to the chat, and move the
    subscriptions' schedule on.

    Returns the outbox ids, in order.
    """
    now = utcnow()
    async with storage.session() as session, session.begin():
        rows = [
            OutboxRow(
                chat_id=chat_id,
                kind=kind,
                text=text,
                parse_mode=parse_mode,
                status=PENDING,
                not_before=now,
                created_at=now,
                thread_id=thread_id,
            )
            for text in messages
        ]
        session.add_all(rows)
        item_ids = sorted(seen)
        already: set[int] = set()
        for start in range(0, len(item_ids), _CHUNK):
            already.update(
                await session.scalars(
                    select(SentItemRow.item_id).where(
                        SentItemRow.chat_id == chat_id,
                        SentItemRow.item_id.in_(item_ids[start : start + _CHUNK]),
                    )
                )
            )
        session.add_all(
            SentItemRow(chat_id=chat_id, item_id=item_id, development_id=seen[item_id], sent_at=now)
            for item_id in item_ids
            if item_id not in already
        )
        for change in schedule:
            values: dict[str, datetime | None] = {"next_digest_at": change.next}
            if change.last is not None:
                values["last_digest_at"] = change.last
            await session.execute(
                update(SubscriptionRow).where(SubscriptionRow.id == change.subscription_id).values(**values)
            )
        await session.flush()
        return [row.id for row in rows]


# --------------------------------------------------------------------------------- outbox


async def enqueue(
    storage: Storage,
    chat_id: int,
    text: str,
    *,
    kind: str,
    parse_mode: str | None = "HTML",
    thread_id: int | None = None,
) -> int:
    """Write one message to the outbox (e.g. a notice to a bot admin); returns its id."""
    ids = await enqueue_digest(
        storage, chat_id, kind=kind, messages=[text], seen={}, parse_mode=parse_mode, thread_id=thread_id
    )
    return ids[0]


async def pending_messages(storage: Storage, now: datetime, *, limit: int = 100) -> list[OutboxMessage]:
    """Messages waiting to be sent whose time has come, in the order they were written."""
    async with storage.session() as session:
        rows = await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.status == PENDING, OutboxRow.not_before <= now)
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [_outbox(row) for row in rows]


async def next_pending_at(storage: Storage) -> datetime | None:
    """When the earliest pending message may be sent, or None when none is pending."""
    async with storage.session() as session:
        value: datetime | None = await session.scalar(
            select(func.min(OutboxRow.not_before)).where(OutboxRow.status == PENDING)
        )
        return value


async def get_message(storage: Storage, outbox_id: int) -> OutboxMessage | None:
    """One outbox message by id."""
    async with storage.session() as session:
        row = await session.get(OutboxRow, outbox_id)
        return _outbox(row) if row else None


async def chat_messages(storage: Storage, chat_id: int) -> list[OutboxMessage]:
    """Every outbox message of a chat, oldest first (for tests and diagnostics)."""
    async with storage.session() as session:
        rows = await session.scalars(
            select(OutboxRow).where(OutboxRow.chat_id == chat_id).order_by(OutboxRow.id)
        )
        return [_outbox(row) for row in rows]


async def mark_sent(storage: Storage, outbox_id: int, message_id: int, *, note: str | None = None) -> None:
    """The message reached Telegram as ``message_id``."""
    async with storage.session() as session, session.begin():
        values: dict[str, object] = {
            "status": SENT,
            "message_id": message_id,
            "sent_at": utcnow(),
            "attempts": OutboxRow.attempts + 1,
        }
        if note is not None:
            values["last_error"] = note
        await session.execute(update(OutboxRow).where(OutboxRow.id == outbox_id).values(**values))


async def defer(storage: Storage, outbox_id: int, not_before: datetime, error: str) -> None:
    """Try the message again at ``not_before`` (after a flood wait or a network error)."""
    async with storage.session() as session, session.begin():
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(not_before=not_before, last_error=error, attempts=OutboxRow.attempts + 1)
        )


async def mark_failed(storage: Storage, outbox_id: int, error: str) -> None:
    """Give up on one message (kept with its error for diagnostics)."""
    async with storage.session() as session, session.begin():
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(status=FAILED, last_error=error, attempts=OutboxRow.attempts + 1)
        )


async def fail_pending_for_chat(storage: Storage, chat_id: int, error: str) -> int:
    """Give up on every pending message of a chat (it blocked or removed the bot)."""
    async with storage.session() as session, session.begin():
        result = await session.execute(
            update(OutboxRow)
            .where(OutboxRow.chat_id == chat_id, OutboxRow.status == PENDING)
            .values(status=FAILED, last_error=error)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def outbox_counts(storage: Storage) -> dict[str, int]:
    """How many outbox messages are in each status."""
    async with storage.session() as session:
        rows = await session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
        return {status: int(n) for status, n in rows}


async def global_story_ids(storage: Storage) -> list[tuple[int, str]]:
    """(id, name) of every global story, by name."""
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryRow.id, StoryRow.name)
            .where(StoryRow.scope == GLOBAL_SCOPE)
            .order_by(StoryRow.name_key)
        )
        return [(int(i), str(n)) for i, n in rows]


async def count_chat_stories(storage: Storage, chat_id: int) -> int:
    """How many stories a chat owns (for the per-chat limit)."""
    async with storage.session() as session:
        return int(
            await session.scalar(select(func.count(StoryRow.id)).where(StoryRow.scope == chat_id)) or 0
        )


__all__ = [
    "FAILED",
    "PENDING",
    "SENT",
    "CandidateItem",
    "ChatInfo",
    "DevelopmentInfo",
    "OutboxMessage",
    "ScheduleUpdate",
    "SubscriptionInfo",
    "candidate_chats",
    "chat_messages",
    "count_chat_stories",
    "defer",
    "development_items",
    "developments",
    "due_subscriptions",
    "enqueue",
    "enqueue_digest",
    "fail_pending_for_chat",
    "fresh_developments",
    "get_chat",
    "get_message",
    "global_story_ids",
    "list_subscriptions",
    "managed_subscriptions",
    "mark_failed",
    "mark_sent",
    "migrate_chat",
    "next_pending_at",
    "outbox_counts",
    "pause_chat",
    "pending_messages",
    "reschedule",
    "resume_chat",
    "seen_developments",
    "set_chat_language",
    "set_story_title",
    "story_titles",
    "subscribe",
    "subscriptions_with_schedule",
    "unseen_items",
    "unsubscribe",
    "upsert_chat",
]
