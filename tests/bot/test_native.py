"""Telegram that feels native (issue 12), end to end: the real python-telegram-bot against the
fake Bot API server on a real SQLite file. Forum topics, signed buttons (toggle, paging,
settings; refused when forged or stale; working after a restart), command menus per scope and
language, channel setup (numeric id, forwarded post, greeting, deep link)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.keyboards import CALLBACK_LIMIT, load_signer
from bot.services import Services
from bot.telegram import digest_cycle
from storage import buttons
from storage import chats as chat_store
from storage import subscriptions as subscription_store
from storage.repository import Storage
from tests.bot.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    GROUP,
    PRIVATE,
    addressed,
    make_config,
    running,
    seed_story_items,
)
from tests.fakes.telegram_api import FakeChat, FakeTelegram, FakeUser, SentMessage
from tests.fakes.telegram_html import check_html

FORUM = FakeChat.forum(-1005001, "Newsroom")


async def _sudan(store: Storage) -> int:
    sudan = await store.add_story("sudan", "Sudan OR Khartoum", user_name="config")
    assert sudan.id
    await seed_story_items(
        store,
        sudan.id,
        [("Khartoum airport reopens", "Reuters"), ("Sudan talks resume", "BBC")],
        dev_base=100,
    )
    return sudan.id


async def _ask(
    tg: FakeTelegram, chat: FakeChat, text: str, user: FakeUser = ALICE, *, thread_id: int | None = None
) -> SentMessage:
    """Send a command (as ``/cmd@bot`` in groups) and return the bot's first reply."""
    before = len(tg.sent_messages(chat.id))
    tg.push_message(chat, user, addressed(chat, text), thread_id=thread_id)
    return (await tg.wait_for_messages(before + 1, chat_id=chat.id, timeout=10))[before]


async def _press(
    tg: FakeTelegram, chat: FakeChat, user: FakeUser, data: str, message: SentMessage
) -> tuple[dict[str, Any], SentMessage]:
    """Press a button; wait for the answer to the press and for the bot to finish (an edit, or
    nothing within the answer). Returns the answer's parameters and the message as it is now."""
    edits = len(_current(tg, message).edits)
    query_id = tg.push_callback_query(chat, user, data, message_id=message.message_id)
    [answer] = await tg.wait_for(
        lambda: [c for c in tg.calls("answerCallbackQuery") if c.params.get("callback_query_id") == query_id]
    )
    if answer.params.get("show_alert"):  # refused: nothing else happens
        return answer.params, _current(tg, message)
    await tg.wait_for(lambda: len(_current(tg, message).edits) > edits)
    return answer.params, _current(tg, message)


def _current(tg: FakeTelegram, message: SentMessage) -> SentMessage:
    return next(m for m in tg.sent_messages(message.chat_id) if m.message_id == message.message_id)


def _buttons(message: SentMessage) -> dict[str, str]:
    """Button text -> callback data, every row."""
    markup = message.reply_markup or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


def _all_callback_data(tg: FakeTelegram) -> list[str]:
    return [data for message in tg.sent_messages() for data in _buttons(message).values()]


async def test_forum_topics_replies_subscriptions_and_digests(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    tg.add_chat(FORUM)
    tg.set_member_status(FORUM.id, ALICE.id, "administrator")
    topic = tg.add_topic(FORUM, "Sudan desk")
    await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)) as runtime:
        reply = await _ask(tg, FORUM, "/stories", thread_id=topic)
        assert reply.thread_id == topic and "sudan" in reply.visible_text
        general = await _ask(tg, FORUM, "/help")
        assert general.thread_id is None

        reply = await _ask(tg, FORUM, "/subscribe sudan daily 08:00", thread_id=topic)
        assert reply.thread_id == topic
        assert "Subscribed Newsroom to sudan" in reply.visible_text and "in this topic" in reply.visible_text
        [sub] = await subscription_store.list_subscriptions(store, FORUM.id)
        assert sub.thread_id == topic

        before = len(tg.sent_messages(FORUM.id))
        written = await digest_cycle(runtime, now=datetime.now(UTC) + timedelta(days=1))
        assert written >= 1
        sent = await tg.wait_for_messages(before + 1, chat_id=FORUM.id)
        digest = sent[before]
        assert "Khartoum airport reopens" in digest.visible_text and digest.thread_id == topic
        check_html(digest.text)
    [call] = [c for c in tg.calls("sendMessage", chat_id=FORUM.id) if c.params.get("text") == digest.text]
    assert call.params["message_thread_id"] == topic


