"""The bot as a real process, for the crash and single-poller tests:
``python -m tests.bot.run_bot CONFIG.toml`` (``start_bot`` starts it).

Runs ``bot.app.run_telegram`` (what ``newsbot run`` runs with a token) without fetching,
against the config's ``base_url`` and database, until SIGTERM. Job intervals come from
``NEWSBOT_*_TICK`` (see ``bot.telegram.intervals_from_env``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from bot.app import run_telegram
from bot.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def bot_command(config: Path) -> list[str]:
    """The command line of this module as a bot process on ``config``."""
    return [sys.executable, "-m", "tests.bot.run_bot", str(config)]


def start_bot(config: Path, log: Path, *, tick: float = 3600) -> subprocess.Popen[bytes]:
    """Start the bot process on ``config``, its output appended to ``log``: digests and the
    outbox run every ``tick`` seconds, the poll hourly."""
    env = {
        **os.environ,
        "NEWSBOT_DIGEST_TICK": str(tick),
        "NEWSBOT_OUTBOX_TICK": str(tick),
        "NEWSBOT_POLL_TICK": "3600",
    }
    with log.open("ab") as out:
        return subprocess.Popen(bot_command(config), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sys.exit(run_telegram(load_config(sys.argv[1]), fetch=False))
