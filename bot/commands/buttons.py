"""Every inline button press: its signed callback data verified for the chat it was pressed
in (a forged or stale press changes nothing), then the action it names, and the message edited
to show the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import (
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest

from storage import buttons as button_store
from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo, set_chat_delivery
from storage.subscriptions import set_muted
from stories.schedule import (
    resolve_timezone,
)

from ..actions.stories import one_development
from ..actions.subscriptions import apply_timezone, change_alerts, own_rule, zone_of
from ..i18n import LANGUAGES, Translator
from ..keyboards import ButtonRefused, Press, markup
from ..outbox import NO_PREVIEW
from ..render import render_plain, render_story
from ..services import Runtime, runtime_of
from .chat_settings import SETTINGS_ZONES, alerts_view, next_preset, settings_view
from .common import (
    Context,
    log,
    presser_manages,
    register_chat,
    send,
    shorten,
    signer_of,
    thread_of,
    tr_of,
)
from .reading import search_page, stories_view, story_page, visible_story
from .subscribing import offer_stories, subscribe_to


async def on_button(update: Update, context: Context) -> None:
    """Every inline button: verify its signed data for this chat, do what it says, answer the
    press, and show the result in the same message. A forged or stale press changes nothing."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None:
        return
    rt = runtime_of(context)
    if chat is None:
        await query.answer()
        return
    info = await register_chat(rt, chat)
    tr = tr_of(update, info)
    try:
        press = (await signer_of(rt)).verify(chat.id, query.data)
    except ButtonRefused as exc:
        log.info("button refused in chat %d: %s", chat.id, exc.reason)
        note = (
            tr.t("This button has expired: run the command again.")
            if exc.reason == "stale"
            else tr.t("This button is not valid here.")
        )
        await query.answer(note, show_alert=True)
        return
    action = _BUTTONS.get(press.action)
    if action is None:
        await query.answer(tr.t("This button is not valid here."), show_alert=True)
        return
    result = await action(update, context, rt, info, tr, press)
    await query.answer(result.note or None, show_alert=result.alert)
    if result.texts and result.new_message:
        await send(update, context, result.texts, markup=result.markup)
    elif result.texts:
        await _show(update, context, result.texts, result.markup)
    elif result.markup is not None:
        await _show_markup(update, context, result.markup)


