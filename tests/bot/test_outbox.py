"""Delivery faults end to end: the fake Bot API answers 429, 403, 400 can't-parse and
"group migrated"; the real bot (with AIORateLimiter) and its outbox deal with each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.actions.digests import run_due_digests
from bot.observability import REGISTRY, TELEGRAM_429
from bot.render import render_plain
from bot.services import Services
from bot.telegram import Intervals
from storage import chats as chat_store
from storage import outbox as outbox_store
from storage import subscriptions as subscription_store
from storage.chats import ChatInfo
from storage.repository import Storage
from tests.bot.conftest import ALICE, CHANNEL, GROUP, PRIVATE, Chatter, make_config, running, seed_story_items
from tests.conftest import eventually
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_html import check_html

FAST = Intervals(poll=3600, digest=0.3, outbox=0.2, first_poll=3600)


async def _due_digest(
    store: Storage, chat_id: int, chat_type: str, *, title: str = "Sudan talks resume"
) -> int:
    """A chat subscribed to a story with one new development and a digest due now."""
    story = await store.get_story("sudan") or await store.add_story("sudan", "Sudan", user_name="config")
    assert story.id
    await chat_store.upsert_chat(store, chat_id, type=chat_type, title="t", username=None, timezone="UTC")
    await subscription_store.subscribe(
        store, chat_id, story.id, schedule="every 6h", next_digest_at=delivery_now(), user_id=ALICE.id
    )
    await seed_story_items(store, story.id, [(title, "BBC")], dev_base=abs(chat_id) % 100000)
    return story.id


def delivery_now() -> datetime:
    return datetime.now(UTC)


async def _all_sent(store: Storage, chat_id: int) -> bool:
    rows = await outbox_store.chat_messages(store, chat_id)
    return bool(rows) and all(row.status == "sent" for row in rows)


async def test_429_waits_retry_after_and_delivers_once(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    await _due_digest(store, CHANNEL.id, "channel")
    tg.fail_retry_after("sendMessage", retry_after=2, chat_id=CHANNEL.id)
    seen_429 = REGISTRY.value(TELEGRAM_429)
    async with running(Services(config, store), intervals=FAST, rate_limit=True) as rt:
        [message] = await tg.wait_for_messages(1, chat_id=CHANNEL.id, timeout=15)
        # Nothing else may follow: once the row is marked sent the outbox has nothing left and
        # no digest is due; running both once more (not waiting for their ticks) sends nothing.
        await eventually(lambda: _all_sent(store, CHANNEL.id), what="the outbox row marked sent")
        async with rt.digest_lock:
            assert await run_due_digests(store, config) == 0
        await rt.sender.send_pending()
        assert len(tg.sent_messages(CHANNEL.id)) == 1
    calls = tg.calls("sendMessage", chat_id=CHANNEL.id)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 2.0
    assert len(tg.sent_messages(CHANNEL.id)) == 1 and "Sudan talks resume" in message.visible_text
    [row] = await outbox_store.chat_messages(store, CHANNEL.id)
    assert row.status == "sent" and row.message_id == message.message_id
    assert REGISTRY.value(TELEGRAM_429) == seen_429 + 1  # the metric the 429 dashboards read


async def test_403_pauses_subscriptions_visibly(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    config = make_config(tg, sqlite_url)
    await _due_digest(store, CHANNEL.id, "channel")
    tg.kick_bot(CHANNEL.id)
    chatter = Chatter(tg)
    async with running(Services(config, store), intervals=FAST):
        await tg.wait_for(lambda: [c for c in tg.calls("sendMessage", chat_id=CHANNEL.id) if c.status == 403])

        async def paused() -> ChatInfo | None:
            chat = await chat_store.get_chat(store, CHANNEL.id)
            return chat if chat is not None and chat.paused else None

        chat = await eventually(paused, what="the channel paused")
        assert chat.paused and "kicked" in (chat.paused_reason or "")
        text = await chatter.say(PRIVATE, "/subscriptions")
        assert "You subscribed t" in text
        assert "Deliveries paused" in text and "kicked" in text
    assert tg.sent_messages(CHANNEL.id) == []
    [row] = await outbox_store.chat_messages(store, CHANNEL.id)
    assert row.status == "failed" and "kicked" in (row.last_error or "")
    # Paused chats get no more digests.
    assert await subscription_store.due_subscriptions(store, delivery_now()) == []


async def test_cant_parse_resends_plain_text(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    config = make_config(tg, sqlite_url)
    await _due_digest(store, GROUP.id, "group", title="Sudan: <b>unbalanced & odd")
    tg.fail_cant_parse(chat_id=GROUP.id)
    async with running(Services(config, store), intervals=FAST):
        [message] = await tg.wait_for_messages(1, chat_id=GROUP.id, timeout=10)
    [row] = await outbox_store.chat_messages(store, GROUP.id)
    check_html(row.text)
    assert message.parse_mode is None and message.text == render_plain(row.text)
    assert "Sudan: <b>unbalanced & odd" in message.text
    assert row.status == "sent" and "plain text" in (row.last_error or "")
    assert [c.status for c in tg.calls("sendMessage", chat_id=GROUP.id)] == [400, 200]


async def test_migrated_group_is_followed(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    config = make_config(tg, sqlite_url)
    await _due_digest(store, GROUP.id, "group")
    new_id = -1009990001
    tg.migrate_chat(GROUP.id, new_id)
    async with running(Services(config, store), intervals=FAST):
        [message] = await tg.wait_for_messages(1, chat_id=new_id, timeout=10)
    assert "Sudan talks resume" in message.visible_text
    assert [s.story_name for s in await subscription_store.list_subscriptions(store, new_id)] == ["sudan"]
    assert await subscription_store.list_subscriptions(store, GROUP.id) == []
    old = await chat_store.get_chat(store, GROUP.id)
    assert old is not None and old.migrated_to == new_id
    [row] = await outbox_store.chat_messages(store, new_id)
    assert row.status == "sent" and row.message_id == message.message_id


async def test_two_senders_never_send_a_message_twice(tg: FakeTelegram, storage: Storage) -> None:
    from telegram import Bot

    from bot.outbox import OutboxSender

    tg.set_delay("sendMessage", 0.05)
    for chat in (GROUP, CHANNEL):
        await outbox_store.enqueue_digest(
            storage,
            chat.id,
            kind="digest",
            messages=[f"<b>{chat.id}</b> part {n}" for n in range(6)],
            seen={},
        )
    async with Bot(tg.token, base_url=tg.base_url) as bot:
        one = OutboxSender(storage, bot, owner="one")
        two = OutboxSender(storage, bot, owner="two")
        reports = await asyncio.gather(one.send_pending(), two.send_pending(), one.send_pending())
    assert sum(r.sent for r in reports) == 12
    for chat in (GROUP, CHANNEL):
        texts = [m.text for m in tg.sent_messages(chat.id)]
        assert texts == [f"<b>{chat.id}</b> part {n}" for n in range(6)]  # once each, in order
    rows = [
        *await outbox_store.chat_messages(storage, GROUP.id),
        *await outbox_store.chat_messages(storage, CHANNEL.id),
    ]
    assert all(r.status == "sent" for r in rows)
