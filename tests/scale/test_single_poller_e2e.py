"""End to end: a second bot process that would long-poll Telegram exits at once with a clear error.

Two real bot processes (``tests/bot/run_bot.py``: python-telegram-bot against our fake Bot
API server) share one database. The first polls; the second fails fast instead of fighting
over getUpdates, and the first keeps polling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NEWSBOT_DIGEST_TICK": "3600",
        "NEWSBOT_OUTBOX_TICK": "3600",
        "NEWSBOT_POLL_TICK": "3600",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bot.run_bot", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_second_long_polling_process_exits_with_a_clear_error(database_url: str, tmp_path: Path) -> None:
    with FakeTelegram() as tg:
        config = tmp_path / "bot.toml"
        config.write_text(
            f'[telegram]\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
            f'[database]\nurl = "{database_url}"\n',
            encoding="utf-8",
        )
        first = _start(config, tmp_path / "first.log")
        try:
            tg.wait_for_sync(lambda: len(tg.calls("getUpdates")) >= 1, timeout=30)
            started = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "tests.bot.run_bot", str(config)],
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
