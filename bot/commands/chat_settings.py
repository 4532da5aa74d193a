"""Chat settings: /settings (language, time zone, silent delivery, link previews, and each
subscription's breaking alerts, as buttons) and /timezone ZONE."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)

from storage import subscriptions as subscription_store
from storage.chats import ChatInfo
from storage.subscriptions import SubscriptionInfo
from stories.digest import AlertRule
from stories.schedule import (
    ScheduleError,
    resolve_timezone,
)

from ..actions.subscriptions import ALERT_PRESETS, alert_rule, apply_timezone, own_rule
from ..i18n import LANGUAGE_NAMES, Translator
from ..keyboards import markup
from ..render import escape
from ..services import Runtime
from .common import (
    MAX_STORY_BUTTONS,
    Context,
    asked,
    error_html,
    esc,
    is_chat_admin,
    prepare,
    refuse,
    send,
    shorten,
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


def on_off(tr: Translator, value: bool) -> str:
    """ "on" or "off", translated."""
    return tr.t("on") if value else tr.t("off")


def alert_rule_text(tr: Translator, rule: AlertRule) -> str:
    """A threshold as people read it: "≥3 outlets within 60 min", "2× the usual volume …"."""
    minutes = max(1, int(rule.window.total_seconds() // 60))
    if rule.multiple is None:
        return tr.t("≥{n} outlets within {minutes} min", n=rule.outlets, minutes=minutes)
    return tr.t(
        "{multiple}× the story's usual volume within {minutes} min (≥{n} outlets)",
        multiple=f"{rule.multiple:g}",
        minutes=minutes,
        n=rule.outlets,
    )


def subscription_alerts_text(tr: Translator, rt: Runtime, sub: SubscriptionInfo) -> str:
    """A subscription's alerts: "off", or "on, ≥3 outlets within 60 min" (plain text)."""
    if not sub.alerts:
        return tr.t("alerts off")
    text = tr.t("alerts on: {rule}", rule=alert_rule_text(tr, alert_rule(sub, rt.config)))
    if own_rule(sub) is None:
        text += " " + tr.t("(the default)")
    return text


async def settings_view(
    rt: Runtime, chat: ChatInfo, tr: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    signer = await signer_of(rt)
    language = LANGUAGE_NAMES.get(chat.language or "", tr.t("each user's own"))
    subs = await subscription_store.list_subscriptions(rt.storage, chat.id)
    alerting = sum(1 for sub in subs if sub.alerts)
    lines = [
        tr.t("⚙️ <b>Settings of {chat}</b>", chat=esc(chat.title or str(chat.id), 64)),
        tr.t("Language: {language}", language=escape(language)),
        tr.t("Time zone: {zone}", zone=escape(chat.timezone)),
        tr.t("Breaking alerts: {n} of {total} subscriptions", n=alerting, total=len(subs)),
        tr.t("Silent delivery: {state}", state=on_off(tr, chat.silent)),
        tr.t("Link previews: {state}", state=on_off(tr, chat.link_previews)),
        "",
        tr.t("Digest schedules are per story: /subscribe NAME daily 08:00. Other zones: /timezone ZONE."),
    ]
    rows: list[list[InlineKeyboardButton]] = [
        [
            signer.button(("• " if chat.language == code else "") + name, chat.id, "set", "lang", code)
            for code, name in LANGUAGE_NAMES.items()
        ],
        [
            signer.button(
                tr.t("🔕 Silent: {state}", state=on_off(tr, chat.silent)),
                chat.id,
                "set",
                "silent",
                0 if chat.silent else 1,
            ),
            signer.button(
                tr.t("🔗 Previews: {state}", state=on_off(tr, chat.link_previews)),
                chat.id,
                "set",
                "prev",
                0 if chat.link_previews else 1,
            ),
        ],
        [signer.button(tr.t("🚨 Breaking alerts ▸"), chat.id, "set", "alerts", 0)] if subs else [],
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


async def alerts_view(rt: Runtime, chat: ChatInfo, tr: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    """/settings ▸ alerts: each subscription's breaking alerts, on or off, and its threshold
    (a press cycles through ``ALERT_PRESETS``)."""
    signer = await signer_of(rt)
    subs = await subscription_store.list_subscriptions(rt.storage, chat.id)
    lines = [tr.t("🚨 <b>Breaking alerts of {chat}</b>", chat=esc(chat.title or str(chat.id), 64))]
    rows: list[list[InlineKeyboardButton]] = []
    for sub in subs[:MAX_STORY_BUTTONS]:
        state = escape(subscription_alerts_text(tr, rt, sub))
        if sub.muted:
            state += " · " + tr.t("🔕 muted")
        lines.append(f"• <b>{esc(sub.story_name, 64)}</b> — {state}")
        rule = alert_rule(sub, rt.config)
        rows.append(
            [
                signer.button(
                    ("🚨 " if sub.alerts else "💤 ") + shorten(sub.story_name, 30),
                    chat.id,
                    "al",
                    sub.story_id,
                    "off" if sub.alerts else "on",
                ),
                signer.button(
                    shorten(alert_rule_text(tr, rule), 40) + " ▸", chat.id, "al", sub.story_id, "next"
                ),
            ]
        )
    if not subs:
        lines.append(tr.t("None yet: /subscribe NAME [schedule]. See /stories."))
    lines += [
        "",
        tr.t(
            "A press on a story turns its alerts on or off; on its threshold, tries the next one. "
            "Any other: <code>/subscribe NAME daily 08:00 alerts:3/30m</code> (3 outlets within "
            "30 minutes) or <code>alerts:x3</code> (three times the story's usual volume)."
        ),
    ]
    rows.append([signer.button(tr.t("◂ back"), chat.id, "set", "main", 0)])
    return "\n".join(lines), markup(rows)


def next_preset(sub: SubscriptionInfo) -> AlertRule | None:
    """The threshold after a subscription's own in ``ALERT_PRESETS`` (wrapping around)."""
    current = own_rule(sub)
    index = ALERT_PRESETS.index(current) if current in ALERT_PRESETS else 0
    return ALERT_PRESETS[(index + 1) % len(ALERT_PRESETS)]


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
    ask = await asked(update, context)
    if ask is None:
        return
    rt, actor, chat, tr, args = ask
    if not args:
        await send(
            update,
            context,
            tr.t(
                "This chat's time zone is {zone}. Change it: <code>/timezone Europe/Madrid</code>",
                zone=escape(chat.timezone),
            ),
        )
        return
    if not await is_chat_admin(rt, context, actor):
        await refuse(update, context, tr.t("Only this chat's admins can change its time zone."))
        return
    try:
        tz = resolve_timezone(args[0])
    except ScheduleError as exc:
        await send(update, context, f"❌ {error_html(tr, exc)}")
        return
    await apply_timezone(rt.storage, chat.id, tz)
    now = datetime.now(UTC)
    await send(
        update,
        context,
        "✅ "
        + tr.t(
            "Time zone set to {zone}; it is now {when} there.", zone=escape(tz.key), when=when(now, tz, tr)
        ),
    )
