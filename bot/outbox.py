"""Delivery outbox: every digest and alert is written to the database first, then sent.

``OutboxSender.send_pending`` sends what is due, oldest first, and marks each message sent
with Telegram's message id. Because the mark follows the send, a crash in between may repeat
that one message after a restart, never lose it; a restart simply sends what is still pending.

Telegram's answers:

- 429 ``RetryAfter``: wait ``retry_after`` seconds (all sending waits: the limit is the bot's),
  then retry the same message; AIORateLimiter already spaces requests out.
- 403 ``Forbidden`` (bot removed from the chat, blocked by the user): the chat is paused with the
  reason, its pending messages are given up, and ``/subscriptions`` shows why.
- 400 "can't parse entities": resent as plain text (``render_plain``) and logged.
- ``ChatMigrated`` (group became a supergroup): the chat, its subscriptions and pending
  messages move to the new id, and the message is sent there.
- Network errors and time-outs: retried later with a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from storage.chats import get_chat, migrate_chat, pause_chat
from storage.leasing import worker_name
from storage.outbox import (
    PENDING,
    OutboxMessage,
    claim_outbox,
    defer,
    fail_pending_for_chat,
    get_message,
    mark_failed,
    mark_sent,
    release_outbox,
)
from storage.repository import Storage

from .observability import REGISTRY, TELEGRAM_429, TELEGRAM_SEND_SECONDS, log_event
from .render import render_plain

log = logging.getLogger("newsbot.outbox")

__all__ = ["NO_PREVIEW", "OutboxSender", "SendReport", "send_message"]

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MAX_ATTEMPTS = 8
MAX_RETRY_AFTER = 3600.0
# Long enough for a round that waits out a flood limit; an expired claim is only re-sent
# by another sender after its owner died or stalled that long.
LEASE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one round of sending did."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0


def _retry_after(exc: RetryAfter) -> float:
    """Seconds to wait; PTB 22 warns that ``retry_after`` becomes a timedelta, so take both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_message(
    bot: Bot,
    chat_id: int,
    text: str,
    parse_mode: str | None,
    *,
    thread_id: int | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
    silent: bool = False,
    link_previews: bool = False,
) -> Message:
    """Send one message the way every bot message goes out: link previews off unless the
    chat turned them on, with a sound unless it is ``silent``; into forum topic ``thread_id``
    when given."""
    return await bot.send_message(
        chat_id,
        text,
        parse_mode=parse_mode,
        link_preview_options=None if link_previews else NO_PREVIEW,
        message_thread_id=thread_id,
        reply_markup=reply_markup,
        disable_notification=silent or None,
    )


def _keyboard(bot: Bot, stored: str | None) -> InlineKeyboardMarkup | None:
    """An outbox message's stored keyboard; None when it has none (or it no longer parses)."""
    if not stored:
        return None
    try:
        return InlineKeyboardMarkup.de_json(json.loads(stored), bot)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("outbox: a stored keyboard does not parse (%s); sending without it", exc)
        return None


