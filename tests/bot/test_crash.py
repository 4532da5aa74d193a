"""The bot process is killed (SIGKILL) between writing its outbox and sending: after a restart
every message is delivered, and none twice except the one that was in flight."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from storage import chats as chat_store
from storage import outbox as outbox_store
from storage import subscriptions as subscription_store
from storage.repository import Storage
from tests.bot.conftest import ALICE, CHANNEL, seed_story_items
from tests.bot.run_bot import start_bot
from tests.fakes.telegram_api import FakeTelegram


async def test_kill_between_outbox_write_and_send(tg: FakeTelegram, sqlite_url: str, tmp_path: Path) -> None:
    store = Storage.connect(sqlite_url)
    try:
        story = await store.add_story("sudan", "Sudan", user_name="config")
        assert story.id
        await chat_store.upsert_chat(
            store, CHANNEL.id, type="channel", title="Desk", username=None, timezone="UTC"
        )
        await subscription_store.subscribe(
            store,
            CHANNEL.id,
            story.id,
            schedule="every 6h",
            next_digest_at=datetime.now(UTC),
            user_id=ALICE.id,
        )
        # Enough developments for a digest of several messages.
        long_title = "Sudan: " + "talks on a ceasefire and aid corridors continue " * 5
        await seed_story_items(
            store, story.id, [(f"{long_title} #{n}", f"Outlet {n % 7}") for n in range(60)], dev_base=1000
        )
        config_path = tmp_path / "bot.toml"
        config_path.write_text(
            "[telegram]\n"
            f'token = "{tg.token}"\nbase_url = "{tg.base_url}"\nadmins = [{ALICE.id}]\n'
            "[database]\n"
            f'url = "{sqlite_url}"\n'
            "[digest]\nmax_developments = 100\n",
            encoding="utf-8",
        )
        log_path = tmp_path / "bot.log"
        tg.set_delay("sendMessage", 1.5)  # every send is held, so the kill lands mid-flight

        first = start_bot(config_path, log_path, tick=0.3)
        try:
            await tg.wait_for(lambda: len(tg.sent_messages(CHANNEL.id)) >= 1, timeout=30)
            written = await outbox_store.chat_messages(store, CHANNEL.id)
            assert len(written) >= 3, "the digest should span several messages"
            # Kill while the server holds the second message's request (the first is answered
            # and recorded, so the request in flight is the next one).
            await tg.wait_for(
                lambda: tg.calls("sendMessage", chat_id=CHANNEL.id) and tg.in_flight("sendMessage") >= 1,
                timeout=10,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        before_restart = await outbox_store.chat_messages(store, CHANNEL.id)
        assert any(m.status == "pending" for m in before_restart), "killed too late: nothing left to resume"
        # The server finishes the request it was holding (its answer goes nowhere).
        await tg.wait_for(lambda: tg.in_flight("sendMessage") == 0, timeout=10)
        tg.set_delay("sendMessage", 0)

        second = start_bot(config_path, log_path, tick=0.3)
        try:

            async def all_sent() -> bool:
                rows = await outbox_store.chat_messages(store, CHANNEL.id)
                return bool(rows) and all(r.status == "sent" for r in rows)

            for _ in range(300):
                if await all_sent():
                    break
                await asyncio.sleep(0.1)
            assert await all_sent(), log_path.read_text(errors="replace")[-3000:]
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(15)
            except subprocess.TimeoutExpired:
                second.kill()
        rows = await outbox_store.chat_messages(store, CHANNEL.id)
        assert len(rows) == len(written)  # the restart wrote no second digest
        delivered = Counter(m.text for m in tg.sent_messages(CHANNEL.id))
        assert set(delivered) == {r.text for r in rows}
        repeated = [text for text, n in delivered.items() if n > 1]
        assert len(repeated) <= 1 and all(delivered[t] == 2 for t in repeated)
        assert {r.message_id for r in rows} <= {m.message_id for m in tg.sent_messages(CHANNEL.id)}
    finally:
        await store.close()
