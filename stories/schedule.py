"""Digest schedules: the one rule for what a schedule is and when it next runs.

The config validator (``[digest] schedule``), ``/subscribe`` and the digest job all call
:func:`parse_schedule`, so a schedule that ``newsbot config check`` accepts is one that
``/subscribe`` accepts, and the reverse. Pure: no network, database or Telegram.

The grammar (case and spacing do not matter)::

    daily TIME[,TIME...]     TIME is H:MM or HH:MM, 00:00 to 23:59, in the chat's time zone
                             ("daily 8:05", "daily 08:00,20:00", "daily 08:00 20:00")
    every N UNIT             UNIT is m, min, minute(s), h, hr, hour(s); 5m to 168h
                             ("every 6h", "every 30m", "every 2 hours")
    instant                  breaking alerts only
    off                      no scheduled digest (only /digest)

``str()`` of a :class:`Schedule` is its canonical form ("daily 08:05", "every 90m"), which
parses back to the same schedule; subscriptions store that form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import EXIT_USAGE, N_, Message, NewsbotError

__all__ = [
    "MAX_INTERVAL",
    "MIN_INTERVAL",
    "SCHEDULE_HELP",
    "Schedule",
    "ScheduleError",
    "next_run",
    "parse_schedule",
    "resolve_timezone",
]

# Shorter intervals would send a digest of nearly nothing and crowd the outbox; a week is the
# longest gap after which "what is new" still reads as a digest.
MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(days=7)

SCHEDULE_HELP = N_(
    'a schedule is "daily 08:00" (or "daily 08:00,20:00"), "every 6h", "every 30m", "instant" or "off"'
)

# The errors' messages (``{text}`` is the schedule as given, quoted); the bot translates them.
_EMPTY = N_("the schedule is empty: {help}")
_NOT_A_SCHEDULE = N_("{text} is not a schedule: {help}")
_SAY_WHEN = N_('{text}: say when, e.g. "daily 08:00" or "daily 08:00,20:00"')
_NOT_A_TIME = N_("{text}: {part} is not a time of day (HH:MM, from 00:00 to 23:59)")
_SAY_HOW_OFTEN = N_('{text}: say how often, e.g. "every 6h" or "every 30m"')
_BAD_INTERVAL = N_("{text}: the interval must be between 5m and 168h")
_UNKNOWN_ZONE = N_("unknown time zone {name} (use a name like Europe/Madrid or UTC)")
_HELP = Message(SCHEDULE_HELP)

# ASCII digits only: int() would also take other scripts' digits, which no one means here.
_TIME = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_EVERY = re.compile(r"^([0-9]+)\s*([a-z]+)$")
_UNITS = {
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "h": 60,
    "hr": 60,
    "hrs": 60,
    "hour": 60,
    "hours": 60,
}


class ScheduleError(NewsbotError, ValueError):
    """A schedule (or time zone) that cannot be used; ``str()`` says what is accepted (and
    ``message`` is that as a template with its values, to translate).

    A ValueError too, so pydantic validators report it as the field's error."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed digest schedule."""

    kind: Literal["daily", "every", "instant", "off"]
    times: tuple[time, ...] = ()
    interval: timedelta | None = None

    def __str__(self) -> str:
        if self.kind == "daily":
            return "daily " + ",".join(f"{t.hour:02d}:{t.minute:02d}" for t in self.times)
        if self.kind == "every":
            assert self.interval is not None
            minutes = int(self.interval.total_seconds() // 60)
            return f"every {minutes // 60}h" if minutes % 60 == 0 else f"every {minutes}m"
        return self.kind


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule (the grammar is in the module docstring).

    Raises ScheduleError saying what is wrong and which forms are accepted.
    """
    value = " ".join(text.strip().lower().split())
    if not value:
        raise ScheduleError(Message(_EMPTY, {"help": _HELP}))
    if value in ("instant", "off"):
        return Schedule(value)  # type: ignore[arg-type]
    word, _, rest = value.partition(" ")
    if word == "daily":
        return Schedule("daily", _daily_times(text, rest))
    if word == "every":
        return Schedule("every", interval=_interval(text, rest))
    raise ScheduleError(Message(_NOT_A_SCHEDULE, {"text": repr(text), "help": _HELP}))


def _daily_times(text: str, rest: str) -> tuple[time, ...]:
    parts = [part for part in re.split(r"[\s,]+", rest) if part]
    if not parts:
        raise ScheduleError(Message(_SAY_WHEN, {"text": repr(text)}))
    times = set()
    for part in parts:
        match = _TIME.match(part)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ScheduleError(Message(_NOT_A_TIME, {"text": repr(text), "part": repr(part)}))
        times.add(time(int(match.group(1)), int(match.group(2))))
    return tuple(sorted(times))


def _interval(text: str, rest: str) -> timedelta:
    match = _EVERY.match(rest)
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise ScheduleError(Message(_SAY_HOW_OFTEN, {"text": repr(text)}))
    minutes = int(match.group(1)) * unit
    # Compared as minutes first: a huge number would overflow timedelta.
    if not MIN_INTERVAL <= timedelta(minutes=min(minutes, 10 * 7 * 24 * 60)) <= MAX_INTERVAL:
        raise ScheduleError(Message(_BAD_INTERVAL, {"text": repr(text)}))
    return timedelta(minutes=minutes)


def resolve_timezone(name: str) -> ZoneInfo:
    """A time zone by IANA name; ScheduleError if unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(Message(_UNKNOWN_ZONE, {"name": repr(name)})) from None


def next_run(schedule: Schedule, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first scheduled digest strictly after ``after`` (UTC), or None (instant / off).

    Daily times are wall-clock times in ``tz``; on a DST gap the time is shifted forward by
    the gap, and on a repeated hour the first occurrence is used.
    """
    if schedule.kind == "every":
        assert schedule.interval is not None
        return (after + schedule.interval).astimezone(UTC)
    if schedule.kind != "daily":
        return None
    local = after.astimezone(tz)
    for day in range(0, 3):
        date = (local + timedelta(days=day)).date()
        for moment in schedule.times:
            candidate = datetime.combine(date, moment, tzinfo=tz).astimezone(UTC)
            if candidate > after:
                return candidate
    raise AssertionError("a daily schedule always has a next run within 3 days")
