"""Fixtures for end-to-end bot tests: the real python-telegram-bot talking HTTP to the fake Bot API
server, a real SQLite file, and feeds from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import Config, DatabaseConfig, DigestConfig, FetchConfig, TelegramConfig
from bot.services import Runtime, Services, runtime_of
from bot.telegram import Intervals, build_application, serve
from storage.repository import Storage
from stories.model import Decision, Item
from tests.conftest import connected
from tests.fakes.telegram_api import BOT_USERNAME, FakeChat, FakeTelegram, FakeUser, SentMessage
from tests.fakes.telegram_html import MESSAGE_LIMIT, check_html, visible_length

ALICE = FakeUser(1001, "Alice", "alice")  # bot admin, admin of the group and the channel
BOB = FakeUser(1002, "Bob", "bob")  # nobody in particular
GROUP = FakeChat.group(-4001, "News fans")
CHANNEL = FakeChat.channel(-1003001, "World desk", username="worlddesk")
PRIVATE = FakeChat.private(ALICE)

QUIET = Intervals(poll=3600, digest=3600, outbox=0.2, first_poll=3600)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    """A fake Bot API server with the group and channel known, Alice admin of both."""
    with FakeTelegram() as fake:
        for chat in (GROUP, CHANNEL):
            fake.add_chat(chat)
            fake.set_member_status(chat.id, ALICE.id, "administrator")
        fake.set_member_status(CHANNEL.id, fake.bot.id, "administrator")
        yield fake


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Storage]:
    """A Storage on a migrated SQLite file (the bot tests run on one backend unless they say)."""
    async with connected(sqlite_url) as storage:
        yield storage


def make_config(tg: FakeTelegram, database_url: str, **digest: Any) -> Config:
    """A config pointing at the fake server and the test database."""
    return Config(
        telegram=TelegramConfig(token=tg.token, base_url=tg.base_url, admins=(ALICE.id,)),
        database=DatabaseConfig(url=database_url),
        fetch=FetchConfig(allow_private_networks=True, timeout=5, connect_timeout=2, jitter=0),
        digest=DigestConfig(**digest),
    )


async def started(app: Any, task: asyncio.Task[None], timeout: float = 10.0) -> None:
    """Return once ``app`` (served by ``task``) runs; raise what ``task`` failed with."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (app.running or task.done()) and loop.time() < deadline:
        await asyncio.sleep(0.01)  # PTB signals no event for "running": its flag is polled
    if task.done():
        task.result()
    assert app.running, f"the bot did not start within {timeout} s"


@contextlib.asynccontextmanager
async def running(
    services: Services, *, intervals: Intervals = QUIET, rate_limit: bool = False
) -> AsyncIterator[Runtime]:
    """Serve the bot (long polling against the fake) for the duration of the block."""
    app = build_application(services, intervals=intervals, rate_limit=rate_limit)
    fake = FakeTelegram.serving(services.config.telegram.base_url or "")
    if fake is not None:
        fake.watch(app)  # so Chatter.ask knows when a command has been handled
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, poll_timeout=1))
    await started(app, task)
    try:
        yield runtime_of(app)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def addressed(chat: FakeChat, text: str) -> str:
    """In groups, commands carry the bot's name (``/story@newsbot_test_bot sudan``)."""
    if chat.type not in ("group", "supergroup"):
        return text
    head, _, rest = text.partition(" ")
    return f"{head}@{BOT_USERNAME}" + (f" {rest}" if rest else "")


def valid_text(messages: list[SentMessage]) -> str:
    """What the messages show, joined, once each is checked to be Telegram HTML in HTML mode
    and within Telegram's length limit."""
    for message in messages:
        assert message.parse_mode == "HTML"
        assert visible_length(check_html(message.text)) <= MESSAGE_LIMIT
    return "\n".join(m.visible_text for m in messages)


@dataclass
class Chatter:
    """Sends commands into a chat as a user (or as a channel post) and collects the replies."""

    tg: FakeTelegram

    async def ask(self, chat: FakeChat, text: str, user: FakeUser | None = ALICE) -> list[SentMessage]:
        """Send ``text``, await until the bot has handled it, and return every message the bot
        sent to the chat meanwhile (at least one: a command without a reply fails the test)."""
        before = len(self.tg.sent_messages(chat.id))
        if chat.type == "channel":
            update = self.tg.push_channel_post(chat, text)
        else:
            assert user is not None
            update = self.tg.push_message(chat, user, text)
        await self.tg.wait_handled(update["update_id"])
        return (await self.tg.wait_for_messages(before + 1, chat_id=chat.id, timeout=10))[before:]

    async def say(self, chat: FakeChat, text: str, user: FakeUser | None = ALICE) -> str:
        """The visible text of the bot's reply (all parts joined)."""
        return "\n".join(m.visible_text for m in await self.ask(chat, text, user))


async def seed_story_items(
    storage: Storage, story_id: int, titles: list[tuple[str, str]], dev_base: int
) -> None:
    """Store items (title, outlet) from a local feed URL and record them as new developments of
    ``story_id`` (the way the tracker's decisions are written)."""
    state = await storage.get_feed("http://127.0.0.1:9/seed.xml") or await storage.add_feed(
        "http://127.0.0.1:9/seed.xml"
    )
    assert state.id is not None
    items = [
        Item(
            guid=f"seed-{dev_base}-{n}",
            url=f"https://news.example/{dev_base}/{n}",
            title=title,
            summary="",
            published=datetime.now(UTC),
            outlet=outlet,
        )
        for n, (title, outlet) in enumerate(titles)
    ]
    stored = await storage.store_items(state.id, items, fetched_at=datetime.now(UTC))
    await storage.record_decisions(
        [
            Decision(key, "new", dev_base + n, stories=frozenset({story_id}))
            for n, (key, _) in enumerate(stored.new)
        ]
    )
