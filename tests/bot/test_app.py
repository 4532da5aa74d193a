"""Application wiring end to end: setMyCommands failing, bot admins told of a disabled feed,
and webhook mode with its secret token."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from bot.config import WebhookConfig
from bot.poller import Poller
from bot.services import Services
from bot.telegram import Intervals, build_application, poll_cycle, serve
from storage.repository import Storage
from tests.bot.conftest import ALICE, PRIVATE, Chatter, make_config, running
from tests.conftest import eventually
from tests.fakes.feed_server import FeedServer, Reply
from tests.fakes.telegram_api import ApiError, FakeTelegram
from tests.fakes.webhook import post_update


async def test_set_my_commands_failure_is_a_warning(
    tg: FakeTelegram, sqlite_url: str, store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    tg.fail_next("setMyCommands", ApiError.bad_request("BOT_COMMANDS_TOO_MUCH"))
    caplog.set_level(logging.WARNING, logger="newsbot.telegram")
    async with running(Services(make_config(tg, sqlite_url), store)):
        assert "newsbot" in await Chatter(tg).say(PRIVATE, "/start")
    assert any("could not register the command list" in r.getMessage() for r in caplog.records)
    assert tg.commands() == []


async def test_disabled_feed_is_reported_to_bot_admins(
    tg: FakeTelegram, sqlite_url: str, store: Storage, server: FeedServer
) -> None:
    config = make_config(tg, sqlite_url)
    server.script("/gone.xml", Reply(status=410, body=b"gone", content_type="text/plain"))
    url = server.url("/gone.xml")
    await store.add_feed(url)
    async with (
        Poller.from_config(store, config) as poller,
        running(Services(config, store, poller=poller)) as rt,
    ):
        report = await poll_cycle(rt)
        assert report.feeds == 1
        [notice] = await tg.wait_for_messages(1, chat_id=ALICE.id, timeout=10)
    assert "Feed disabled" in notice.visible_text and url in notice.visible_text
    assert "/feed enable" in notice.visible_text
    state = await store.get_feed(url)
    assert state is not None and state.disabled


STRONG_SECRET = "Zq8-vN3_xT5kLp0WmR7yHs2JdF9cBg4Ue6Ao1Ki"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_checks_the_secret_token(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    port = _free_port()
    base = make_config(tg, sqlite_url)
    webhook = WebhookConfig(
        listen="127.0.0.1", port=port, url="https://bot.example/hook", secret_token=STRONG_SECRET
    )
    config = base.model_copy(
        update={"telegram": base.telegram.model_copy(update={"mode": "webhook", "webhook": webhook})}
    )
    app = build_application(
        Services(config, store), intervals=Intervals(3600, 3600, 0.2, 3600), rate_limit=False
    )
    tg.watch(app)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop))
    try:
        await tg.wait_for(lambda: app.running, timeout=10)  # running: the webhook server listens
        [call] = tg.calls("setWebhook")
        assert call.params["url"] == "https://bot.example/hook"
        assert call.params["secret_token"] == STRONG_SECRET
        hook = f"http://127.0.0.1:{port}/hook"  # the public URL's path
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": ALICE.id, "type": "private", "first_name": "Alice"},
                "from": {"id": ALICE.id, "is_bot": False, "first_name": "Alice"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        assert await asyncio.to_thread(post_update, hook, update, "wrong") == 403
        assert await asyncio.to_thread(post_update, hook, update, None) == 403
        # Updates are handled in order: once the signed one (id 2) is handled, a refused one
        # that had slipped into the queue would have been handled (and answered) before it.
        assert await asyncio.to_thread(post_update, hook, {**update, "update_id": 2}, STRONG_SECRET) == 200
        await tg.wait_handled(2)
        assert tg.handled_updates() == {2}
        [reply] = tg.sent_messages(ALICE.id)
        assert "newsbot" in reply.visible_text
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_chat_changes_are_followed(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    from storage import chats as chat_store
    from storage import subscriptions as subscription_store
    from tests.bot.conftest import CHANNEL, GROUP

    config = make_config(tg, sqlite_url)
    story = await store.add_story("sudan", "Sudan", user_name="config")
    assert story.id
    await chat_store.upsert_chat(
        store, GROUP.id, type="group", title="News fans", username=None, timezone="UTC"
    )
    await subscription_store.subscribe(
        store, GROUP.id, story.id, schedule="every 6h", next_digest_at=None, user_id=ALICE.id
    )
    async with running(Services(config, store)):
        # The bot is removed from the channel, then added back.
        tg.push_my_chat_member(CHANNEL, ALICE, "administrator", "left")
        assert await _wait_paused(store, CHANNEL.id, True)
        chat = await chat_store.get_chat(store, CHANNEL.id)
        assert chat is not None and "removed" in (chat.paused_reason or "")
        tg.push_my_chat_member(CHANNEL, ALICE, "left", "administrator")
        assert await _wait_paused(store, CHANNEL.id, False)
        # The group becomes a supergroup: its subscriptions follow.
        tg.migrate_chat(GROUP.id, -1004001, announce=True)
        await eventually(
            lambda: subscription_store.list_subscriptions(store, -1004001), what="subscriptions moved"
        )
    assert [s.story_name for s in await subscription_store.list_subscriptions(store, -1004001)] == ["sudan"]
    chat = await chat_store.get_chat(store, CHANNEL.id)
    assert chat is not None and not chat.paused


async def _wait_paused(store: Storage, chat_id: int, paused: bool) -> bool:
    from storage import chats as chat_store

    async def reached() -> bool:
        chat = await chat_store.get_chat(store, chat_id)
        return chat is not None and chat.paused == paused

    return await eventually(reached, what=f"chat {chat_id} paused={paused}")
