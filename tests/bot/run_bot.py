"""The bot as a real process, for the crash test: ``python -m tests.bot.run_bot CONFIG.toml``.

Runs ``bot.app.run_telegram`` (what ``newsbot run`` runs with a token) without fetching,
against the config's ``base_url`` and database, until SIGTERM. Job intervals come from
``NEWSBOT_*_TICK`` (see ``bot.telegram.intervals_from_env``).
"""

from __future__ import annotations

import logging
import sys

from bot.app import run_telegram
from bot.config import load_config

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sys.exit(run_telegram(load_config(sys.argv[1]), fetch=False))
