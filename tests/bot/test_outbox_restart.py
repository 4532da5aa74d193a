"""A restart with a pending outbox does not leave the bot deaf (issue 13, item 4).

40 messages are pending when the bot starts and Telegram answers the first send with
``retry_after=25``. The backlog is delivered in the background: ``/start`` is answered at once,
and stopping the bot does not wait out the flood limit (the messages stay pending, none lost).
The real python-telegram-bot against the fake Bot API server, a real SQLite file.
"""

from __future__ import annotations

import time

from bot.services import Services
from bot.telegram import Intervals
from storage import outbox as outbox_store
from storage.repository import Storage
from tests.bot.conftest import BOB, CHANNEL, make_config, running
from tests.fakes.telegram_api import FakeChat, FakeTelegram

BACKLOG = 40
TICKS = Intervals(poll=3600, digest=3600, outbox=0.2, first_poll=3600)


async def test_a_pending_backlog_with_a_flood_wait_does_not_block_commands(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    for n in range(BACKLOG):
        await outbox_store.enqueue(store, CHANNEL.id, f"pending message {n}", kind="digest")
    tg.fail_retry_after("sendMessage", retry_after=25, chat_id=CHANNEL.id)

    async with running(Services(config, store), intervals=TICKS):
        # The backlog is being worked on: its first send met the flood limit...
        await tg.wait_for(lambda: tg.calls("sendMessage", chat_id=CHANNEL.id), timeout=10)
        asked = time.monotonic()
        tg.push_message(FakeChat.private(BOB), BOB, "/start")
        # ...and yet a user is answered at once, not after 25 s.
        [reply] = await tg.wait_for_messages(1, chat_id=BOB.id, timeout=5)
        answered = time.monotonic() - asked
        stopping = time.monotonic()
    stopped = time.monotonic() - stopping

    assert "newsbot" in reply.visible_text and answered < 5
    [first] = tg.calls("sendMessage", chat_id=CHANNEL.id)
    assert first.status == 429
    assert stopped < 10  # the 25 s flood wait did not hold the shutdown
    messages = await outbox_store.chat_messages(store, CHANNEL.id)
    assert len(messages) == BACKLOG
    assert {m.status for m in messages} == {outbox_store.PENDING}  # none lost, none given up
    assert tg.sent_messages(CHANNEL.id) == []  # and none sent before the flood limit allowed
