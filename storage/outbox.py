"""The outbox: every message is written here before it is sent, and sent from here, also
after a restart.

``enqueue_digest`` is the one place that writes a digest: the outbox messages, the items
marked as seen and the subscriptions' next times go in one transaction, so a crash leaves
either all of it or none. Several senders share the outbox by claiming rows
(``claim_outbox``), so no message is sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from .digest_reads import _CHUNK
from .leasing import release_leases
from .locks import OUTBOX_LEASE_LOCK, xact_lock
from .models import (
    FAILED,
    PENDING,
    SENT,
    OutboxRow,
    SentItemRow,
    SubscriptionRow,
    utcnow,
)
from .repository import Storage
from .subscriptions import ScheduleUpdate


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
    reply_markup: str | None = None  # the inline keyboard under it (Bot API JSON)


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
        row.reply_markup,
    )


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
    markups: Sequence[str | None] = (),
) -> list[int]:
    """In one transaction: write ``messages`` to the outbox (to forum topic ``thread_id`` when
    given; ``markups[n]``, when there, the keyboard under message n), mark ``seen`` items
    (item id -> development id) as shown to the chat, and move the subscriptions' schedule on.

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
                reply_markup=markups[n] if n < len(markups) else None,
            )
            for n, text in enumerate(messages)
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


# ------------------------------------------------------------------ several senders


async def claim_outbox(
    storage: Storage,
    owner: str,
    *,
    limit: int = 20,
    lease_seconds: float = 60.0,
    now: datetime | None = None,
) -> list[int]:
    """Claim up to ``limit`` pending, due outbox messages for ``owner``; returns their ids, oldest first.

    A chat whose messages are claimed by another live sender is skipped entirely, so
    each chat's messages still go out in order with several senders. Mark each one
    sent/deferred/failed (above) and then ``release_outbox``; a sender that
    dies leaves its claims to expire after ``lease_seconds``.
    """
    now = now or utcnow()
    async with storage.session() as session, session.begin():
        await xact_lock(session, OUTBOX_LEASE_LOCK)
        busy = select(OutboxRow.chat_id).where(
            OutboxRow.status == PENDING,
            OutboxRow.lease_expires_at > now,
            OutboxRow.lease_owner != owner,
        )
        query = (
            select(OutboxRow.id)
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.not_before <= now,
                or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
                OutboxRow.chat_id.not_in(busy),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(await session.scalars(query))
        if ids:
            result = await session.scalars(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(ids),
                    or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
                )
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(OutboxRow.id)
                .execution_options(synchronize_session=False)
            )
            ids = sorted(result)
        return ids


async def release_outbox(storage: Storage, owner: str, outbox_ids: Sequence[int] | None = None) -> int:
    """Give back ``owner``'s outbox claims (these, or all); returns how many."""
    return await release_leases(storage, OutboxRow, owner, outbox_ids)


async def outbox_depth(storage: Storage) -> int:
    """Pending outbox messages (sent or failed ones are not counted)."""
    return await storage.count_rows(OutboxRow.id, OutboxRow.status == PENDING)


__all__ = [
    "FAILED",
    "PENDING",
    "SENT",
    "OutboxMessage",
    "chat_messages",
    "claim_outbox",
    "defer",
    "enqueue",
    "enqueue_digest",
    "fail_pending_for_chat",
    "get_message",
    "mark_failed",
    "mark_sent",
    "next_pending_at",
    "outbox_counts",
    "outbox_depth",
    "pending_messages",
    "release_outbox",
]
