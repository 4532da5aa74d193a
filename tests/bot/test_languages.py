"""The bot's texts in Spanish and Russian end to end, through the real python-telegram-bot and
the fake Bot API server: a digest for a Spanish channel (its chat setting; nobody is asking at
digest time) arrives in Spanish, and the commands answer a Russian-speaking user in Russian.
Every message is checked as Telegram HTML under the limit."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import translator
from bot.services import Services
from bot.telegram import digest_cycle
from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.repository import Storage
from storage.subscriptions import ScheduleUpdate
from tests.bot.conftest import CHANNEL, Chatter, make_config, running, seed_story_items, valid_text
from tests.fakes.telegram_api import FakeChat, FakeTelegram, FakeUser

IVAN = FakeUser(1007, "Иван", "ivan", language_code="ru")  # no bot admin


async def test_a_spanish_channel_gets_its_digest_in_spanish(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url, max_developments=2)
    story = await store.add_story("sudan", "Sudan OR Khartoum", user_name="test")
    assert story.id
    await seed_story_items(
        store,
        story.id,
        [("Khartoum <airport> reopens", "Reuters"), ("Sudan talks in Jeddah", ""), ("Sudan aid", "AP")],
        dev_base=500,
    )
    await chat_store.upsert_chat(
        store, CHANNEL.id, type="channel", title="World desk", username=None, timezone="Europe/Madrid"
    )
    await chat_store.set_chat_language(store, CHANNEL.id, "es")
    sub, _ = await subscription_store.subscribe(
        store, CHANNEL.id, story.id, schedule="every 6h", next_digest_at=None, user_id=None
    )
    async with running(Services(config, store)) as rt:
        await subscription_store.reschedule(store, [ScheduleUpdate(sub.id, None, datetime.now(UTC))])
        await digest_cycle(rt)
        messages = await tg.wait_for_messages(1, chat_id=CHANNEL.id, timeout=10)
    text = valid_text(messages)
    today = translator("es").day(datetime.now(ZoneInfo("Europe/Madrid")))
    assert text.startswith(f"🗞 Resumen · {today} ") and "📰 sudan" in text  # "2 dic", as Spanish writes it
    assert "Khartoum <airport> reopens" in text  # untrusted text escaped, shown as it is
    assert "… y 1 novedad más: /story NOMBRE las muestra todas." in text
    assert "Digest" not in text and "more development" not in text


async def test_commands_answer_in_the_users_language(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    chat = FakeChat.private(IVAN)
    await store.add_feed("http://127.0.0.1:9/ru.xml")
    chatter = Chatter(tg)
    async with running(Services(config, store)):
        replies = {
            "/status": await chatter.ask(chat, "/status", IVAN),
            "/feeds": await chatter.ask(chat, "/feeds", IVAN),
            "/timezone": await chatter.ask(chat, "/timezone", IVAN),
            "/timezone Europe/Moscow": await chatter.ask(chat, "/timezone Europe/Moscow", IVAN),
            "/watch": await chatter.ask(chat, "/watch", IVAN),
            "/watch show nothing": await chatter.ask(chat, "/watch show nothing", IVAN),
            "/subscribe @nowhere sudan": await chatter.ask(chat, "/subscribe @nowhere sudan", IVAN),
            "/search (": await chatter.ask(chat, "/search (", IVAN),
        }
    texts = {command: valid_text(messages) for command, messages in replies.items()}
    assert "Только администраторы бота могут смотреть состояние" in texts["/status"]
    assert str(IVAN.id) in texts["/status"]
    assert (
        "📡 Ленты: 1, в порядке 1" in texts["/feeds"] and "0 материалов, ещё не читалась" in texts["/feeds"]
    )
    assert "Часовой пояс этого чата — " in texts["/timezone"]
    assert "Часовой пояс: Europe/Moscow; там сейчас " in texts["/timezone Europe/Moscow"]
    assert texts["/watch"].startswith("Использование: /watch add ИМЯ ЗАПРОС")
    assert "Сюжета nothing нет." in texts["/watch show nothing"]
    assert "Не могу найти @nowhere" in texts["/subscribe @nowhere sudan"]
    assert "Ошибка в запросе" in texts["/search ("]
    for text in texts.values():
        assert "Only" not in text and "Usage" not in text and "No story" not in text
