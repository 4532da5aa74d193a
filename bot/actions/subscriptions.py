"""Subscriptions and schedules: subscribe a chat (or one of its forum topics) to a story,
unsubscribe it, and move its time zone, with the schedule rule of ``stories.schedule``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo, set_chat_timezone
from storage.repository import Storage
from storage.subscriptions import ScheduleUpdate, SubscriptionInfo, set_alerts
from stories.digest import MIN_RELATIVE_OUTLETS, AlertRule
from stories.errors import N_, Message
from stories.model import Story
from stories.schedule import Schedule, ScheduleError, next_run, parse_schedule, resolve_timezone

from ..config import Config

__all__ = [
    "ALERT_PRESETS",
    "Subscribed",
    "alert_rule",
    "apply_timezone",
    "change_alerts",
    "next_digest",
    "own_rule",
    "schedule_text",
    "subscribe",
    "zone_of",
]


def zone_of(name: str | None) -> ZoneInfo:
    """A stored time zone name as a zone; UTC when it is missing or no longer known."""
    try:
        return resolve_timezone(name or "UTC")
    except ScheduleError:
        return ZoneInfo("UTC")


_INSTANT = N_("instant (breaking alerts)")
_OFF = N_("off (only /digest)")


def schedule_text(schedule: str, tz: str) -> Message:
    """A stored schedule as people read it: "daily 08:00 (Europe/Madrid)", "instant (breaking
    alerts)", "off (only /digest)" (its ``str()``; the bot shows it translated). The schedule
    itself stays as it is typed."""
    if schedule == "instant":
        return Message(_INSTANT)
    if schedule == "off":
        return Message(_OFF)
    return Message("{schedule} ({zone})", {"schedule": schedule, "zone": tz})


def next_digest(schedule: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The next scheduled digest of a stored schedule after ``now``; None for instant, off, or
    a schedule stored before today's rule refused it."""
    try:
        return next_run(parse_schedule(schedule), now, tz)
    except ScheduleError:
        return None


def alert_rule(sub: SubscriptionInfo, config: Config) -> AlertRule:
    """A subscription's alert threshold: its own, else the configured ``digest.breaking_outlets``
    within ``digest.breaking_window``."""
    window = (
        timedelta(minutes=sub.alert_minutes)
        if sub.alert_minutes
        else timedelta(seconds=config.digest.breaking_window)
    )
    if sub.alert_multiple is not None:
        return AlertRule(sub.alert_outlets or MIN_RELATIVE_OUTLETS, window, sub.alert_multiple)
    return AlertRule(sub.alert_outlets or config.digest.breaking_outlets, window)


# The thresholds /settings cycles through (None: the configured one); any other by
# /subscribe NAME SCHEDULE alerts:N/T.
ALERT_PRESETS: tuple[AlertRule | None, ...] = (
    None,
    AlertRule(2, timedelta(minutes=30)),
    AlertRule(3, timedelta(hours=1)),
    AlertRule(6, timedelta(hours=1)),
    AlertRule(MIN_RELATIVE_OUTLETS, timedelta(hours=1), 2.0),
    AlertRule(MIN_RELATIVE_OUTLETS, timedelta(hours=1), 4.0),
)


async def change_alerts(
    storage: Storage, chat_id: int, story_id: int, *, on: bool, rule: AlertRule | None
) -> SubscriptionInfo | None:
    """Turn a subscription's alerts on or off with ``rule`` (None: the configured threshold);
    None when the chat is not subscribed to the story."""
    if rule is None:
        return await set_alerts(storage, chat_id, story_id, alerts=on)
    return await set_alerts(
        storage,
        chat_id,
        story_id,
        alerts=on,
        outlets=rule.outlets,
        minutes=max(1, int(rule.window.total_seconds() // 60)),
        multiple=rule.multiple,
    )


def own_rule(sub: SubscriptionInfo) -> AlertRule | None:
    """The threshold a subscription has of its own (None: the configured one)."""
    if sub.alert_outlets is None and sub.alert_minutes is None and sub.alert_multiple is None:
        return None
    return AlertRule(
        sub.alert_outlets or MIN_RELATIVE_OUTLETS,
        timedelta(minutes=sub.alert_minutes or 60),
        sub.alert_multiple,
    )


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What ``subscribe`` did: the subscription, whether it is new (else its schedule changed),
    when its next digest is due, and whether the chat's paused deliveries were resumed."""

    subscription: SubscriptionInfo
    created: bool
    upcoming: datetime | None
    schedule: Schedule
    resumed: bool
    tz: ZoneInfo


async def subscribe(
    storage: Storage,
    chat: ChatInfo,
    story: Story,
    schedule: Schedule | str,
    *,
    user_id: int | None = None,
    thread_id: int | None = None,
    now: datetime | None = None,
) -> Subscribed:
    """Subscribe ``chat`` (its forum topic ``thread_id``) to ``story`` on ``schedule`` (a text is
    parsed: ``ScheduleError`` when refused), and resume its deliveries if they were paused."""
    assert story.id is not None
    parsed = parse_schedule(schedule) if isinstance(schedule, str) else schedule
    now = now or datetime.now(UTC)
    tz = zone_of(chat.timezone)
    upcoming = next_run(parsed, now, tz)
    sub, created = await subscription_store.subscribe(
        storage,
        chat.id,
        story.id,
        schedule=str(parsed),
        next_digest_at=upcoming,
        user_id=user_id,
        thread_id=thread_id,
    )
    resumed = await chat_store.resume_chat(storage, chat.id)
    return Subscribed(sub, created, upcoming, parsed, resumed, tz)


async def apply_timezone(
    storage: Storage, chat_id: int, tz: ZoneInfo, *, now: datetime | None = None
) -> None:
    """Set a chat's time zone and move its subscriptions' next digests to it."""
    await set_chat_timezone(storage, chat_id, tz.key)
    now = now or datetime.now(UTC)
    changes = []
    for sub in await subscription_store.list_subscriptions(storage, chat_id):
        try:
            changes.append(ScheduleUpdate(sub.id, None, next_run(parse_schedule(sub.schedule), now, tz)))
        except ScheduleError:
            continue  # stored before today's rule refused it: left as it is
    await subscription_store.reschedule(storage, changes)
