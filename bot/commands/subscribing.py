"""Subscription commands: /subscribe (also to a channel by @name, numeric id, or picked from
buttons in a private chat), /unsubscribe, /subscriptions, and /digest now."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import (
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError

from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo
from stories.digest import AlertRule, AlertRuleError, parse_alert_rule
from stories.errors import Message
from stories.model import Story
from stories.schedule import (
    SCHEDULE_HELP,
    Schedule,
    ScheduleError,
    parse_schedule,
)

from ..actions import subscriptions as subscription_actions
from ..actions.digests import send_digest_now
from ..actions.subscriptions import alert_rule, schedule_text, zone_of
from ..i18n import Translator
from ..keyboards import markup
from ..render import escape
from ..services import Runtime
from .chat_settings import alert_rule_text, subscription_alerts_text
from .common import (
    MAX_STORY_BUTTONS,
    Asked,
    Context,
    asked,
    error_html,
    esc,
    is_chat_admin,
    pack_lines,
    refuse,
    register_chat,
    say,
    send,
    shorten,
    signer_of,
    story_not_found,
    thread_of,
    when,
)

CHAT_ID = re.compile(r"^-\d{5,20}$")


async def _target(update: Update, context: Context, ask: Asked) -> tuple[ChatInfo, list[str]] | None:
    """The chat to manage: ``@channel`` as first argument (user and bot must be its admins), else
    this chat (the sender must be its admin). Replies and returns None when not allowed."""
    rt, actor, chat, tr, args = ask
    if args and (args[0].startswith("@") or CHAT_ID.match(args[0])):
        handle: str | int = args[0] if args[0].startswith("@") else int(args[0])
        if actor.user_id is None:
            await refuse(
                update,
                context,
                tr.t("Name another chat from a private chat or a group, not from a channel post."),
            )
            return None
        shown = esc(str(handle), 64)
        try:
            target = await context.bot.get_chat(handle)
        except TelegramError:
            await send(
                update,
                context,
                "❓ " + tr.t("I cannot find {chat}: add me there as an admin first.", chat=shown),
            )
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, actor.user_id):
            await refuse(update, context, tr.t("You are not an admin of {chat}.", chat=shown))
            return None
        if not await rt.permissions.is_member_admin(context.bot, target.id, context.bot.id):
            await refuse(
                update,
                context,
                tr.t("I am not an admin of {chat}: add me as an admin there first.", chat=shown),
            )
            return None
        return await register_chat(rt, target), args[1:]
    if not await is_chat_admin(rt, context, actor):
        await refuse(update, context, tr.t("Only this chat's admins can change its subscriptions."))
        return None
    return chat, args


async def _target_and_story(
    update: Update, context: Context, ask: Asked
) -> tuple[ChatInfo, list[str], tuple[Story, list[str]] | None] | None:
    """``_target`` (None when not allowed), its arguments after the chat, and the story they
    name with the words after it (None when they name none)."""
    target = await _target(update, context, ask)
    if target is None:
        return None
    where, rest = target
    return where, rest, await _find_story(ask.rt, where.id, rest)


async def _find_story(rt: Runtime, chat_id: int, args: list[str]) -> tuple[Story, list[str]] | None:
    """The longest prefix of ``args`` naming a story, and the rest."""
    for n in range(len(args), 0, -1):
        found = await rt.storage.get_story(" ".join(args[:n]), chat_id=chat_id)
        if found is not None:
            return found, args[n:]
    return None


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe [@channel|-100ID] NAME [schedule]: digests of a story for this chat (its forum
    topic, when asked from one) or a channel. In a private chat without arguments: buttons
    for the groups and channels the user is admin of and the bot is in."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, actor, chat, tr, args = ask
    if not args and chat.type == ChatType.PRIVATE and actor.user_id is not None:
        text, keyboard = await _offer_chats(rt, context, tr, chat, actor.user_id)
        await send(update, context, text, markup=keyboard)
        return
    if not args or ((args[0].startswith("@") or CHAT_ID.match(args[0])) and len(args) < 2):
        await send(
            update,
            context,
            tr.t(
                "Usage: <code>/subscribe NAME [schedule]</code> or "
                "<code>/subscribe @channel NAME [schedule]</code> (or the channel's numeric id, "
                "<code>-100…</code>); {schedules}. See /stories.",
                schedules=say(tr, Message(SCHEDULE_HELP)),
            ),
        )
        return
    picked = await _target_and_story(update, context, ask)
    if picked is None:
        return
    where, rest, found = picked
    if found is None or found[0].id is None:
        await send(update, context, await story_not_found(rt, where.id, rest[0] if rest else "", tr))
        return
    story_found, schedule_words = found
    schedule_words, alerts_word = _alerts_option(schedule_words)
    try:
        alerts = _parse_alerts(rt, alerts_word)
        if schedule_words:
            schedule = parse_schedule(" ".join(schedule_words))
        else:  # "/subscribe NAME alerts": keep the schedule it has, else the default one
            current = next(
                (
                    s
                    for s in await subscription_store.list_subscriptions(rt.storage, where.id)
                    if s.story_id == story_found.id
                ),
                None,
            )
            schedule = parse_schedule(
                current.schedule if current and alerts_word else rt.config.digest.schedule
            )
    except (ScheduleError, AlertRuleError) as exc:
        await send(update, context, f"❌ {error_html(tr, exc)}")
        return
    thread = thread_of(update) if where.id == chat.id else None
    await send(
        update,
        context,
        await subscribe_to(rt, tr, where, story_found, schedule, actor.user_id, thread, alerts=alerts),
    )


_ALERTS = re.compile(r"^(?:alerts|alert)(?::(.+))?$", re.IGNORECASE)


def _alerts_option(words: list[str]) -> tuple[list[str], str | None]:
    """The schedule words without an ``alerts`` / ``alerts:RULE`` word, and that word."""
    kept, found = [], None
    for word in words:
        if _ALERTS.match(word):
            found = word
        else:
            kept.append(word)
    return kept, found


def _parse_alerts(rt: Runtime, word: str | None) -> tuple[bool, AlertRule | None] | None:
    """``alerts`` (on, the default threshold), ``alerts:off``, ``alerts:3/30m``, ``alerts:x3``:
    (on, own threshold); None without the word (alerts stay as the schedule means them)."""
    match = _ALERTS.match(word) if word else None
    if match is None:
        return None
    value = (match.group(1) or "").strip().lower()
    if not value or value == "on":
        return True, None
    if value == "off":
        return False, None
    return True, parse_alert_rule(value, default_window=timedelta(seconds=rt.config.digest.breaking_window))


async def subscribe_to(
    rt: Runtime,
    tr: Translator,
    where: ChatInfo,
    found: Story,
    schedule: Schedule | None,
    user_id: int | None,
    thread_id: int | None,
    *,
    alerts: tuple[bool, AlertRule | None] | None = None,
) -> str:
    """Subscribe ``where`` (its forum topic ``thread_id``) to a story; the confirmation (HTML).
    ``schedule`` None is the configured default; ``alerts`` (on, own threshold) None leaves
    breaking alerts as the schedule means them (``instant``: on)."""
    done = await subscription_actions.subscribe(
        rt.storage,
        where,
        found,
        schedule or rt.config.digest.schedule,
        user_id=user_id,
        thread_id=thread_id,
    )
    rt.permissions.forget(where.id)
    sub, upcoming, tz = done.subscription, done.upcoming, done.tz
    if alerts is not None and found.id is not None:
        sub = (
            await subscription_actions.change_alerts(
                rt.storage, where.id, found.id, on=alerts[0], rule=alerts[1]
            )
            or sub
        )
    values = {
        "chat": esc(where.title or str(where.id), 64),
        "story": esc(found.name, 64),
        "schedule": say(tr, schedule_text(sub.schedule, where.timezone)),
    }
    if done.created:
        text = "✅ " + tr.t("Subscribed {chat} to <b>{story}</b>: {schedule}.", **values)
    else:
        text = "✅ " + tr.t("Changed the schedule of {chat} to <b>{story}</b>: {schedule}.", **values)
    if thread_id is not None:
        text += " " + tr.t("Digests are posted in this topic.")
    if upcoming is not None:
        text += " " + tr.t("Next digest {when}.", when=when(upcoming, tz, tr))
    if sub.alerts:
        rule = alert_rule(sub, rt.config)
        text += " " + tr.t(
            "🚨 Breaking alerts: a development is posted as soon as it reaches {rule}.",
            rule=escape(alert_rule_text(tr, rule)),
        )
    elif alerts is not None:
        text += " " + tr.t("Breaking alerts are off.")
    if done.resumed:
        text += " " + tr.t("Deliveries to this chat were paused and are resumed.")
    return text


async def _manageable_chats(rt: Runtime, context: Context, user_id: int) -> list[ChatInfo]:
    """Groups and channels the bot is in where ``user_id`` is an admin (and the bot can post)."""
    found = []
    for candidate in await chat_store.candidate_chats(rt.storage, user_id):
        if not await rt.permissions.is_member_admin(context.bot, candidate.id, user_id):
            continue
        if candidate.type == ChatType.CHANNEL and not await rt.permissions.is_member_admin(
            context.bot, candidate.id, context.bot.id
        ):
            continue
        found.append(candidate)
    return found


async def _offer_chats(
    rt: Runtime, context: Context, tr: Translator, chat: ChatInfo, user_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """/subscribe in private: which chat to set up, as buttons, and the other ways."""
    signer = await signer_of(rt)
    chats = await _manageable_chats(rt, context, user_id)
    lines = [tr.t("📬 <b>Which chat should get digests?</b>")]
    if not chats:
        lines.append(tr.t("I know no group or channel where you are an admin and I am in."))
    lines.append(
        tr.t(
            "Add me to a group, or as an admin to a channel; or send <code>/subscribe -100… NAME</code> "
            "with the channel's numeric id, or forward me a post from the channel. "
            "For this chat: <code>/subscribe NAME</code>."
        )
    )
    rows = [
        [signer.button(shorten(c.title or str(c.id), 40), chat.id, "pick", c.id)]
        for c in chats[:MAX_STORY_BUTTONS]
    ]
    return "\n".join(lines), markup(rows)


async def offer_stories(
    rt: Runtime, tr: Translator, chat: ChatInfo, target: ChatInfo
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """Buttons (in ``chat``) subscribing ``target`` to each story it can see."""
    signer = await signer_of(rt)
    subscribed = {s.story_id for s in await subscription_store.list_subscriptions(rt.storage, target.id)}
    visible = await rt.storage.list_stories(chat_id=target.id)
    title = esc(target.title or str(target.id), 64)
    if not visible:
        return [tr.t("No stories yet. Chat admins can add one: /watch add NAME QUERY")], None
    lines = [tr.t("📚 Stories for <b>{chat}</b>: tap one to subscribe.", chat=title)]
    rows = []
    for story_seen in visible[:MAX_STORY_BUTTONS]:
        mark = "✅ " if story_seen.id in subscribed else "🔔 "
        rows.append(
            [signer.button(mark + shorten(story_seen.name, 40), chat.id, "sc", target.id, story_seen.id)]
        )
    return lines, markup(rows)


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe [@channel] NAME: stop a story's digests."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, _, _, tr, args = ask
    if not args or (args[0].startswith("@") and len(args) < 2):
        await send(
            update,
            context,
            tr.t("Usage: <code>/unsubscribe NAME</code> or <code>/unsubscribe @channel NAME</code>"),
        )
        return
    picked = await _target_and_story(update, context, ask)
    if picked is None:
        return
    where, rest, found = picked
    shown = esc(where.title or str(where.id), 64)
    if (
        found is None
        or found[0].id is None
        or not await subscription_store.unsubscribe(rt.storage, where.id, found[0].id)
    ):
        text = tr.t(
            "❓ {chat} is not subscribed to {story}. See /subscriptions.",
            chat=shown,
            story=esc(" ".join(rest), 64),
        )
    else:
        text = tr.t("✅ Unsubscribed {chat} from <b>{story}</b>.", chat=shown, story=esc(found[0].name, 64))
    await send(update, context, text)


async def subscriptions(update: Update, context: Context) -> None:
    """/subscriptions [@channel]: what the chat receives, when, and whether deliveries are paused."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, actor, chat, tr, args = ask
    where = chat
    if args and args[0].startswith("@"):
        target = await _target(update, context, ask)
        if target is None:
            return
        where = target[0]
    subs = await subscription_store.list_subscriptions(rt.storage, where.id)
    tz = zone_of(where.timezone)
    title = esc(where.title or str(where.id), 64)
    lines = [
        tr.t("📬 <b>Subscriptions of {chat}</b> (time zone {zone})", chat=title, zone=escape(where.timezone))
    ]
    if where.paused:
        lines.append(_paused_line(tr, where))
        lines.append(tr.t("An admin can resume them with /subscribe NAME once I can post here again."))
    if not subs:
        lines.append(tr.t("None yet: /subscribe NAME [schedule]. See /stories."))
    lines.extend(_subscription_line(tr, rt, sub, where, tz) for sub in subs)
    if where is chat and chat.type == ChatType.PRIVATE and actor.user_id is not None:
        others: dict[int, list[str]] = {}
        heads: dict[int, str] = {}
        for other, sub in await subscription_store.managed_subscriptions(rt.storage, actor.user_id):
            other_tz = zone_of(other.timezone)
            heads.setdefault(other.id, _managed_heading(tr, other))
            others.setdefault(other.id, []).append(_subscription_line(tr, rt, sub, other, other_tz))
        for chat_id, sub_lines in others.items():
            lines.append("")
            lines.append(heads[chat_id])
            lines.extend(sub_lines)
    await send(update, context, pack_lines(lines))


