"""Every command end to end: the real python-telegram-bot over HTTP to the fake Bot API server, in a
private chat, a group (``/cmd@botname``) and a channel (channel posts), on a real SQLite file."""

from __future__ import annotations

import re

import pytest

from bot.poller import Poller
from bot.services import Services
from storage import subscriptions as subscription_store
from storage.repository import Storage
from tests.bot.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    GROUP,
    PRIVATE,
    Chatter,
    addressed,
    make_config,
    running,
    seed_story_items,
)
from tests.fakes.feed_server import FeedServer, Reply, rss_feed
from tests.fakes.telegram_api import FakeChat, FakeTelegram
from tests.fakes.telegram_html import check_html


def _numbers(text: str) -> list[int]:
    """The result numbers of a search page ("1. Title")."""
    return [int(m) for m in re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)]


@pytest.mark.parametrize("chat", [PRIVATE, GROUP, CHANNEL], ids=["private", "group", "channel"])
async def test_every_command(
    chat: FakeChat, tg: FakeTelegram, sqlite_url: str, store: Storage, server: FeedServer
) -> None:
    config = make_config(tg, sqlite_url)
    sudan = await store.add_story("sudan", '(Sudan OR Khartoum OR Darfur) -"South Sudan"', user_name="config")
    assert sudan.id
    await seed_story_items(
        store,
        sudan.id,
        [("RSF <b>shells</b> El Fasher & Darfur", "BBC"), ("Khartoum airport reopens", "Reuters")],
        dev_base=100,
    )
    server.script("/world.xml", Reply(body=rss_feed("World", [("w1", "Sudan talks"), ("w2", "Other")])))
    feed_url = server.url("/world.xml")
    chatter = Chatter(tg)
    async with Poller.from_config(store, config) as poller, running(Services(config, store, poller=poller)):
        say = chatter.say

        assert "/subscribe" in await say(chat, addressed(chat, "/start"))
        assert "/watch add" in await say(chat, addressed(chat, "/help"))

        text = await say(chat, addressed(chat, "/stories"))
        assert "sudan" in text and "not subscribed" in text

        text = await say(chat, addressed(chat, "/story sudan"))
        assert "RSF <b>shells</b> El Fasher & Darfur" in text and "Khartoum airport reopens" in text
        text = await say(chat, addressed(chat, "/story sudn"))
        assert "Did you mean sudan" in text and "/search" in text
        assert "Usage" in await say(chat, addressed(chat, "/story"))

        text = await say(chat, addressed(chat, "/search Khartoum airport"))
        assert "Khartoum airport reopens" in text and "El Fasher" not in text
        assert "Usage" in await say(chat, addressed(chat, "/search"))
        text = await say(chat, addressed(chat, '/search "El Fasher'))
        assert "Bad query" in text and "position" in text

        text = await say(chat, addressed(chat, "/subscribe sudan daily 08:00"))
        assert "Subscribed" in text and "daily 08:00" in text
        text = await say(chat, addressed(chat, "/timezone Europe/Madrid"))
        assert "Europe/Madrid" in text
        text = await say(chat, addressed(chat, "/subscriptions"))
        assert "sudan — daily 08:00 (Europe/Madrid)" in text
        if chat.type == "private":  # a private chat offers the groups and channels to set up
            assert "Which chat should get digests?" in await say(chat, "/subscribe")
        else:
            assert "Usage" in await say(chat, addressed(chat, "/subscribe"))
        assert "not a schedule" in await say(chat, addressed(chat, "/subscribe sudan weekly"))

        [digest] = await chatter.ask(chat, addressed(chat, "/digest"))
        assert "Digest" in digest.visible_text and "Khartoum airport reopens" in digest.visible_text
        assert digest.link_preview_disabled and digest.parse_mode == "HTML"
        check_html(digest.text)
        assert "Nothing new" in await say(chat, addressed(chat, "/digest"))

        text = await say(chat, addressed(chat, '/watch add fasher "El Fasher" OR Darfur'))
        assert "Added story fasher" in text
        text = await say(chat, addressed(chat, "/watch edit fasher Darfur*"))
        assert "now watches Darfur*" in text
        text = await say(chat, addressed(chat, "/watch show fasher"))
        assert "add by" in text and "edit by" in text and '"El Fasher" OR Darfur → Darfur*' in text
        text = await say(chat, addressed(chat, '/watch add broken "El Fasher'))
        assert "Bad query" in text and "position" in text
        assert "Usage" in await say(chat, addressed(chat, "/watch"))
        assert "Removed story fasher" in await say(chat, addressed(chat, "/watch rm fasher"))
        assert [s.name for s in await store.list_stories(scope=chat.id)] == []

        assert "Unsubscribed" in await say(chat, addressed(chat, "/unsubscribe sudan"))
        assert await subscription_store.list_subscriptions(store, chat.id) == []

        text = await say(chat, addressed(chat, f"/feed add {feed_url}"))
        if chat.type == "channel":
            assert "not a channel post" in text
            assert await store.get_feed(feed_url) is None
        else:
            assert "Added feed" in text and "2 new items" in text
            assert "enabled" in (await say(chat, addressed(chat, f"/feed enable {feed_url}"))).lower()
        text = await say(chat, addressed(chat, "/feeds"))
        assert "Feeds" in text
        if chat.type != "channel":
            assert "Removed feed" in await say(chat, addressed(chat, f"/feed rm {feed_url}"))

    for message in tg.sent_messages(chat.id):
        if message.parse_mode == "HTML":
            check_html(message.text)
    everyone = {c["command"] for c in tg.commands()}
    assert {"start", "story", "search", "feeds"} <= everyone and not {"subscribe", "feed"} & everyone
    admins = {c["command"] for c in tg.commands({"type": "all_chat_administrators"})}
    assert {"start", "subscribe", "watch", "settings"} <= admins and "feed" not in admins
    alice = {c["command"] for c in tg.commands({"type": "chat", "chat_id": ALICE.id})}
    assert {"start", "subscribe", "watch", "feed", "status"} <= alice


