"""One schedule rule: what `newsbot config check` accepts as ``[digest] schedule`` is what
``/subscribe`` accepts, and the reverse (a property over generated schedules), and a default
that passes the check makes ``/subscribe`` succeed on the real bot."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from pydantic import ValidationError

from bot.cli import main as newsbot
from bot.commands import subscribing as subscribe_command
from bot.config import DigestConfig, load_config
from bot.services import Services
from storage import subscriptions as subscription_store
from storage.repository import Storage
from stories.schedule import ScheduleError
from tests.bot.conftest import CHANNEL, PRIVATE, Chatter, make_config, running
from tests.fakes.telegram_api import FakeTelegram
from tests.stories.schedule_strategies import schedule_texts


def _config_accepts(text: str) -> str | None:
    """The canonical schedule `[digest] schedule = text` is checked into, or None if refused."""
    try:
        return DigestConfig(schedule=text).schedule
    except ValidationError:
        return None


def _subscribe_accepts(text: str) -> str | None:
    """What /subscribe makes of ``/subscribe NAME text``: Telegram hands the handler the words
    after the command, which it joins and parses (the parse_schedule bot.commands.subscribing
    calls)."""
    try:
        return str(subscribe_command.parse_schedule(" ".join(text.split())))
    except ScheduleError:
        return None


@given(schedule_texts())
@example("every 1m")  # the config used to pass it, /subscribe refused it
@example("daily 8:05")  # /subscribe took it, the config refused it
@example("daily 08:00,20:00")
def test_config_check_and_subscribe_accept_the_same_schedules(text: str) -> None:
    if not text.split():
        return  # "/subscribe NAME" with no schedule words uses the configured default
    assert _config_accepts(text) == _subscribe_accepts(text)


@pytest.mark.parametrize("schedule", ["daily 08:00", "daily 8:05", "every 30 minutes"])
async def test_a_schedule_config_check_passes_makes_subscribe_succeed(
    schedule: str, tmp_path: Path, tg: FakeTelegram, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[digest]\nschedule = "{schedule}"\n')
    assert newsbot(["config", "check", "--config", str(path)]) == 0
    assert f"{path}: OK" in capsys.readouterr().out
    checked = load_config(path).digest.schedule
    config = make_config(tg, sqlite_url, schedule=checked)
    storage = Storage.connect(sqlite_url)
    try:
        await storage.add_story("sudan", "Sudan", user_name="config")
        async with running(Services(config, storage)):
            chatter = Chatter(tg)
            reply = await chatter.say(PRIVATE, "/subscribe sudan")  # the configured default
            assert f"Subscribed Alice to sudan: {checked} (UTC)" in reply
            reply = await chatter.say(PRIVATE, f"/subscribe @worlddesk sudan {schedule}")
            assert f"Subscribed World desk to sudan: {checked} (UTC)" in reply
        [mine] = await subscription_store.list_subscriptions(storage, PRIVATE.id)
        [desk] = await subscription_store.list_subscriptions(storage, CHANNEL.id)
        assert mine.schedule == desk.schedule == checked and mine.next_digest_at is not None
    finally:
        await storage.close()


async def test_a_schedule_subscribe_refuses_config_check_refuses_too(
    tmp_path: Path, tg: FakeTelegram, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[digest]\nschedule = "every 1m"\n')
    assert newsbot(["config", "check", "--config", str(path)]) == 2
    said = "'every 1m': the interval must be between 5m and 168h"
    assert f"{path}: digest.schedule: {said}" in capsys.readouterr().err
    storage = Storage.connect(sqlite_url)
    try:
        await storage.add_story("sudan", "Sudan", user_name="config")
        async with running(Services(make_config(tg, sqlite_url), storage)):
            assert said in await Chatter(tg).say(PRIVATE, "/subscribe sudan every 1m")
        assert await subscription_store.list_subscriptions(storage, PRIVATE.id) == []
    finally:
        await storage.close()