class OutboxSender:
    """Sends pending outbox messages; one round at a time."""

    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.storage = storage
        self.bot = bot
        self.max_attempts = max_attempts
        # Messages are claimed with a lease, so several bot processes sharing a PostgreSQL
        # database never send one twice; a sender that dies leaves its claims to expire. A
        # stable ``owner`` lets the same process, restarted, take its claims back at once.
        self.owner = owner or f"sender-{worker_name()}"
        self.lease_seconds = lease_seconds
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Cut a round short (shutdown): a flood-control wait ends now, its message stays
        pending with its ``not_before``, and no further message is sent this round."""
        self._stopping.set()

    async def recover(self) -> int:
        """On start: give back the claims a previous run under the same owner name left behind
        (it died mid-round), so its messages are resent now rather than after the lease."""
        released = await release_outbox(self.storage, self.owner)
        if released:
            log.info("outbox: %d messages claimed by a previous run are pending again", released)
        return released

    async def send_pending(self, *, limit: int = 100) -> SendReport:
        """Send every due pending message (a round already running makes this a no-op)."""
        if self._lock.locked() or self._stopping.is_set():
            return SendReport()
        async with self._lock:
            sent = failed = deferred = 0
            skip: set[int] = set()  # chats deferred this round: keep their order intact
            ids = await claim_outbox(self.storage, self.owner, limit=limit, lease_seconds=self.lease_seconds)
            try:
                for outbox_id in ids:
                    if self._stopping.is_set():
                        break
                    message = await get_message(self.storage, outbox_id)
                    if message is None or message.status != PENDING or message.chat_id in skip:
                        continue
                    outcome = await self._deliver(message)
                    if outcome == "sent":
                        sent += 1
                    elif outcome == "failed":
                        failed += 1
                    else:
                        deferred += 1
                        skip.add(message.chat_id)
            finally:
                await release_outbox(self.storage, self.owner, ids)
            return SendReport(sent, failed, deferred)

    async def _deliver(self, message: OutboxMessage) -> str:
        chat_id = message.chat_id
        text, parse_mode = message.text, message.parse_mode
        note: str | None = None
        keyboard = _keyboard(self.bot, message.reply_markup)
        for _ in range(self.max_attempts):
            chat = await get_chat(self.storage, chat_id)  # its delivery settings (/settings)
            started = time.monotonic()
            try:
                sent = await send_message(
                    self.bot,
                    chat_id,
                    text,
                    parse_mode,
                    thread_id=message.thread_id,
                    reply_markup=keyboard,
                    silent=chat.silent if chat else False,
                    link_previews=chat.link_previews if chat else False,
                )
            except RetryAfter as exc:
                REGISTRY.inc(TELEGRAM_429)
                wait = min(_retry_after(exc), MAX_RETRY_AFTER)
                log.warning("outbox %d: flood control, waiting %.1fs (chat %d)", message.id, wait, chat_id)
                await defer(self.storage, message.id, datetime.now(UTC) + timedelta(seconds=wait), str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                if self._stopping.is_set():
                    return "deferred"  # pending, due at not_before: sent after the restart
                continue
            except ChatMigrated as exc:
                log.info("chat %d migrated to %d; following it", chat_id, exc.new_chat_id)
                await migrate_chat(self.storage, chat_id, exc.new_chat_id)
                chat_id = exc.new_chat_id
                continue
            except Forbidden as exc:
                reason = f"{exc.message} (at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
                log.warning("chat %d: %s; pausing its subscriptions", chat_id, exc.message)
                await pause_chat(self.storage, chat_id, reason)
                await mark_failed(self.storage, message.id, exc.message)
                await fail_pending_for_chat(self.storage, chat_id, f"chat paused: {exc.message}")
                return "failed"
            except BadRequest as exc:
                if parse_mode and "can't parse entities" in exc.message.lower():
                    log.warning(
                        "outbox %d: Telegram could not parse our HTML (%s); resending as plain text",
                        message.id,
                        exc.message,
                    )
                    text, parse_mode = render_plain(text), None
                    note = f"sent as plain text: {exc.message}"
                    continue
                log.error("outbox %d to chat %d refused: %s", message.id, chat_id, exc.message)
                await mark_failed(self.storage, message.id, exc.message)
                return "failed"
            except NetworkError as exc:
                # Includes TimedOut: the message may have arrived; resending risks one repeat,
                # which the outbox accepts rather than losing a message.
                delay = min(2 ** (message.attempts + 1), 600)
                log.warning("outbox %d: network error (%s); retrying in %ds", message.id, exc, delay)
                await defer(self.storage, message.id, datetime.now(UTC) + timedelta(seconds=delay), str(exc))
                return "deferred"
            except TelegramError as exc:
                log.error("outbox %d to chat %d failed: %s", message.id, chat_id, exc)
                await mark_failed(self.storage, message.id, str(exc))
                return "failed"
            seconds = time.monotonic() - started
            REGISTRY.observe(TELEGRAM_SEND_SECONDS, seconds)
            await mark_sent(self.storage, message.id, sent.message_id, note=note)
            log_event(
                log, "delivery", outbox_id=message.id, chat=chat_id, status="sent", seconds=round(seconds, 3)
            )
            return "sent"
        await mark_failed(self.storage, message.id, f"gave up after {self.max_attempts} attempts")
        return "failed"
