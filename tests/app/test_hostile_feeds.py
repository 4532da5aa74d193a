"""Hostile feed bodies through the whole poll cycle (issue 13): a windows-1251 feed served as
``charset=utf-8`` (item 5) and a malformed, truncated RSS document (item 6).

Real parts: a real HTTP server on 127.0.0.1, the real Poller, a real SQLite file and the real
PostgreSQL server, full-text search; ``/feeds`` through the real python-telegram-bot against the
fake Bot API server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import FetchConfig
from bot.poller import Poller, fetch_policy, schedule_policy
from bot.services import Services
from feeds.fetch import Fetcher
from storage.repository import Storage
from storage.search import search_items
from tests.bot.conftest import PRIVATE, Chatter, make_config, running
from tests.bot.conftest import tg as tg  # the fake Bot API fixture
from tests.fakes.feed_server import FeedServer, Reply
from tests.fakes.telegram_api import FakeTelegram

RUSSIAN = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Новости дня</title><link>https://news.example.ru/</link>
<item><guid>r1</guid><title>Мадуро заявил о победе на выборах</title><link>https://news.example.ru/1</link>
<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>
<description>Президент Венесуэлы Николас Мадуро выступил в Каракасе.</description></item>
</channel></rss>"""
# As reported: cut off inside the channel, a bare "&", an unclosed <b> and <title>.
TRUNCATED = b"<rss><channel><title>x</title><item><title>Maduro & <b>broken</item></chan"
HOPELESS = b"<rss><channel><title>x & y</title><item><title>Half an ite"


def _poller(store: Storage) -> Poller:
    config = FetchConfig(allow_private_networks=True, jitter=0, timeout=5)
    return Poller(store, Fetcher(fetch_policy(config)), schedule_policy(config))


async def test_windows1251_served_as_utf8_is_stored_and_found_in_cyrillic(
    server: FeedServer, store: Storage
) -> None:
    server.script(
        "/ru.xml", Reply(body=RUSSIAN.encode("cp1251"), content_type="application/rss+xml; charset=utf-8")
    )
    await store.add_feed(server.url("/ru.xml"))
    async with _poller(store) as poller:
        summary = await poller.poll_once(include_all=True)
    assert (summary.new_items, summary.errors) == (1, 0)
    state = await store.get_feed(server.url("/ru.xml"))
    assert state is not None and state.title == "Новости дня"
    hits = await search_items(store.engine, "Мадуро", now=datetime(2026, 12, 1, tzinfo=UTC))
    assert [hit.title for hit in hits] == ["Мадуро заявил о победе на выборах"]


async def test_a_truncated_feed_keeps_its_item_and_a_hopeless_one_is_an_error(
    server: FeedServer, store: Storage
) -> None:
    server.script("/truncated.xml", Reply(body=TRUNCATED))
    server.script("/hopeless.xml", Reply(body=HOPELESS))
    await store.add_feed(server.url("/truncated.xml"))
    await store.add_feed(server.url("/hopeless.xml"))
    async with _poller(store) as poller:
        summary = await poller.poll_once(include_all=True)
    reports = {r.url: r for r in summary.reports}

    recovered = reports[server.url("/truncated.xml")]
    assert (recovered.kind, recovered.new_items, recovered.error) == ("ok", 1, None)
    hits = await search_items(store.engine, "Maduro", now=datetime.now(UTC))
    assert [hit.title for hit in hits] == ["Maduro & broken"]

    hopeless = reports[server.url("/hopeless.xml")]
    assert hopeless.kind == "error" and hopeless.new_items == 0
    assert hopeless.error is not None and "malformed feed, no item could be recovered" in hopeless.error
    assert summary.errors == 1  # counted
    state = await store.get_feed(server.url("/hopeless.xml"))
    assert state is not None and state.consecutive_errors == 1
    assert state.last_error is not None and state.last_error.startswith("parse error: malformed feed")
    assert state.content_hash is None  # the same broken body is not taken as "unchanged" next time


async def test_feeds_command_shows_the_parse_error(
    tg: FakeTelegram, server: FeedServer, sqlite_url: str
) -> None:
    server.script("/hopeless.xml", Reply(body=HOPELESS))
    store = Storage.connect(sqlite_url)
    try:
        await store.add_feed(server.url("/hopeless.xml"))
        async with _poller(store) as poller:
            await poller.poll_once(include_all=True)
        async with running(Services(make_config(tg, sqlite_url), store)):
            reply = await Chatter(tg).say(PRIVATE, "/feeds")
    finally:
        await store.close()
    assert "1 error, last: parse error: malformed feed" in reply