def _subscription_line(
    tr: Translator, rt: Runtime, sub: subscription_store.SubscriptionInfo, chat: ChatInfo, tz: ZoneInfo
) -> str:
    line = f"• <b>{esc(sub.story_name, 64)}</b> — {say(tr, schedule_text(sub.schedule, chat.timezone))}"
    if sub.next_digest_at is not None and not chat.paused:
        line += ", " + tr.t("next {when}", when=when(sub.next_digest_at, tz, tr))
    if sub.last_digest_at is not None:
        line += ", " + tr.t("last {when}", when=when(sub.last_digest_at, tz, tr))
    if sub.alerts:
        line += ", 🚨 " + escape(subscription_alerts_text(tr, rt, sub))
    if sub.muted:
        line += ", " + tr.t("🔕 muted")
    return line


def _paused_line(tr: Translator, chat: ChatInfo) -> str:
    reason = esc(chat.paused_reason, 300) if chat.paused_reason else tr.t("unknown reason")
    return tr.t("⏸ <b>Deliveries paused</b>: {reason}", reason=reason)


def _managed_heading(tr: Translator, chat: ChatInfo) -> str:
    name = esc(chat.title or str(chat.id), 64)
    if chat.username:
        name += f" (@{esc(chat.username, 64)})"
    head = tr.t("📬 <b>You subscribed {chat}</b>", chat=name)
    if chat.paused:
        head += "\n" + _paused_line(tr, chat)
    return head


async def digest(update: Update, context: Context) -> None:
    """/digest: this chat's digest now (what is new since its last one)."""
    ask = await asked(update, context)
    if ask is None:
        return
    rt, _, chat, tr, _ = ask
    if chat.paused:
        await chat_store.resume_chat(rt.storage, chat.id)  # it reached us, so we can post again
    async with rt.digest_lock:
        written = await send_digest_now(rt.storage, rt.config, chat.id, thread_id=thread_of(update))
    if written is None:
        await send(
            update, context, tr.t("This chat has no subscriptions yet: /subscribe NAME. See /stories.")
        )
    elif written == 0:
        await send(update, context, tr.t("Nothing new since the last digest."))
    else:
        await rt.sender.send_pending()