async def test_subscribe_toggle_refuses_forged_and_stale_presses_and_survives_a_restart(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    sudan_id = await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        page = await _ask(tg, GROUP, "/stories")
        assert "not subscribed" in page.visible_text
        data = _buttons(page)["🔔 Subscribe sudan"]

        # Bob is no admin of the group: refused, nothing changes.
        answer, now = await _press(tg, GROUP, BOB, data, page)
        assert "Only this chat's admins" in answer["text"] and now.edits == ()
        # The group's button data pressed in another chat (copied or crafted): refused.
        other = await _ask(tg, PRIVATE, "/stories")
        answer, _ = await _press(tg, PRIVATE, ALICE, data, other)
        assert "not valid here" in answer["text"]
        # Tampered with (another story id, the same signature): refused.
        forged = data.replace(f"sub:{sudan_id}:", f"sub:{sudan_id + 1}:")
        assert forged != data
        answer, _ = await _press(tg, GROUP, ALICE, forged, page)
        assert "not valid here" in answer["text"]
        assert await subscription_store.list_subscriptions(store, GROUP.id) == []
        assert await subscription_store.list_subscriptions(store, PRIVATE.id) == []

        answer, page = await _press(tg, GROUP, ALICE, data, page)
        assert "Subscribed News fans to sudan" in answer["text"]
        [sub] = await subscription_store.list_subscriptions(store, GROUP.id)
        assert sub.story_id == sudan_id
        assert "✅ subscribed" in page.visible_text and "🔕 Unsubscribe sudan" in _buttons(page)
        check_html(page.text)

    # A new process (the secret comes from the database, not from memory) takes the old button.
    async with running(Services(config, store)):
        answer, page = await _press(tg, GROUP, ALICE, _buttons(page)["🔕 Unsubscribe sudan"], page)
        assert "Unsubscribed from sudan" in answer["text"]
        assert await subscription_store.list_subscriptions(store, GROUP.id) == []
        assert "🔔 Subscribe sudan" in _buttons(page)

        # A button made more than a month ago, properly signed: stale, refused.
        signer = (await load_signer(store)).with_clock(lambda: time.time() - 31 * 24 * 3600)
        old = signer.sign(GROUP.id, "sub", sudan_id, 1)
        answer, _ = await _press(tg, GROUP, ALICE, old, page)
        assert "expired" in answer["text"]
        assert await subscription_store.list_subscriptions(store, GROUP.id) == []
    for data in _all_callback_data(tg):
        assert len(data.encode("utf-8")) <= CALLBACK_LIMIT


async def test_story_and_search_paging_with_more_and_back(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    darfur = await store.add_story("darfur", "Darfur", user_name="config")
    assert darfur.id
    await seed_story_items(
        store, darfur.id, [(f"Darfur report number {n}", f"Outlet {n}") for n in range(12)], dev_base=500
    )
    config = make_config(tg, sqlite_url)

    def reports(message: SentMessage) -> set[str]:
        return set(re.findall(r"Darfur report number \d+", message.visible_text))

    async with running(Services(config, store)):
        first = await _ask(tg, GROUP, "/story darfur")
        shown = reports(first)
        assert len(shown) == 5 and list(_buttons(first)) == ["more ▸"]
        _, page = await _press(tg, GROUP, ALICE, _buttons(first)["more ▸"], first)
        second = reports(page)
        assert len(second) == 5 and not second & shown
        assert list(_buttons(page)) == ["◂ back", "more ▸"]
        _, page = await _press(tg, GROUP, ALICE, _buttons(page)["more ▸"], page)
        third = reports(page)
        assert len(third) == 2 and list(_buttons(page)) == ["◂ back"]
        assert len(shown | second | third) == 12
        _, page = await _press(tg, GROUP, ALICE, _buttons(page)["◂ back"], page)
        assert reports(page) == second
        assert (await _ask(tg, GROUP, "/story darfur since:3d")).visible_text.count("Darfur report") == 5

        # Search pages: the query is kept in the database, so another process can page on.
        results = await _ask(tg, PRIVATE, "/search Darfur since:7d")
        assert "more ▸" in _buttons(results)
        await store.close()  # a fresh connection: nothing kept in memory helps
    store2 = Storage.connect(sqlite_url)
    try:
        async with running(Services(config, store2)):
            _, page = await _press(tg, PRIVATE, ALICE, _buttons(results)["more ▸"], results)
            assert "◂ back" in _buttons(page) and re.search(r"^6\. ", page.visible_text, re.MULTILINE)
            assert "No story named" in (await _ask(tg, PRIVATE, "/search Darfur story:nosuch")).visible_text
            # outlet: as a filter, paged like any search ("Outlet 1", "Outlet 10", "Outlet 11").
            by_outlet = await _ask(tg, PRIVATE, "/search Darfur outlet:outlet1")
            assert reports(by_outlet) == {"Darfur report number 1", "Darfur report number 10"} | {
                "Darfur report number 11"
            }
            assert "No results" in (await _ask(tg, PRIVATE, "/search Darfur outlet:nosuch")).visible_text
            found = await _ask(tg, PRIVATE, "/search report story:darfur")
            assert "Darfur report number" in found.visible_text
    finally:
        await store2.close()


async def test_settings_menu_changes_language_and_time_zone(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        menu = await _ask(tg, GROUP, "/settings")
        assert "Settings of News fans" in menu.visible_text and "Time zone: UTC" in menu.visible_text
        answer, _ = await _press(tg, GROUP, BOB, _buttons(menu)["Español"], menu)
        assert "Only this chat's admins" in answer["text"]
        assert (await chat_store.get_chat(store, GROUP.id)).language is None  # type: ignore[union-attr]

        answer, menu = await _press(tg, GROUP, ALICE, _buttons(menu)["Español"], menu)
        assert answer["text"] == "✅ Guardado."
        assert "Ajustes de News fans" in menu.visible_text and "• Español" in _buttons(menu)
        answer, menu = await _press(tg, GROUP, ALICE, _buttons(menu)["Madrid"], menu)
        chat = await chat_store.get_chat(store, GROUP.id)
        assert chat is not None and chat.language == "es" and chat.timezone == "Europe/Madrid"
        assert "Zona horaria: Europe/Madrid" in menu.visible_text and "• Madrid" in _buttons(menu)
        check_html(menu.text)

        stories = await _ask(tg, GROUP, "/stories")
        assert "Historias" in stories.visible_text and "🔔 Suscribirse a sudan" in _buttons(stories)
        ru_user = FakeUser(1003, "Ivan", "ivan", language_code="ru")
        text = (await _ask(tg, FakeChat.private(ru_user), "/start", ru_user)).visible_text
        assert "следит за новостными сюжетами" in text  # the user's language where the chat has none


async def test_command_menus_per_scope_and_language(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        await tg.wait_for(lambda: tg.commands({"type": "chat", "chat_id": ALICE.id}, "ru"))

    def names(scope: dict[str, Any] | None, language: str = "") -> dict[str, str]:
        return {c["command"]: c["description"] for c in tg.commands(scope, language)}

    everyone = names(None)
    assert "story" in everyone and not {"subscribe", "watch", "feed", "status"} & set(everyone)
    admins = names({"type": "all_chat_administrators"})
    assert {"subscribe", "watch", "settings"} <= set(admins) and not {"feed", "status"} & set(admins)
    alice = names({"type": "chat", "chat_id": ALICE.id})
    assert {"feed", "status", "subscribe", "story"} <= set(alice)
    assert names({"type": "chat", "chat_id": BOB.id}) == {}
    assert names(None, "es")["story"].startswith("Últimas novedades")
    assert names({"type": "all_chat_administrators"}, "ru")["settings"].startswith("Язык")
    assert names({"type": "chat", "chat_id": ALICE.id}, "es")["feed"].startswith("Administradores del bot")


async def test_channel_setup_by_id_forward_greeting_and_deep_link(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    sudan_id = await _sudan(store)
    config = make_config(tg, sqlite_url)
    hidden = FakeChat.channel(-1003002, "Private desk")  # no @username: only its id or a forward
    readers = FakeChat.group(-4002, "Readers")
    for chat in (hidden, readers):
        tg.add_chat(chat)
        tg.set_member_status(chat.id, ALICE.id, "administrator")
    tg.set_member_status(hidden.id, tg.bot.id, "administrator")
    async with running(Services(config, store)):
        # A channel by its numeric id.
        reply = await _ask(tg, PRIVATE, f"/subscribe {CHANNEL.id} sudan every 6h")
        assert "Subscribed World desk to sudan: every 6h" in reply.visible_text
        subs = await subscription_store.list_subscriptions(store, CHANNEL.id)
        assert [s.story_id for s in subs] == [sudan_id]
        refused = await _ask(tg, FakeChat.private(BOB), f"/subscribe {CHANNEL.id} sudan", BOB)
        assert "not an admin" in refused.visible_text

        # A post forwarded from a channel without a username.
        before = len(tg.sent_messages(PRIVATE.id))
        tg.push_message(PRIVATE, ALICE, "Breaking: something", forward_from_chat=hidden)
        offer = (await tg.wait_for_messages(before + 1, chat_id=PRIVATE.id))[before]
        assert "Stories for Private desk" in offer.visible_text
        answer, offer = await _press(tg, PRIVATE, ALICE, _buttons(offer)["🔔 sudan"], offer)
        assert "Subscribed Private desk to sudan" in answer["text"]
        subs = await subscription_store.list_subscriptions(store, hidden.id)
        assert [s.story_id for s in subs] == [sudan_id]
        assert "✅ sudan" in _buttons(offer)

        # Added to a group: a greeting with next steps there, and who added the bot remembered.
        tg.push_my_chat_member(readers, ALICE, "left", "member")
        [greeting] = await tg.wait_for_messages(1, chat_id=readers.id)
        assert "Hello, Readers!" in greeting.visible_text and "/stories" in greeting.visible_text
        check_html(greeting.text)
        chat = await chat_store.get_chat(store, readers.id)
        assert chat is not None and chat.added_by == ALICE.id

        # /subscribe in private offers the chats where Alice is admin and the bot is in.
        offer = await _ask(tg, PRIVATE, "/subscribe")
        assert "Which chat should get digests?" in offer.visible_text
        assert {"Readers", "World desk", "Private desk"} <= set(_buttons(offer))
        bob_offer = await _ask(tg, FakeChat.private(BOB), "/subscribe", BOB)
        assert _buttons(bob_offer) == {}
        _, offer = await _press(tg, PRIVATE, ALICE, _buttons(offer)["Readers"], offer)
        assert "Stories for Readers" in offer.visible_text
        answer, _ = await _press(tg, PRIVATE, ALICE, _buttons(offer)["🔔 sudan"], offer)
        assert "Subscribed Readers to sudan" in answer["text"]
        subs = await subscription_store.list_subscriptions(store, readers.id)
        assert [s.story_id for s in subs] == [sudan_id]

        # Added to a channel as admin: the adder is greeted privately, with subscribe buttons.
        desk = FakeChat.channel(-1003003, "Night desk")
        tg.set_member_status(desk.id, ALICE.id, "administrator")
        before = len(tg.sent_messages(PRIVATE.id))
        tg.push_my_chat_member(desk, ALICE, "left", "administrator")
        welcome = (await tg.wait_for_messages(before + 1, chat_id=PRIVATE.id))[before]
        assert "I am in Night desk" in welcome.visible_text and "🔔 sudan" in _buttons(welcome)
        assert tg.sent_messages(desk.id) == []  # nothing posted to the channel's subscribers

        # A deep link subscribes in one tap.
        carol = FakeUser(1004, "Carol", "carol")
        reply = await _ask(tg, FakeChat.private(carol), "/start sub-sudan", carol)
        assert "Subscribed" in reply.visible_text and "sudan" in reply.visible_text
        subs = await subscription_store.list_subscriptions(store, carol.id)
        assert [s.story_id for s in subs] == [sudan_id]
    for data in _all_callback_data(tg):
        assert len(data.encode("utf-8")) <= CALLBACK_LIMIT


async def test_button_secret_and_search_tokens_are_shared_through_the_database(database_url: str) -> None:
    """Two processes (two connections) on SQLite and PostgreSQL: one secret, one query store."""
    first, second = Storage.connect(database_url), Storage.connect(database_url)
    try:
        signer_a, signer_b = await load_signer(first), await load_signer(second)
        data = signer_a.sign(-100123, "s", "abc", 5)
        assert signer_b.verify(-100123, data).args == ("abc", "5")
        token = await buttons.remember_search(first, '"El Fasher" since:7d')
        assert await buttons.remember_search(second, '"El Fasher" since:7d') == token
        assert await buttons.searched_query(second, token) == '"El Fasher" since:7d'
        assert await buttons.searched_query(second, "0" * 16) is None
    finally:
        await first.close()
        await second.close()


async def test_display_titles_head_digests(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    await _sudan(store)
    config = make_config(tg, sqlite_url)
    async with running(Services(config, store)):
        refused = await _ask(tg, FakeChat.private(BOB), "/watch global title sudan Hijacked <b>", BOB)
        assert "Only bot admins" in refused.visible_text
        reply = await _ask(tg, PRIVATE, "/watch global title sudan Sudan / RSF <war>")
        assert "is titled “Sudan / RSF <war>” in digests" in reply.visible_text
        assert "sudan “Sudan / RSF <war>”" in (await _ask(tg, PRIVATE, "/stories")).visible_text
        await _ask(tg, PRIVATE, "/subscribe sudan daily 08:00")
        before = len(tg.sent_messages(PRIVATE.id))
        tg.push_message(PRIVATE, ALICE, "/digest")
        digest = (await tg.wait_for_messages(before + 1, chat_id=PRIVATE.id))[before]
        assert (
            "Sudan / RSF <war>" in digest.visible_text and "Khartoum airport reopens" in digest.visible_text
        )
        check_html(digest.text)
        [sub] = await subscription_store.list_subscriptions(store, PRIVATE.id)
        assert sub.story_name == "sudan" and sub.heading == "Sudan / RSF <war>"
        reply = await _ask(tg, PRIVATE, "/watch global title sudan")
        assert "digests use its name" in reply.visible_text
        assert (await subscription_store.list_subscriptions(store, PRIVATE.id))[0].story_title is None
