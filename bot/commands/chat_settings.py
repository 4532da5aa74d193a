"""Chat settings: /settings (language and time zone as buttons) and /timezone ZONE."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)

from storage.delivery import ChatInfo
from stories.schedule import (
    ScheduleError,
    resolve_timezone,
)

from ..actions.subscriptions import apply_timezone
from ..i18n import LANGUAGE_NAMES, Translator
from ..keyboards import markup
from ..render import escape
from ..services import Runtime
from .common import (
    Context,
    esc,
    is_chat_admin,
    prepare,
    refuse,
    send,
    signer_of,
    tr_of,
    when,
)

# Time zones offered as buttons (any other: /timezone ZONE); indexes go in callback data.
SETTINGS_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Berlin",
    "Europe/Moscow",
    "Africa/Cairo",
    "America/New_York",
    "America/Mexico_City",
    "America/Bogota",
    "America/Argentina/Buenos_Aires",
    "Asia/Dubai",
    "Asia/Tokyo",
)


async def settings_view(
    rt: Runtime, chat: ChatInfo, tr: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    signer = await signer_of(rt)
    language = LANGUAGE_NAMES.get(chat.language or "", tr.t("each user's own"))
    lines = [
        tr.t("⚙️ <b>Settings of {chat}</b>", chat=esc(chat.title or str(chat.id), 64)),
        tr.t("Language: {language}", language=escape(language)),
        tr.t("Time zone: {zone}", zone=escape(chat.timezone)),
        "",
        tr.t("Digest schedules are per story: /subscribe NAME daily 08:00. Other zones: /timezone ZONE."),
    ]
    rows: list[list[InlineKeyboardButton]] = [
        [
            signer.button(("• " if chat.language == code else "") + name, chat.id, "set", "lang", code)
            for code, name in LANGUAGE_NAMES.items()
        ]
    ]
    zone_buttons = [
        signer.button(
            ("• " if chat.timezone == zone else "") + zone.rsplit("/", 1)[-1].replace("_", " "),
            chat.id,
            "set",
            "tz",
            n,
        )
        for n, zone in enumerate(SETTINGS_ZONES)
    ]
    rows.extend(zone_buttons[n : n + 3] for n in range(0, len(zone_buttons), 3))
    return "\n".join(lines), markup(rows)


async def settings(update: Update, context: Context) -> None:
    """/settings: the chat's language and time zone as a menu of buttons (admins change them)."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, _, chat = setup
    text, keyboard = await settings_view(rt, chat, tr_of(update, chat))
    await send(update, context, text, markup=keyboard)


async def timezone(update: Update, context: Context) -> None:
    """/timezone ZONE: the zone this chat's schedules and times use (admins)."""
    setup = await prepare(update, context)
    if setup is None:
        return
    rt, actor, chat = setup
    args = context.args or []
    if not args:
        await send(
            update,
            context,
            f"This chat's time zone is {escape(chat.timezone)}. "
            "Change it: <code>/timezone Europe/Madrid</code>",
        )
        return
    if not await is_chat_admin(rt, context, actor):
        await refuse(update, context, "Only this chat's admins can change its time zone.")
        return
    try:
        tz = resolve_timezone(args[0])
    except ScheduleError as exc:
        await send(update, context, f"❌ {escape(str(exc))}")
        return
    await apply_timezone(rt.storage, chat.id, tz)
    now = datetime.now(UTC)
    await send(update, context, f"✅ Time zone set to {escape(tz.key)}; it is now {when(now, tz)} there.")