async def _show_markup(update: Update, context: Context, keyboard: InlineKeyboardMarkup) -> None:
    """Change only the buttons under the pressed message (its text stays as it was)."""
    query = update.callback_query
    chat = update.effective_chat
    message = query.message if query else None
    if chat is None or message is None or not message.is_accessible:
        return
    try:
        await context.bot.edit_message_reply_markup(
            chat_id=chat.id, message_id=message.message_id, reply_markup=keyboard
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            log.info("button: cannot change the buttons (%s)", exc.message)


async def _show(
    update: Update, context: Context, texts: Sequence[str], keyboard: InlineKeyboardMarkup | None
) -> None:
    """Put ``texts`` in the pressed message (a longer result: its first part), else send them."""
    query = update.callback_query
    chat = update.effective_chat
    message = query.message if query else None
    if chat is None:
        return
    if message is not None and message.is_accessible:
        try:
            await context.bot.edit_message_text(
                texts[0],
                chat_id=chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=keyboard,
            )
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            log.info("button: cannot edit (%s); sending a new message", exc.message)
    await send(update, context, texts, markup=keyboard)


@dataclass(frozen=True, slots=True)
class ButtonResult:
    """What a press did: a short note for the press, and what the message shows now."""

    note: str = ""
    texts: Sequence[str] = ()
    markup: InlineKeyboardMarkup | None = None
    alert: bool = False
    new_message: bool = False  # send ``texts`` as new messages (the pressed one stays)


async def _search_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    query = await button_store.searched_query(rt.storage, press.arg(0))
    if query is None:
        return ButtonResult(tr.t("This search has expired: run /search again."), alert=True)
    text, keyboard = await search_page(rt, chat, tr, query, max(0, press.int_arg(1)))
    return ButtonResult(texts=[text], markup=keyboard)


async def _story_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    found = await visible_story(rt, chat.id, press.int_arg(0))
    if found is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    texts, keyboard = await story_page(rt, chat, tr, found, max(0, press.int_arg(1)), press.int_arg(2))
    return ButtonResult(texts=texts, markup=keyboard)


async def _toggle_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """🔔 / 🔕 under /stories: subscribe this chat (with the default schedule) or unsubscribe."""
    if not await presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its subscriptions."), alert=True)
    found = await visible_story(rt, chat.id, press.int_arg(0))
    if found is None or found.id is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    user = update.effective_user
    if press.int_arg(1):
        note = await subscribe_to(rt, tr, chat, found, None, user.id if user else None, thread_of(update))
        note = render_plain(note)
    else:
        await subscription_store.unsubscribe(rt.storage, chat.id, found.id)
        note = tr.t("Unsubscribed from {name}.", name=found.name)
    texts, keyboard = await stories_view(rt, chat, tr)
    return ButtonResult(shorten(note, 190), texts=texts, markup=keyboard)


async def _pick_chat_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A chat picked after /subscribe in private: offer its stories."""
    target = await chat_store.get_chat(rt.storage, press.int_arg(0))
    if target is None or not await presser_manages(update, context, rt, target.id):
        return ButtonResult(tr.t("You are not an admin of that chat."), alert=True)
    texts, keyboard = await offer_stories(rt, tr, chat, target)
    return ButtonResult(texts=texts, markup=keyboard)


async def _subscribe_chat_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A story picked for another chat (from a private chat): subscribe it there."""
    target = await chat_store.get_chat(rt.storage, press.int_arg(0))
    user = update.effective_user
    if target is None or user is None or not await presser_manages(update, context, rt, target.id):
        return ButtonResult(tr.t("You are not an admin of that chat."), alert=True)
    if target.type == ChatType.CHANNEL and not await rt.permissions.is_member_admin(
        context.bot, target.id, context.bot.id
    ):  # in a channel only admins post; in a group being there is enough
        return ButtonResult(tr.t("I am not an admin there: add me as an admin first."), alert=True)
    found = await visible_story(rt, target.id, press.int_arg(1))
    if found is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    text = await subscribe_to(rt, tr, target, found, None, user.id, None)
    texts, keyboard = await offer_stories(rt, tr, chat, target)
    return ButtonResult(shorten(render_plain(text), 190), texts=[text, *texts][:1], markup=keyboard)


async def _settings_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """A /settings choice: language, time zone, silent delivery, link previews; or the way to
    the alerts menu and back (no change: no "saved")."""
    if not await presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its settings."), alert=True)
    what, value = press.arg(0), press.arg(1)
    if what == "alerts":
        text, keyboard = await alerts_view(rt, chat, tr)
        return ButtonResult(texts=[text], markup=keyboard)
    if what == "main":
        text, keyboard = await settings_view(rt, chat, tr)
        return ButtonResult(texts=[text], markup=keyboard)
    if what == "lang" and value in LANGUAGES:
        await chat_store.set_chat_language(rt.storage, chat.id, value)
    elif what == "tz" and value.isdigit() and int(value) < len(SETTINGS_ZONES):
        await apply_timezone(rt.storage, chat.id, resolve_timezone(SETTINGS_ZONES[int(value)]))
    elif what == "silent" and value in ("0", "1"):
        await set_chat_delivery(rt.storage, chat.id, silent=value == "1")
    elif what == "prev" and value in ("0", "1"):
        await set_chat_delivery(rt.storage, chat.id, link_previews=value == "1")
    else:
        return ButtonResult(tr.t("This button is not valid here."), alert=True)
    fresh = await chat_store.get_chat(rt.storage, chat.id) or chat
    new_tr = tr_of(update, fresh)
    text, keyboard = await settings_view(rt, fresh, new_tr)
    return ButtonResult(new_tr.t("✅ Saved."), texts=[text], markup=keyboard)


async def _alerts_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """/settings ▸ alerts: a subscription's alerts on or off, or its next threshold (on)."""
    if not await presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its settings."), alert=True)
    story_id, what = press.int_arg(0), press.arg(1)
    subs = await subscription_store.list_subscriptions(rt.storage, chat.id)
    sub = next((s for s in subs if s.story_id == story_id), None)
    if sub is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    if what in ("on", "off"):
        await change_alerts(rt.storage, chat.id, story_id, on=what == "on", rule=own_rule(sub))
    elif what == "next":
        await change_alerts(rt.storage, chat.id, story_id, on=True, rule=next_preset(sub))
    else:
        return ButtonResult(tr.t("This button is not valid here."), alert=True)
    text, keyboard = await alerts_view(rt, chat, tr)
    return ButtonResult(tr.t("✅ Saved."), texts=[text], markup=keyboard)


async def _development_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """🧵 under a digest entry: the whole development, as /story shows it, in a new message."""
    found = await visible_story(rt, chat.id, press.int_arg(1))
    if found is None or found.id is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    dev = await one_development(rt.storage, press.int_arg(0), found.id)
    if dev is None:
        return ButtonResult(tr.t("This development is gone: see /story {name}.", name=found.name), alert=True)
    titles = await subscription_store.story_titles(rt.storage, [found.id])
    texts = render_story(
        titles.get(found.id, found.name), [dev], zone_of(chat.timezone), now=datetime.now(UTC), tr=tr
    )
    return ButtonResult(texts=texts, new_message=True)


async def _mute_button(
    update: Update, context: Context, rt: Runtime, chat: ChatInfo, tr: Translator, press: Press
) -> ButtonResult:
    """🔕 / 🔔 under a digest: mute this story in this chat (no digest section, no alert) or
    unmute it; the pressed button turns into its opposite."""
    if not await presser_manages(update, context, rt, chat.id):
        return ButtonResult(tr.t("Only this chat's admins can change its subscriptions."), alert=True)
    found = await visible_story(rt, chat.id, press.int_arg(0))
    if found is None or found.id is None:
        return ButtonResult(tr.t("This story is gone: see /stories."), alert=True)
    mute = bool(press.int_arg(1))
    if not await set_muted(rt.storage, chat.id, found.id, datetime.now(UTC) if mute else None):
        return ButtonResult(
            tr.t("This chat is not subscribed to {name}: see /stories.", name=found.name), alert=True
        )
    signer = await signer_of(rt)
    label = tr.t("🔔 Unmute {name}") if mute else tr.t("🔕 Mute {name}")
    flipped = signer.button(
        label.format(name=shorten(found.name, 40)), chat.id, "mu", found.id, 0 if mute else 1
    )
    query = update.callback_query
    message = query.message if query else None
    old = message.reply_markup if isinstance(message, Message) else None
    rows = [
        [flipped if button.callback_data == (query.data if query else None) else button for button in row]
        for row in (old.inline_keyboard if isinstance(old, InlineKeyboardMarkup) else ())
    ]
    note = (
        tr.t("🔕 Muted {name} here: no digests or alerts of it until you unmute it.", name=found.name)
        if mute
        else tr.t("🔔 {name} is back in this chat's digests and alerts.", name=found.name)
    )
    return ButtonResult(shorten(note, 190), markup=markup(rows) or markup([[flipped]]))


_ButtonAction = Callable[[Update, Context, Runtime, ChatInfo, Translator, Press], Awaitable[ButtonResult]]


_BUTTONS: dict[str, _ButtonAction] = {
    "s": _search_button,
    "st": _story_button,
    "sub": _toggle_button,
    "pick": _pick_chat_button,
    "sc": _subscribe_chat_button,
    "set": _settings_button,
    "dv": _development_button,
    "mu": _mute_button,
    "al": _alerts_button,
}
