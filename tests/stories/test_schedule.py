"""The schedule rule (stories.schedule): the forms accepted, the errors' wording, canonical
forms that parse back, and next runs in the chat's zone across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stories.errors import NewsbotError
from stories.schedule import ScheduleError, next_run, parse_schedule, resolve_timezone
from tests.stories.schedule_strategies import schedule_texts


def test_parse_schedule_forms() -> None:
    assert parse_schedule("daily 20:00, 08:00").times == (time(8), time(20))
    assert str(parse_schedule("Daily 8:05")) == "daily 08:05"
    assert str(parse_schedule("daily 08:00 20:00 08:00")) == "daily 08:00,20:00"
    assert parse_schedule("every 6h").interval == timedelta(hours=6)
    assert parse_schedule("every 6 h") == parse_schedule("EVERY 6H") == parse_schedule("every 6 hours")
    assert parse_schedule("every 30 min").interval == timedelta(minutes=30)
    assert str(parse_schedule("every 90m")) == "every 90m"
    assert str(parse_schedule("every 120 minutes")) == "every 2h"
    assert parse_schedule("every 5m").interval == timedelta(minutes=5)
    assert parse_schedule("every 168h").interval == timedelta(days=7)
    assert parse_schedule("instant").kind == "instant"
    assert parse_schedule(" OFF ").kind == "off"
    for bad in ("weekly", "daily 25:00", "every 0h", "every 1m", "daily", "", "every 169h", "every 6 days"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("weekly", "'weekly' is not a schedule: a schedule is \"daily 08:00\""),
        ("", "the schedule is empty"),
        ("daily", "'daily': say when, e.g. \"daily 08:00\""),
        ("daily 25:00", "'25:00' is not a time of day (HH:MM, from 00:00 to 23:59)"),
        ("daily 8:5", "'8:5' is not a time of day"),
        ("every 1m", "'every 1m': the interval must be between 5m and 168h"),
        ("every 0h", "the interval must be between 5m and 168h"),
        ("every 99999999999999999999999h", "the interval must be between 5m and 168h"),
        ("every fortnight", 'say how often, e.g. "every 6h" or "every 30m"'),
        ("every \u0666h", "say how often"),  # an Arabic-Indic six: ASCII digits only
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert says in str(caught.value)
    assert isinstance(caught.value, NewsbotError) and isinstance(caught.value, ValueError)


def test_time_zones() -> None:
    assert resolve_timezone(" Europe/Madrid ").key == "Europe/Madrid"
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        resolve_timezone("Mars/Olympus")


@given(schedule_texts())
def test_canonical_form_parses_back_to_the_same_schedule(text: str) -> None:
    try:
        schedule = parse_schedule(text)
    except ScheduleError:
        return
    assert parse_schedule(str(schedule)) == schedule
    assert str(parse_schedule(str(schedule))) == str(schedule)
    if schedule.interval is not None:
        assert timedelta(minutes=5) <= schedule.interval <= timedelta(days=7)


def test_next_run_daily_in_zone_and_across_dst() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    after = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # 08:30 in Madrid
    run = next_run(parse_schedule("daily 08:00,20:00"), after, madrid)
    assert run == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    # The night clocks go forward (29 Mar 2026): 08:00 local is 06:00 UTC.
    run = next_run(parse_schedule("daily 08:00"), datetime(2026, 3, 28, 12, 0, tzinfo=UTC), madrid)
    assert run == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert next_run(parse_schedule("instant"), after, madrid) is None
    assert next_run(parse_schedule("every 30m"), after, madrid) == after + timedelta(minutes=30)


@given(
    times=st.lists(st.tuples(st.integers(0, 23), st.integers(0, 59)), min_size=1, max_size=4),
    offset=st.integers(0, 10**8),
    zone=st.sampled_from(
        ["UTC", "Europe/Madrid", "America/Caracas", "Asia/Kathmandu", "Australia/Lord_Howe"]
    ),
)
def test_next_run_is_strictly_later_and_within_two_days(
    times: list[tuple[int, int]], offset: int, zone: str
) -> None:
    schedule = parse_schedule("daily " + ",".join(f"{h:02d}:{m:02d}" for h, m in times))
    assert str(parse_schedule(str(schedule))) == str(schedule)
    after = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    run = next_run(schedule, after, ZoneInfo(zone))
    assert run is not None and after < run <= after + timedelta(days=2)
