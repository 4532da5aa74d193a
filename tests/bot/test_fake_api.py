"""The fake Bot API server, driven by the real python-telegram-bot over HTTP.

These tests pin down what the bot's own end-to-end tests rely on: updates reach handlers through
long polling, replies are recorded, and Telegram's error answers surface as PTB's exceptions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from telegram import (
    Bot,
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from tests.fakes.telegram_api import (
    BOT_ID,
    ApiError,
    FakeChat,
    FakeTelegram,
    FakeUser,
    polling,
)

ALICE = FakeUser(1001, "Alice", "alice")
BOB = FakeUser(1002, "Bob")
GROUP = FakeChat.group(-4001, "News fans")
SUPERGROUP = FakeChat.supergroup(-1002001, "News fans (super)")
CHANNEL = FakeChat.channel(-1003001, "World desk", username="worlddesk")


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    """A fake Bot API server on 127.0.0.1."""
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A real PTB Bot talking to the fake server (initialised: getMe done)."""
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as b:
        yield b


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to /start in whatever chat it came from."""
    message = update.effective_message
    assert message is not None
    await context.bot.send_message(
        message.chat_id,
        f"Hello <b>{message.chat.type}</b> &amp; welcome",
        parse_mode="HTML",
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def test_start_command_reaches_handler_and_reply_is_recorded(tg: FakeTelegram) -> None:
    app = tg.application_builder().build()
    app.add_handler(
        CommandHandler("start", start, filters=filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST)
    )
    async with polling(app):
        tg.push_message(ALICE.id, ALICE, "/start")
        [reply] = await tg.wait_for_messages(1, chat_id=ALICE.id)
        assert reply.text == "Hello <b>private</b> &amp; welcome"
        assert reply.visible_text == "Hello private & welcome"
        assert reply.parse_mode == "HTML"
        assert reply.link_preview_disabled

        tg.push_message(SUPERGROUP, BOB, f"/start@{tg.bot.username} now")
        [group_reply] = await tg.wait_for_messages(1, chat_id=SUPERGROUP.id)
        assert group_reply.visible_text == "Hello supergroup & welcome"

        tg.push_channel_post(CHANNEL, "/start")
        [channel_reply] = await tg.wait_for_messages(1, chat_id=CHANNEL.id)
        assert channel_reply.visible_text == "Hello channel & welcome"

    # getMe at initialize, then getUpdates polls; the updates were confirmed on shutdown.
    assert tg.calls("getMe")
    assert tg.calls("getUpdates")
    assert tg.pending_updates() == []
    ids = [m.message_id for m in tg.sent_messages()]
    assert ids == [2, 2, 2]  # per chat: the user's message took id 1


async def test_message_ids_increase_per_chat(bot: Bot, tg: FakeTelegram) -> None:
    first = await bot.send_message(GROUP.id, "one")
    second = await bot.send_message(GROUP.id, "two")
    assert second.message_id == first.message_id + 1
    assert first.chat.id == GROUP.id
    assert first.from_user is not None and first.from_user.id == BOT_ID


async def test_string_parameters_stay_strings_and_json_ones_are_decoded(bot: Bot, tg: FakeTelegram) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="page:2")]])
    message = await bot.send_message(ALICE.id, "123", reply_markup=markup)
    assert message.text == "123"
    [sent] = tg.sent_messages(ALICE.id)
    assert sent.text == "123"
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "more", "callback_data": "page:2"}]]}
    assert message.reply_markup == markup


# PTB 22 warns that RetryAfter.retry_after will become a timedelta; both forms are accepted here.
_RETRY_AFTER_WARNING = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


@_RETRY_AFTER_WARNING
async def test_retry_after_then_success(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_retry_after("sendMessage", 3, chat_id=CHANNEL.id)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL.id, "breaking")
    assert caught.value.retry_after in (3, timedelta(seconds=3))
    assert tg.sent_messages() == []
    [failed] = tg.calls("sendMessage")
    assert failed.status == 429
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }

    message = await bot.send_message(CHANNEL.id, "breaking")
    assert [m.message_id for m in tg.sent_messages(CHANNEL.id)] == [message.message_id]


@_RETRY_AFTER_WARNING
async def test_fault_for_one_chat_leaves_other_chats_alone(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_retry_after("sendMessage", 1, chat_id=CHANNEL.id, times=2)
    await bot.send_message(GROUP.id, "fine")  # not the faulty chat
    for _ in range(2):
        with pytest.raises(RetryAfter):
            await bot.send_message(CHANNEL.id, "x")
    await bot.send_message(CHANNEL.id, "x")
    assert [m.chat_id for m in tg.sent_messages()] == [GROUP.id, CHANNEL.id]


async def test_forbidden_once_and_for_good(bot: Bot, tg: FakeTelegram) -> None:
    tg.add_chat(CHANNEL)
    tg.fail_forbidden("sendMessage", chat_id=CHANNEL.id)
    with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
        await bot.send_message(CHANNEL.id, "hello")
    await bot.send_message(CHANNEL.id, "hello again")  # one-shot fault is used up

    tg.kick_bot(CHANNEL.id)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
            await bot.send_message(CHANNEL.id, "still there?")
    tg.kick_bot(ALICE.id)
    tg.add_chat(FakeChat.private(ALICE))
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE.id, "hi")
    assert len(tg.sent_messages()) == 1


async def test_group_migration_surfaces_as_chat_migrated(bot: Bot, tg: FakeTelegram) -> None:
    tg.add_chat(GROUP)
    tg.migrate_chat(GROUP.id, -1009999)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(GROUP.id, "digest")
    assert caught.value.new_chat_id == -1009999
    [call] = tg.calls("sendMessage")
    assert call.response["description"] == ("Bad Request: group chat was upgraded to a supergroup chat")
    message = await bot.send_message(caught.value.new_chat_id, "digest")
    assert message.chat.type == "supergroup"

    tg.fail_migrated(SUPERGROUP.id, -1008888)  # one-shot variant
    with pytest.raises(ChatMigrated):
        await bot.send_message(SUPERGROUP.id, "x")
    await bot.send_message(SUPERGROUP.id, "x")


async def test_invalid_html_is_refused_like_telegram(bot: Bot, tg: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(ALICE.id, "<script>alert(1)</script>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ALICE.id, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ALICE.id, "Q&A", parse_mode="HTML")
    # the same text without a parse mode is fine (the plain-text fallback)
    await bot.send_message(ALICE.id, "Q&A <b>bold")
    [call] = [c for c in tg.calls("sendMessage") if c.status == 400][:1]
    assert call.response["description"].startswith("Bad Request: can't parse entities: ")
    assert [m.text for m in tg.sent_messages()] == ["Q&A <b>bold"]

    tg.fail_cant_parse("sendMessage")  # injected even for valid text
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ALICE.id, "<b>ok</b>", parse_mode="HTML")


async def test_length_limit_counts_visible_text(bot: Bot, tg: FakeTelegram) -> None:
    # 4096 visible characters, much longer as HTML: accepted
    text = "<b>" + "&amp;" * 4096 + "</b>"
    await bot.send_message(ALICE.id, text, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ALICE.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ALICE.id, "😀" * 2049)  # 4098 UTF-16 units
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(ALICE.id, "<b> </b>", parse_mode="HTML")


async def test_chat_member_statuses(bot: Bot, tg: FakeTelegram) -> None:
    tg.add_chat(CHANNEL)
    tg.set_member_status(CHANNEL.id, ALICE.id, "creator")
    tg.set_member_status(CHANNEL.id, BOB.id, "administrator", can_post_messages=False)
    owner = await bot.get_chat_member(CHANNEL.id, ALICE.id)
    admin = await bot.get_chat_member("@worlddesk", BOB.id)
    member = await bot.get_chat_member(CHANNEL.id, 4242)
    me = await bot.get_chat_member(CHANNEL.id, BOT_ID)
    assert isinstance(owner, ChatMemberOwner)
    assert isinstance(admin, ChatMemberAdministrator) and admin.can_post_messages is False
    assert isinstance(member, ChatMemberMember)
    assert isinstance(me, ChatMemberAdministrator)
    admins = await bot.get_chat_administrators(CHANNEL.id)
    assert {a.user.id for a in admins} == {BOT_ID, ALICE.id, BOB.id}
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat_member("@nosuchchannel", ALICE.id)


async def test_get_chat_commands_and_webhook(bot: Bot, tg: FakeTelegram) -> None:
    tg.add_chat(CHANNEL)
    chat = await bot.get_chat("@worlddesk")
    assert (chat.id, chat.type, chat.title) == (CHANNEL.id, "channel", "World desk")

    commands = [BotCommand("start", "What this bot does"), BotCommand("digest", "Digest now")]
    assert await bot.set_my_commands(commands)
    assert [c["command"] for c in tg.commands()] == ["start", "digest"]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "digest"]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])

    await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook"
    assert tg.calls("setWebhook")[0].params["secret_token"] == "s3cret"
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""


async def test_get_updates_long_polls_and_honours_offset(bot: Bot, tg: FakeTelegram) -> None:
    began = time.monotonic()
    assert await bot.get_updates(timeout=5) == ()
    waited = time.monotonic() - began
    assert tg.poll_cap * 0.8 <= waited < 3  # held for the poll cap, not the full timeout

    tg.push_message(ALICE.id, ALICE, "hello")
    tg.push_message(ALICE.id, ALICE, "again")
    first, second = await bot.get_updates(timeout=5)
    assert first.message is not None and first.message.text == "hello"
    assert second.update_id == first.update_id + 1
    rest = await bot.get_updates(offset=second.update_id, timeout=0)
    assert [u.update_id for u in rest] == [second.update_id]
    assert await bot.get_updates(offset=second.update_id + 1, timeout=0) == ()
    assert tg.pending_updates() == []

    # a pushed update wakes a waiting long poll at once
    async def push_later() -> None:
        await tg.wait_for(lambda: tg.in_flight("getUpdates") >= 1)  # the long poll is waiting
        tg.push_message(ALICE.id, ALICE, "wake up")

    pusher = asyncio.create_task(push_later())
    [woken] = await bot.get_updates(timeout=5)
    await pusher
    assert woken.message is not None and woken.message.text == "wake up"


async def test_webhook_blocks_get_updates(bot: Bot, tg: FakeTelegram) -> None:
    await bot.set_webhook("https://example.org/hook")
    from telegram.error import Conflict

    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)


async def test_callback_query_answer_and_edit(tg: FakeTelegram) -> None:
    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"page <b>{query.data}</b>", parse_mode="HTML")

    app = tg.application_builder().build()
    app.add_handler(CallbackQueryHandler(more))
    async with polling(app):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="2")]])
        sent = await app.bot.send_message(GROUP.id, "page 1", reply_markup=markup)
        query_id = tg.push_callback_query(GROUP, ALICE, "2", message_id=sent.message_id)
        await tg.wait_for(lambda: tg.sent_messages(GROUP.id)[0].edits)
    [message] = tg.sent_messages(GROUP.id)
    assert message.visible_text == "page 2"
    assert message.edits == ("page 1",)
    [answer] = tg.calls("answerCallbackQuery")
    assert answer.params["callback_query_id"] == query_id and answer.ok


async def test_edit_errors_like_telegram(bot: Bot, tg: FakeTelegram) -> None:
    sent = await bot.send_message(ALICE.id, "same")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("same", chat_id=ALICE.id, message_id=sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("new", chat_id=ALICE.id, message_id=999)


async def test_answering_unknown_callback_query_fails(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("nope")


async def test_anonymous_admin_and_my_chat_member_updates(tg: FakeTelegram) -> None:
    seen: list[Update] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    from telegram.ext import ChatMemberHandler, MessageHandler

    app = tg.application_builder().build()
    app.add_handler(MessageHandler(filters.ALL, record))
    app.add_handler(ChatMemberHandler(record, ChatMemberHandler.MY_CHAT_MEMBER))
    async with polling(app):
        from tests.fakes.telegram_api import ANONYMOUS_ADMIN

        tg.push_message(SUPERGROUP, ANONYMOUS_ADMIN, "/digest", sender_chat=SUPERGROUP)
        tg.push_my_chat_member(CHANNEL, ALICE, "left", "administrator")
        await tg.wait_for(lambda: len(seen) >= 2)
    message, member = seen
    assert message.effective_message is not None
    assert message.effective_message.sender_chat is not None
    assert message.effective_message.sender_chat.id == SUPERGROUP.id
    assert member.my_chat_member is not None
    assert member.my_chat_member.new_chat_member.status == "administrator"
    assert tg.member_status(CHANNEL.id, BOT_ID) == "administrator"


async def test_wrong_token_and_unknown_method(tg: FakeTelegram) -> None:
    from telegram.error import InvalidToken

    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=tg.base_url):
            pass
    async with Bot(tg.token, base_url=tg.base_url) as b:
        with pytest.raises(Exception, match=r"(?i)not found"):
            await b.do_api_request("noSuchMethod")


async def test_wait_for_times_out_with_a_useful_message(tg: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await tg.wait_for(lambda: tg.sent_messages(), timeout=0.05)


def test_api_error_payloads_match_telegram() -> None:
    assert ApiError.bot_kicked("supergroup").payload() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was kicked from the supergroup chat",
    }
    assert ApiError.migrated(-100123).payload()["parameters"] == {"migrate_to_chat_id": -100123}
    assert ApiError.cant_parse("x").description == "Bad Request: can't parse entities: x"


async def test_webhook_delivery_with_secret_token(tg: FakeTelegram) -> None:
    pytest.importorskip("tornado", reason="PTB webhooks need python-telegram-bot[webhooks]")
    from telegram.ext import Application as App

    port = _free_port()
    seen: list[str] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        seen.append(update.effective_message.text or "")

    app: App = tg.application_builder().build()  # type: ignore[type-arg]
    app.add_handler(CommandHandler("digest", record))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="s3cret",
        )
        try:
            tg.push_message(ALICE.id, ALICE, "/digest")
            assert await asyncio.to_thread(tg.deliver_to_webhook) == [200]
            await tg.wait_for(lambda: seen)
            # an update carrying the wrong secret is refused by PTB's webhook server
            tg.push_message(ALICE.id, ALICE, "/digest forged")
            assert await asyncio.to_thread(tg.deliver_to_webhook, secret_token="wrong") == [403]
            assert len(tg.pending_updates()) == 1
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen == ["/digest"]
    [hook] = tg.calls("setWebhook")
    assert hook.params["secret_token"] == "s3cret"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
