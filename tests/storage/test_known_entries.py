"""Entries the parser recognised by their fingerprint: counted known, never lost or doubled.

The real parser reads each fetch with what the storage remembers of the feed
(``Storage.known_fingerprints``), on real databases; what is stored is read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from sqlalchemy import select

from feeds.parse import ParsedFeed, parse_feed
from storage.known_items import KnownItems, first_entries
from storage.models import ItemRow
from storage.repository import FeedItems, Storage, StoreResult
from stories.model import Item

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
URL = "https://wire.example/rss"


def rss(entries: list[tuple[int, str, str]]) -> bytes:
    """Entries as (number, title, pubDate minute): RSS 2.0 with guids wire-N."""
    items = "".join(
        f"<item><guid>wire-{k}</guid><title>{escape(title)}</title>"
        f"<link>https://wire.example/{k}</link><pubDate>Mon, 02 Nov 2026 10:{minute}:00 GMT</pubDate>"
        f"<description>Report {k}.</description></item>"
        for k, title, minute in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example/</link>{items}</channel></rss>"
    ).encode()


def window(first: int, *, edited: dict[int, str] | None = None, minute: str = "00") -> bytes:
    edited = edited or {}
    return rss([(k, edited.get(k, f"Talks, report {k}"), minute) for k in range(first + 9, first - 1, -1)])


async def fetch(storage: Storage, feed_id: int, body: bytes) -> tuple[ParsedFeed, StoreResult]:
    """What the poller does with one fetch: read it with the known fingerprints, screen, store."""
    feed = parse_feed(body, url=URL, fetched_at=T0, known=storage.known_fingerprints(feed_id))
    prints: dict[str, int] = {}
    for item, fingerprint in zip(feed.items, feed.fingerprints, strict=True):
        prints.setdefault(item.guid, fingerprint)
    screened = storage.screen_known(FeedItems(feed_id, feed.items, T0, (), prints, feed.known_entries))
    (result,) = (await storage.store_batch([screened], index=True)).results
    return feed, result


async def titles(storage: Storage) -> dict[str, str]:
    async with storage.session() as session:
        rows = await session.execute(select(ItemRow.url, ItemRow.title))
        return {str(url).rsplit("/", 1)[1]: title for url, title in rows}


async def test_known_entries_are_not_read_and_nothing_is_lost(storage: Storage) -> None:
    feed = await storage.add_feed(URL)
    assert feed.id
    parsed, stored = await fetch(storage, feed.id, window(0))
    assert (len(parsed.items), len(stored.new)) == (10, 10)

    # Two new entries: only they are read; the eight others are known by fingerprint.
    parsed, stored = await fetch(storage, feed.id, window(2))
    assert [i.guid for i in parsed.items] == ["wire-11", "wire-10"] and len(parsed.known_entries) == 8
    assert (len(stored.new), len(stored.updated), stored.unchanged) == (2, 0, 8)

    # An edited entry is read again and updated; the rest stay known.
    parsed, stored = await fetch(storage, feed.id, window(2, edited={5: "Talks collapse"}))
    assert [i.guid for i in parsed.items] == ["wire-5"]
    assert (len(stored.new), len(stored.updated), stored.unchanged) == (0, 1, 9)

    # Every date moved: all read again, all unchanged by title and summary, none written...
    parsed, stored = await fetch(storage, feed.id, window(2, edited={5: "Talks collapse"}, minute="30"))
    assert len(parsed.items) == 10 and (len(stored.new), len(stored.updated), stored.unchanged) == (0, 0, 10)
    # ... and their new fingerprints are remembered: the same body again reads nothing.
    parsed, stored = await fetch(storage, feed.id, window(2, edited={5: "Talks collapse"}, minute="30"))
    assert parsed.items == [] and stored.unchanged == 10

    assert await storage.item_count() == 12
    stored_titles = await titles(storage)
    assert stored_titles["5"] == "Talks collapse" and stored_titles["11"] == "Talks, report 11"


async def test_a_batch_with_known_entries_stores_the_rest_once(storage: Storage) -> None:
    """store_batch takes the parser's known entries unscreened too (as screen_known would)."""
    feed = await storage.add_feed(URL)
    assert feed.id
    await fetch(storage, feed.id, window(0))
    parsed = parse_feed(window(1), url=URL, fetched_at=T0, known=storage.known_fingerprints(feed.id))
    prints = dict(zip((i.guid for i in parsed.items), parsed.fingerprints, strict=True))
    done = await storage.store_batch([FeedItems(feed.id, parsed.items, T0, (), prints, parsed.known_entries)])
    (result,) = done.results
    assert (len(result.new), result.unchanged) == (1, 9)
    assert await storage.item_count() == 11
    # Remembered: the same body again is all known.
    assert (
        len(parse_feed(window(1), url=URL, fetched_at=T0, known=storage.known_fingerprints(feed.id)).items)
        == 0
    )


def item(guid: str, title: str) -> Item:
    return Item(
        guid=guid, url=f"https://wire.example/{guid}", title=title, summary="", published=T0, outlet="W"
    )


def test_the_first_entry_of_a_guid_wins_whether_read_or_known() -> None:
    a, b, a_again = item("a", "A"), item("b", "B"), item("a", "A, edited")
    # Known "a" came before the read entry with the same guid: "a" is known, the later one dropped.
    unique, recognised = first_entries([b, a_again], [(1, "a")])
    assert unique == {"b": b} and recognised == ("a",)
    # The read "a" came first: it wins, the known one after it is dropped.
    unique, recognised = first_entries([a, b], [(1, "a"), (2, "c")])
    assert unique == {"a": a, "b": b} and recognised == ("c",)
    # No known entries: the first item of each guid, in order.
    assert first_entries([a, b, a_again]) == ({"a": a, "b": b}, ())


def test_fingerprints_follow_the_window_and_its_bound() -> None:
    known = KnownItems(feeds=2)
    one, two = item("one", "1"), item("two", "2")
    known.remember(1, {"one": one, "two": two}, {"one": 10, "two": 20}, prints={"one": 111, "two": 222})
    assert dict(known.fingerprints(1)) == {111: "one", 222: "two"}
    before = known.fingerprints(1)
    # The next fetch brought "one" unchanged (known), "two" is gone, "three" is new.
    three = item("three", "3")
    known.remember(1, {"three": three}, {"three": 30}, kept=["one"], prints={"three": 333})
    assert dict(known.fingerprints(1)) == {111: "one", 333: "three"}
    assert dict(before) == {111: "one", 222: "two"}  # not changed in place: a parser may hold it
    # Two entries of one fetch on one row are always looked up: no fingerprint for either.
    shared = item("shared", "S")
    known.remember(2, {"x": shared, "y": shared}, {"x": 40, "y": 40}, prints={"x": 444, "y": 555})
    assert dict(known.fingerprints(2)) == {}
    known.remember(3, {"one": one}, {"one": 50}, prints={"one": 666})
    assert dict(known.fingerprints(1)) == {}  # the oldest feed went, with its fingerprints
    assert dict(known.fingerprints(3)) == {666: "one"}
    known.forget([3])
    assert dict(known.fingerprints(3)) == {}
