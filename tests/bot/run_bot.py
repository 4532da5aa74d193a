"""The bot as a real process, for the crash test: ``python -m tests.bot.run_bot CONFIG.toml``.

Serves the Telegram side only (no fetching, no tracker) against the config's ``base_url`` and
database until SIGTERM; job intervals come from ``NEWSBOT_*_TICK`` (see ``intervals_from_env``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from bot.config import load_config
from bot.services import Services
from bot.telegram import build_application, intervals_from_env, serve
from storage.repository import Storage


async def main(path: str) -> None:
    config = load_config(path)
    storage = Storage.connect(config.database.url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        app = build_application(Services(config, storage), intervals=intervals_from_env())
        await serve(app, stop, poll_timeout=1)
    finally:
        await storage.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(main(sys.argv[1]))
