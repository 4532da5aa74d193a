"""Webhook mode never accepts forged updates (issue 13, item 9).

The shipped config has an empty ``secret_token``; the bot must then generate a strong secret on
first start, keep it in the database (the same one after a restart), and refuse any POST without
it. A weak configured secret refuses to start. The webhook server listens on 127.0.0.1 by default.
The real python-telegram-bot serves the webhook; the fake Bot API server posts to it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from bot.config import Config, ConfigError, WebhookConfig, parse_config
from bot.services import Services
from bot.telegram import Intervals, build_application, serve
from storage.repository import Storage
from tests.bot.conftest import ALICE, make_config, started
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.webhook import post_update

pytest.importorskip("tornado", reason="PTB webhooks need python-telegram-bot[webhooks]")

QUIET = Intervals(3600, 3600, 0.2, 3600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _webhook_config(tg: FakeTelegram, url: str, port: int, secret: str = "") -> Config:
    base = make_config(tg, url)
    # No public URL: the server listens on the bot id, as in the report (POST /<bot id>).
    webhook = WebhookConfig(listen="127.0.0.1", port=port, url="", secret_token="")
    webhook = webhook.model_copy(update={"secret_token": secret})  # as a test fixture might
    return base.model_copy(
        update={"telegram": base.telegram.model_copy(update={"mode": "webhook", "webhook": webhook})}
    )


def _forged_update(text: str) -> dict[str, Any]:
    return {
        "update_id": 777,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": ALICE.id, "type": "private", "first_name": "Alice"},
            "from": {"id": ALICE.id, "is_bot": False, "first_name": "Alice"},  # "from" an admin
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def _serving(config: Config, store: Storage) -> tuple[Any, asyncio.Event, asyncio.Task[None]]:
    app = build_application(Services(config, store), intervals=QUIET, rate_limit=False)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop))
    await started(app, task)
    return app, stop, task


async def test_without_a_configured_secret_one_is_generated_kept_and_required(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    port = _free_port()
    config = _webhook_config(tg, sqlite_url, port)
    hook = f"http://127.0.0.1:{port}/{tg.bot.id}"
    forged = _forged_update('/watch global add forged "Forged story"')

    _app, stop, task = await _serving(config, store)
    try:
        [call] = tg.calls("setWebhook")
        secret = str(call.params.get("secret_token") or "")
        assert len(secret) >= 32  # a strong generated secret was given to Telegram
        assert await asyncio.to_thread(post_update, hook, forged, None) == 403
        assert await asyncio.to_thread(post_update, hook, forged, "") == 403
        assert await asyncio.to_thread(post_update, hook, forged, "wrong") == 403
        # What Telegram itself sends is accepted and answered.
        tg.push_message(ALICE.id, ALICE, "/start")
        assert await asyncio.to_thread(tg.deliver_to_webhook) == [200]
        [reply] = await tg.wait_for_messages(1, chat_id=ALICE.id)
        assert "newsbot" in reply.visible_text
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert [s.name for s in await store.list_stories()] == []  # the forged command did nothing

    # A restart (or a second process on the same database) uses the same secret.
    tg.clear_calls()
    _app, stop, task = await _serving(config, store)
    try:
        [call] = tg.calls("setWebhook")
        assert call.params.get("secret_token") == secret
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@pytest.mark.parametrize("weak", ["s3cret", "a" * 40, "0123456789" * 4])
async def test_a_weak_secret_refuses_to_start(
    tg: FakeTelegram, sqlite_url: str, store: Storage, weak: str
) -> None:
    port = _free_port()
    config = _webhook_config(tg, sqlite_url, port, secret=weak)
    app = build_application(Services(config, store), intervals=QUIET, rate_limit=False)
    with pytest.raises(ConfigError, match="secret_token: too weak"):
        await asyncio.wait_for(serve(app, asyncio.Event()), 15)
    assert tg.calls("setWebhook") == [] and tg.calls("getMe") == []
    with socket.socket() as sock:  # nothing listens
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    # The config file is refused the same way, so `newsbot config check` says so too.
    with pytest.raises(ConfigError, match=r"telegram\.webhook\.secret_token: too weak"):
        parse_config(f'[telegram.webhook]\nsecret_token = "{weak}"\n', env={})


def test_the_webhook_listens_on_loopback_by_default() -> None:
    assert parse_config("", env={}).telegram.webhook.listen == "127.0.0.1"
    assert WebhookConfig().listen == "127.0.0.1"
