"""The bot joining and leaving chats: resume or pause deliveries, greet a new group (or the
admin who added it to a channel), follow a group that became a supergroup, offer to subscribe
a channel a post was forwarded from; and the one error handler."""

from __future__ import annotations

import contextlib

from telegram import (
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError

from storage import chats as chat_store
from storage.chats import ChatInfo

from ..outbox import NO_PREVIEW
from ..permissions import ADMIN_STATUSES
from ..services import Runtime, runtime_of
from .common import (
    Context,
    esc,
    log,
    prepare,
    refuse,
    register_chat,
    send,
    tr_of,
)
from .subscribing import offer_stories


async def my_chat_member(update: Update, context: Context) -> None:
    """The bot was added to or removed from a chat: resume or pause its deliveries."""
    change = update.my_chat_member
    if change is None:
        return
    rt = runtime_of(context)
    status = change.new_chat_member.status
    old = change.old_chat_member.status
    gone = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    joined = status not in gone and old in gone
    adder = change.from_user.id if change.from_user and not change.from_user.is_bot else None
    chat = change.chat
    info = await register_chat(rt, chat, added_by=adder if joined or status in ADMIN_STATUSES else None)
    rt.permissions.forget(chat.id)
    if status in gone:
        by = change.from_user.full_name if change.from_user else "someone"
        await chat_store.pause_chat(rt.storage, chat.id, f"the bot was removed from the chat by {by}")
        return
    await chat_store.resume_chat(rt.storage, chat.id)
    if chat.type == ChatType.PRIVATE or not (
        joined or (status in ADMIN_STATUSES and old not in ADMIN_STATUSES)
    ):
        return
    await _greet(update, context, rt, info, adder)


async def _greet(update: Update, context: Context, rt: Runtime, chat: ChatInfo, adder: int | None) -> None:
    """The bot was just added: next steps in the group; for a channel (where a greeting would
    be a post to every subscriber), to the admin who added it, with subscribe buttons."""
    tr = tr_of(update, chat)
    title = esc(chat.title or str(chat.id), 64)
    if chat.type != ChatType.CHANNEL:
        text = tr.t(
            "👋 Hello, {chat}! I follow news stories and post digests of what is new.\n"
            "Next steps: /stories to see the stories and subscribe with a tap, "
            "/settings for the language and time zone, /help for every command.",
            chat=title,
        )
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                chat.id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )
        return
    if adder is None:
        return
    private = await chat_store.get_chat(rt.storage, adder)
    adder_tr = tr_of(update, private)
    if not await rt.permissions.is_member_admin(context.bot, chat.id, context.bot.id):
        text = adder_tr.t(
            "👋 You added me to {chat}. Make me an admin there (allowed to post), then pick its stories "
            "with /subscribe.",
            chat=title,
        )
        keyboard = None
    else:
        owner = private or ChatInfo(
            adder, "private", None, None, rt.config.digest.timezone, False, None, None
        )
        lines, keyboard = await offer_stories(rt, adder_tr, owner, chat)
        text = adder_tr.t("👋 I am in {chat}. Pick the stories it should get digests of:", chat=title)
        text += "\n" + "\n".join(lines[1:])
    with contextlib.suppress(TelegramError):  # they may never have started a chat with the bot
        await context.bot.send_message(
            adder, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW, reply_markup=keyboard
        )


async def forwarded(update: Update, context: Context) -> None:
    """A post forwarded from a channel into a private chat: offer to subscribe that channel."""
    setup = await prepare(update, context)
    message = update.effective_message
    if setup is None or message is None:
        return
    rt, actor, chat = setup
    tr = tr_of(update, chat)
    origin = message.forward_origin
    if not isinstance(origin, MessageOriginChannel) or actor.user_id is None:
        return
    channel = origin.chat
    title = esc(channel.title or str(channel.id), 64)
    if not await rt.permissions.is_member_admin(context.bot, channel.id, actor.user_id):
        await refuse(update, context, tr.t("You are not an admin of {chat}.", chat=title))
        return
    if not await rt.permissions.is_member_admin(context.bot, channel.id, context.bot.id):
        await refuse(
            update, context, tr.t("I am not an admin of {chat}: add me as an admin there first.", chat=title)
        )
        return
    target = await register_chat(rt, channel)
    lines, keyboard = await offer_stories(rt, tr, chat, target)
    await send(update, context, lines, markup=keyboard)


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup: follow it to its new id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    rt = runtime_of(context)
    await chat_store.migrate_chat(rt.storage, message.chat_id, message.migrate_to_chat_id)


async def on_error(update: object, context: Context) -> None:
    """The one error handler: log with the update's chat, and tell the user briefly."""
    log.error("handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error)
    if (
        isinstance(update, Update)
        and update.effective_chat is not None
        and update.effective_message is not None
    ):
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id, "Sorry, something went wrong on my side; it has been logged."
            )
