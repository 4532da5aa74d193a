"""End to end: a second bot process that would long-poll Telegram exits at once with a clear error.

Two real bot processes (``tests/bot/run_bot.py``: python-telegram-bot against our fake Bot
API server) share one database. The first polls; the second fails fast instead of fighting
over getUpdates, and the first keeps polling.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.bot.run_bot import ROOT, bot_command, start_bot
from tests.fakes.telegram_api import FakeTelegram


def test_second_long_polling_process_exits_with_a_clear_error(database_url: str, tmp_path: Path) -> None:
    with FakeTelegram() as tg:
        config = tmp_path / "bot.toml"
        config.write_text(
            f'[telegram]\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
            f'[database]\nurl = "{database_url}"\n',
            encoding="utf-8",
        )
        first = start_bot(config, tmp_path / "first.log")
        try:
            tg.wait_for_sync(lambda: len(tg.calls("getUpdates")) >= 1, timeout=30)
            started = time.monotonic()
            second = subprocess.run(
                bot_command(config),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode != 0
            assert "already long-polling Telegram" in second.stderr + second.stdout
            assert time.monotonic() - started < 30
            assert tg.token not in second.stderr + second.stdout
            # The first one is still the poller.
            polls = len(tg.calls("getUpdates"))
            tg.wait_for_sync(lambda: len(tg.calls("getUpdates")) > polls, timeout=30)
            assert first.poll() is None
        finally:
            first.terminate()
            try:
                first.wait(15)
            except subprocess.TimeoutExpired:
                first.kill()