async def test_non_admins_are_refused_and_nothing_changes(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    await store.add_story("sudan", "Sudan", user_name="config")
    chatter = Chatter(tg)
    bob_private = FakeChat.private(BOB)
    async with running(Services(config, store)):
        text = await chatter.say(GROUP, addressed(GROUP, "/watch add mine Darfur"), BOB)
        assert "Only this chat's admins" in text
        text = await chatter.say(GROUP, addressed(GROUP, "/subscribe sudan"), BOB)
        assert "Only this chat's admins" in text
        text = await chatter.say(bob_private, "/feed add https://example.org/rss", BOB)
        assert "Only bot admins" in text and str(BOB.id) in text
        text = await chatter.say(bob_private, "/watch global add world Sudan", BOB)
        assert "Only bot admins" in text
        text = await chatter.say(bob_private, "/subscribe @worlddesk sudan", BOB)
        assert "not an admin of @worlddesk" in text
        # The same in Alice's hands works, and is audited with her name.
        text = await chatter.say(GROUP, addressed(GROUP, "/watch add mine Darfur"), ALICE)
        assert "Added story mine" in text
    assert await store.list_stories(scope=GROUP.id) != []
    assert [s.name for s in await store.list_stories(scope=BOB.id)] == []
    assert await store.list_feeds() == []
    assert await subscription_store.list_subscriptions(store, GROUP.id) == []
    assert [s.name for s in await store.list_stories(scope=0)] == ["sudan"]
    [entry] = await store.story_audit("mine", scope=GROUP.id)
    assert entry.action == "add" and entry.user_id == ALICE.id and "alice" in (entry.user_name or "")


async def test_subscribe_a_channel_from_a_private_chat(
    tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    await store.add_story("sudan", "Sudan", user_name="config")
    chatter = Chatter(tg)
    async with running(Services(config, store)) as runtime:
        text = await chatter.say(PRIVATE, "/subscribe @worlddesk sudan every 6h")
        assert "Subscribed World desk to sudan: every 6h" in text
        text = await chatter.say(PRIVATE, "/subscriptions @worlddesk")
        assert "sudan — every 6h" in text
        tg.set_member_status(CHANNEL.id, tg.bot.id, "member")
        runtime.permissions.forget()  # getChatMember answers are cached for a minute
        text = await chatter.say(PRIVATE, "/unsubscribe @worlddesk sudan")
        assert "I am not an admin of @worlddesk" in text
    [sub] = await subscription_store.list_subscriptions(store, CHANNEL.id)
    assert sub.schedule == "every 6h" and sub.created_at is not None


async def test_limits_on_stories_and_query_length(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    base = make_config(tg, sqlite_url)
    config = base.model_copy(
        update={
            "telegram": base.telegram.model_copy(update={"max_stories_per_chat": 1, "max_query_length": 20})
        }
    )
    chatter = Chatter(tg)
    async with running(Services(config, store)):
        assert "Added" in await chatter.say(PRIVATE, "/watch add one Sudan")
        assert "the limit" in await chatter.say(PRIVATE, "/watch add two Darfur")
        assert "limit is 20" in await chatter.say(PRIVATE, "/watch edit one " + "x" * 21)
        assert "at least one positive term" in await chatter.say(PRIVATE, "/watch edit one -football")
    assert [s.query for s in await store.list_stories(scope=ALICE.id)] == ["Sudan"]


@pytest.mark.parametrize("chat", [PRIVATE, GROUP, CHANNEL], ids=["private", "group", "channel"])
async def test_search_pages_with_more_button(
    chat: FakeChat, tg: FakeTelegram, sqlite_url: str, store: Storage
) -> None:
    config = make_config(tg, sqlite_url)
    darfur = await store.add_story("darfur", "Darfur", user_name="config")
    assert darfur.id
    await seed_story_items(
        store, darfur.id, [(f"Darfur report number {n}", f"Outlet {n}") for n in range(8)], dev_base=500
    )
    chatter = Chatter(tg)
    async with running(Services(config, store)):
        [page] = await chatter.ask(chat, addressed(chat, "/search Darfur"))
        assert _numbers(page.visible_text) == [1, 2, 3, 4, 5]
        buttons = page.reply_markup["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["more ▸"]
        query_id = tg.push_callback_query(
            chat, ALICE, buttons[0]["callback_data"], message_id=page.message_id
        )
        await tg.wait_for(lambda: tg.sent_messages(chat.id)[-1].edits)
        edited = tg.sent_messages(chat.id)[-1]
        assert edited.message_id == page.message_id
        assert _numbers(edited.visible_text) == [6, 7, 8]
        assert [b["text"] for b in edited.reply_markup["inline_keyboard"][0]] == ["◂ back"]
        check_html(edited.text)
        await tg.wait_for(
            lambda: [
                c for c in tg.calls("answerCallbackQuery") if c.params.get("callback_query_id") == query_id
            ]
        )


async def test_status_is_for_bot_admins(tg: FakeTelegram, sqlite_url: str, store: Storage) -> None:
    config = make_config(tg, sqlite_url)
    await store.add_feed("https://example.org/rss")
    chatter = Chatter(tg)
    async with running(Services(config, store)):
        refused = await chatter.say(FakeChat.private(BOB), "/status", BOB)
        assert "Only bot admins can see the status" in refused and str(BOB.id) in refused
        shown = await chatter.say(FakeChat.private(ALICE), "/status", ALICE)
    check_html(shown)
    assert "Status" in shown and "Feeds: 1 (1 ok, 0 failing, 0 disabled)" in shown
    assert "Outbox:" in shown and "database: sqlite" in shown
