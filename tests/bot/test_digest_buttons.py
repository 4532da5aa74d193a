"""Buttons under digest entries, /settings' delivery and alert items, and alerts beside a
digest, end to end (issue 12 items 1 and 7): the real python-telegram-bot against the fake Bot
API server on a real SQLite file, from the press to the stored change and the edited message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.keyboards import CALLBACK_LIMIT
from bot.services import Services
from bot.telegram import digest_cycle
from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.chats import set_chat_delivery
from storage.repository import Storage
from tests.bot.conftest import ALICE, BOB, GROUP, PRIVATE, make_config, running, seed_story_items
from tests.bot.test_native import _ask, _buttons, _current, _press, _sudan
from tests.fakes.telegram_api import FakeTelegram, SentMessage
from tests.fakes.telegram_html import check_html


def _url_buttons(message: SentMessage) -> dict[str, str]:
    markup = message.reply_markup or {"inline_keyboard": []}
    return {b["text"]: b["url"] for row in markup["inline_keyboard"] for b in row if "url" in b}


def _callbacks(message: SentMessage) -> dict[str, str]:
    markup = message.reply_markup or {"inline_keyboard": []}
    return {
        b["text"]: b["callback_data"]
        for row in markup["inline_keyboard"]
        for b in row
        if "callback_data" in b
    }


async def test_settings_delivery_and_alert_items_change_what_is_stored(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    sudan = await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        reply = await _ask(tg, GROUP, "/subscribe sudan daily 08:00 alerts:2/30m")
        assert "Breaking alerts" in reply.visible_text and "≥2 outlets within 30 min" in reply.visible_text
        [sub] = await subscription_store.list_subscriptions(store, GROUP.id)
        assert sub.schedule == "daily 08:00" and sub.next_digest_at is not None
        assert (sub.alerts, sub.alert_outlets, sub.alert_minutes, sub.alert_multiple) == (True, 2, 30, None)
        bad = await _ask(tg, GROUP, "/subscribe sudan daily 08:00 alerts:3/0")
        assert "alert threshold" in bad.visible_text or "between 1 minute" in bad.visible_text

        menu = await _ask(tg, GROUP, "/settings")
        assert "Silent delivery: off" in menu.visible_text and "Breaking alerts: 1 of 1" in menu.visible_text
        answer, _ = await _press(tg, GROUP, BOB, _buttons(menu)["🔕 Silent: off"], menu)
        assert "Only this chat's admins" in answer["text"]
        answer, menu = await _press(tg, GROUP, ALICE, _buttons(menu)["🔕 Silent: off"], menu)
        assert answer["text"] == "✅ Saved." and "Silent delivery: on" in menu.visible_text
        _, menu = await _press(tg, GROUP, ALICE, _buttons(menu)["🔗 Previews: off"], menu)
        chat = await chat_store.get_chat(store, GROUP.id)
        assert chat is not None and chat.silent and chat.link_previews

        _, alerts = await _press(tg, GROUP, ALICE, _buttons(menu)["🚨 Breaking alerts ▸"], menu)
        assert "sudan" in alerts.visible_text and "alerts on: ≥2 outlets within 30 min" in alerts.visible_text
        _, alerts = await _press(tg, GROUP, ALICE, _buttons(alerts)["🚨 sudan"], alerts)
        [sub] = await subscription_store.list_subscriptions(store, GROUP.id)
        assert not sub.alerts and sub.alert_outlets == 2  # off, its threshold kept
        assert "💤 sudan" in _buttons(alerts)
        threshold = next(text for text in _buttons(alerts) if text.endswith("▸"))
        _, alerts = await _press(tg, GROUP, ALICE, _buttons(alerts)[threshold], alerts)
        [sub] = await subscription_store.list_subscriptions(store, GROUP.id)
        assert sub.alerts and (sub.alert_outlets, sub.alert_minutes) == (3, 60)  # the next preset, on
        check_html(alerts.text)
        _, back = await _press(tg, GROUP, ALICE, _buttons(alerts)["◂ back"], alerts)
        assert "Settings of News fans" in back.visible_text
    assert sudan == sub.story_id


async def test_digest_entries_have_buttons_and_mute_stops_the_story(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    sudan = await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)) as runtime:
        await _ask(tg, GROUP, "/subscribe sudan daily 08:00")
        await set_chat_delivery(store, GROUP.id, silent=True)
        before = len(tg.sent_messages(GROUP.id))
        assert await digest_cycle(runtime, now=datetime.now(UTC) + timedelta(days=1)) == 1
        digest = (await tg.wait_for_messages(before + 1, chat_id=GROUP.id))[before]
        assert "Khartoum airport reopens" in digest.visible_text
        urls = _url_buttons(digest)
        assert any(u.startswith("https://news.example/100/") for u in urls.values())
        assert any(text.startswith("↗ Khartoum airport") for text in urls)
        callbacks = _callbacks(digest)
        assert "🔕 Mute sudan" in callbacks and "🧵" in callbacks
        for data in callbacks.values():
            assert len(data.encode("utf-8")) <= CALLBACK_LIMIT
        [call] = [c for c in tg.calls("sendMessage", chat_id=GROUP.id) if c.params.get("text") == digest.text]
        assert call.params.get("disable_notification") is True
        assert digest.link_preview_disabled  # previews stay off unless the chat turns them on

        # The whole development, as /story shows one: a new message, the digest left as it is.
        count = len(tg.sent_messages(GROUP.id))
        tg.push_callback_query(GROUP, BOB, callbacks["🧵"], message_id=digest.message_id)
        [shown] = (await tg.wait_for_messages(count + 1, chat_id=GROUP.id))[count:]
        assert shown.visible_text.startswith("📰 sudan")
        assert ("Sudan talks resume" in shown.visible_text) != (
            "Khartoum airport reopens" in shown.visible_text
        )
        check_html(shown.text)

        # Mute: refused for a non-admin and from another chat; stored and shown for an admin.
        answer, now = await _press(tg, GROUP, BOB, callbacks["🔕 Mute sudan"], digest)
        assert "Only this chat's admins" in answer["text"] and now.edits == ()
        other = await _ask(tg, PRIVATE, "/stories")
        answer, _ = await _press(tg, PRIVATE, ALICE, callbacks["🔕 Mute sudan"], other)
        assert "not valid here" in answer["text"]
        assert not (await subscription_store.list_subscriptions(store, GROUP.id))[0].muted

        answer, now = await _press(tg, GROUP, ALICE, callbacks["🔕 Mute sudan"], digest)
        assert "Muted sudan here" in answer["text"]
        [sub] = await subscription_store.list_subscriptions(store, GROUP.id)
        assert sub.muted and sub.story_id == sudan
        assert now.text == digest.text  # only the buttons changed
        assert "🔔 Unmute sudan" in _callbacks(now) and "🔕 Mute sudan" not in _callbacks(now)
        assert _url_buttons(now) == urls

        # Muted: the next digest has no sudan section (nothing else is subscribed: no message).
        await seed_story_items(store, sudan, [("El Fasher siege lifted", "AP")], dev_base=300)
        count = len(tg.sent_messages(GROUP.id))
        await digest_cycle(runtime, now=datetime.now(UTC) + timedelta(days=2))
        assert all("El Fasher" not in m.visible_text for m in tg.sent_messages(GROUP.id)[count:])

        # Unmute from the same message: back in the digests.
        answer, now = await _press(
            tg, GROUP, ALICE, _callbacks(_current(tg, digest))["🔔 Unmute sudan"], digest
        )
        assert "back in this chat's digests" in answer["text"]
        assert not (await subscription_store.list_subscriptions(store, GROUP.id))[0].muted


async def test_watch_add_asks_for_the_query_and_the_reply_completes_it(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        prompt = await _ask(tg, GROUP, "/watch add darfur")
        assert "Send me the query for darfur" in prompt.visible_text
        assert prompt.params["reply_markup"]["force_reply"] is True
        check_html(prompt.text)
    # Another process (a restart) takes the reply: what was asked is in the database.
    async with running(Services(config, store)):
        # Bob did not ask: his reply is left alone.
        update = tg.push_message(GROUP, BOB, "football", reply_to_message_id=prompt.message_id)
        await tg.wait_handled(update["update_id"])
        assert await store.get_story("darfur", chat_id=GROUP.id) is None
        count = len(tg.sent_messages(GROUP.id))
        tg.push_message(GROUP, ALICE, 'Darfur OR "El Fasher"', reply_to_message_id=prompt.message_id)
        [done] = (await tg.wait_for_messages(count + 1, chat_id=GROUP.id))[count:]
        assert "Added story darfur" in done.visible_text
        story = await store.get_story("darfur", chat_id=GROUP.id)
        assert story is not None and story.query == 'Darfur OR "El Fasher"'
        # Answered once: a second reply to the same prompt does nothing.
        update = tg.push_message(GROUP, ALICE, "Darfur", reply_to_message_id=prompt.message_id)
        await tg.wait_handled(update["update_id"])
        assert len(tg.sent_messages(GROUP.id)) == count + 1
        # The one-line form keeps working.
        assert "Added story wagner" in (await _ask(tg, GROUP, "/watch add wagner Wagner")).visible_text
