"""Known items skipped before the database (issue 14 item 1), and nothing lost for it.

Real parts: feeds from a real HTTP server on 127.0.0.1, the real Poller, a real SQLite file
and the real PostgreSQL server (``database_url``). What reaches the database is read from
the engine's own statement stream (every statement and its parameters), not from a mock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import event, select, text

from bot.config import FetchConfig
from bot.poller import Poller, fetch_policy, schedule_policy
from feeds.fetch import Fetcher
from storage.models import ItemRow
from storage.repository import FeedItems, Storage
from stories.model import Item
from tests.fakes.feed_server import FeedServer, Reply

Entry = tuple[str, str, str]  # guid, title, summary


def rss(entries: list[Entry]) -> bytes:
    items = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>https://wire.example/{escape(guid)}</link>"
        f"<pubDate>Mon, 02 Nov 2026 10:{n:02d}:00 GMT</pubDate>"
        f"<description>{escape(summary)}</description></item>"
        for n, (guid, title, summary) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://wire.example/</link>{items}</channel></rss>"
    ).encode()


def _poller(store: Storage) -> Poller:
    config = FetchConfig(allow_private_networks=True, jitter=0)
    return Poller(store, Fetcher(fetch_policy(config)), schedule_policy(config))


@contextmanager
def statements(store: Storage) -> Iterator[list[str]]:
    """Every statement the engine sends, with its parameters, as text."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(f"{statement} {parameters!r}")

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def titles(store: Storage) -> dict[str, str]:
    async with store.session() as session:
        rows = await session.execute(select(ItemRow.url, ItemRow.title))
        return {str(url).rsplit("/", 1)[1]: title for url, title in rows}


def window(gen: int) -> list[Entry]:
    """A rolling window of 10 entries: gen*2 .. gen*2+9; entry 'e5' is edited in gen 2."""
    out = []
    for k in range(gen * 2, gen * 2 + 10):
        title = f"Ceasefire talks, report number {k}"
        if k == 5 and gen >= 2:
            title += " (updated: talks collapse)"
        out.append((f"e{k}", title, f"Negotiators met again, report {k}."))
    return out


async def test_a_changed_feed_touches_the_database_only_for_new_and_edited_entries(
    server: FeedServer, store: Storage
) -> None:
    url = server.url("/wire.xml")
    await store.add_feed(url)
    server.script("/wire.xml", Reply(body=rss(window(0)), etag='"g0"'))
    async with _poller(store) as poller:
        first = await poller.poll_once(include_all=True)
        assert (first.new_items, first.updated_items) == (10, 0)

        # Two new entries (e10, e11), eight known and unchanged: only the new reach the database.
        server.script("/wire.xml", Reply(body=rss(window(1)), etag='"g1"'))
        with statements(store) as seen:
            second = await poller.poll_once(include_all=True)
        assert (second.new_items, second.updated_items) == (2, 0)
        sent = "\n".join(seen)
        assert "'e10'" in sent and "'e11'" in sent
        for known in range(2, 10):
            assert f"'e{known}'" not in sent, f"known entry e{known} was sent to the database"

        # Two more new (e12, e13) and e5 edited: e5 is updated, the new are stored.
        server.script("/wire.xml", Reply(body=rss(window(2)), etag='"g2"'))
        with statements(store) as seen:
            third = await poller.poll_once(include_all=True)
        assert (third.new_items, third.updated_items) == (2, 1)
        sent = "\n".join(seen)
        assert "'e5'" in sent and "'e4'" not in sent and "'e9'" not in sent

    stored = await titles(store)
    assert sorted(stored, key=lambda g: int(g[1:])) == [f"e{k}" for k in range(14)]
    assert stored["e5"] == "Ceasefire talks, report number 5 (updated: talks collapse)"
    assert stored["e9"] == "Ceasefire talks, report number 9"
    async with store.engine.connect() as conn:
        indexed = await conn.scalar(text("SELECT count(*) FROM item_search"))
        queued = await conn.scalar(text("SELECT count(*) FROM search_queue"))
    assert (indexed, queued) == (14, 0)  # search rows written with the items, none left queued


async def test_nothing_is_lost_or_doubled_across_a_restart(
    server: FeedServer, store: Storage, database_url: str
) -> None:
    url = server.url("/wire.xml")
    await store.add_feed(url)
    server.script("/wire.xml", Reply(body=rss(window(0)), etag='"g0"'))
    async with _poller(store) as poller:
        await poller.poll_once(include_all=True)
    await store.close()

    # A new process: its memory of the feed's window is empty, so it looks everything up.
    restarted = Storage.connect(database_url)
    try:
        server.script("/wire.xml", Reply(body=rss(window(2)), etag='"g2"'))
        async with _poller(restarted) as poller:
            after = await poller.poll_once(include_all=True)
            assert (after.new_items, after.updated_items) == (4, 1)
            # And the window it now remembers still recognises the feed's entries.
            server.script("/wire.xml", Reply(body=rss(window(2)), etag='"g2b"'))
            again = await poller.poll_once(include_all=True)
            assert (again.new_items, again.updated_items) == (0, 0)
        assert await restarted.item_count() == 14
        stored = await titles(restarted)
        assert stored["e5"].endswith("(updated: talks collapse)")
        assert len(stored) == 14
    finally:
        await restarted.close()


T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def item(guid: str, url: str, title: str) -> Item:
    return Item(guid=guid, url=url, title=title, summary="", published=T0, outlet="Wire")


async def test_one_batch_of_feeds_sharing_a_url_makes_one_item_with_two_sources(store: Storage) -> None:
    a = await store.add_feed("https://a.example/rss")
    b = await store.add_feed("https://b.example/rss")
    assert a.id and b.id
    shared = "https://news.example/khartoum"
    done = await store.store_batch(
        [
            FeedItems(
                a.id,
                [item("a1", shared, "Troops enter Khartoum"), item("a2", "https://a.example/2", "A")],
                T0,
            ),
            FeedItems(b.id, [item("b1", shared, "Troops enter Khartoum")], T0),
        ],
        index=True,
    )
    assert [len(r.new) for r in done.results] == [2, 0]
    assert done.results[1].new_sources == 1
    assert await store.item_count() == 2
    # Edited in one feed's next fetch, unchanged in the other's: one update, nothing new.
    again = await store.store_batch(
        [
            FeedItems(
                a.id,
                [item("a1", shared, "Troops take Khartoum airport"), item("a2", "https://a.example/2", "A")],
                T0,
            ),
            FeedItems(b.id, [item("b1", shared, "Troops take Khartoum airport")], T0),
        ]
    )
    assert [(len(r.new), len(r.updated), r.unchanged) for r in again.results] == [(0, 1, 1), (0, 0, 1)]
    assert await store.item_count() == 2


async def test_a_removed_feed_added_again_stores_its_items_again(store: Storage) -> None:
    feed = await store.add_feed("https://a.example/rss")
    assert feed.id
    entries = [item("a1", "https://a.example/1", "One"), item("a2", "https://a.example/2", "Two")]
    await store.store_items(feed.id, entries, fetched_at=T0)
    await store.remove_feed("https://a.example/rss")
    again = await store.add_feed("https://a.example/rss")
    assert again.id
    # The items survive (their URL is known), and the new feed row gets its sources back.
    stored = await store.store_items(again.id, entries, fetched_at=T0)
    assert stored.new_sources == 2 and stored.unchanged == 0
    feeds = {f.state.url: f.item_count for f in await store.list_feeds()}
    assert feeds == {"https://a.example/rss": 2}


async def test_a_batch_indexed_from_memory_is_found_as_a_rebuilt_index_finds_it(store: Storage) -> None:
    from storage.search import rebuild_index, search_items

    feed = await store.add_feed("https://a.example/rss")
    assert feed.id
    first = [
        item("a1", "https://a.example/1", "Troops enter Khartoum"),
        item("a2", "https://a.example/2", "Rally"),
    ]
    await store.store_batch([FeedItems(feed.id, first, T0)], index=True)
    edited = [item("a1", "https://a.example/1", "Troops take Khartoum airport"), first[1]]
    await store.store_batch([FeedItems(feed.id, edited, T0)], index=True)
    now = T0 + timedelta(hours=1)

    async def found(query: str) -> list[str]:
        return sorted(h.title for h in await search_items(store.engine, query, now=now))

    before = {q: await found(q) for q in ("airport", "enter", "Khartoum", "Rally")}
    assert before == {
        "airport": ["Troops take Khartoum airport"],
        "enter": [],
        "Khartoum": ["Troops take Khartoum airport"],
        "Rally": ["Rally"],
    }
    await rebuild_index(store.engine)
    assert {q: await found(q) for q in before} == before


async def test_a_batch_written_in_chunks_is_stored_as_in_one(store: Storage, monkeypatch: Any) -> None:
    """Rows go out _WRITE_CHUNK at a time (peak memory of a first cycle): with chunks of 3,
    ids, new/updated/unchanged counts, sources and the index come out as one chunk gives,
    with one insert of items and one of sources per chunk."""
    from storage import item_store
    from storage.search import rebuild_index, search_items

    monkeypatch.setattr(item_store, "_WRITE_CHUNK", 3)
    a, b, c = [await store.add_feed(f"https://{n}.example/rss") for n in "abc"]
    assert a.id and b.id and c.id
    await store.store_items(c.id, [item("c0", "https://news.example/old", "Old report")], fetched_at=T0)
    feed_a = [item(f"a{k}", f"https://news.example/{k}", f"Khartoum report {k}") for k in range(7)]
    # b0 and b1 share URLs with a2 and a5 (fresh in this batch, in different chunks), b5 an
    # item stored before; b2..b4 are new.
    feed_b = [
        item("b0", "https://news.example/2", "Khartoum report 2"),
        item("b1", "https://news.example/5", "Khartoum report 5"),
        *(item(f"b{k}", f"https://b.example/{k}", f"Port Sudan {k}") for k in range(2, 5)),
        item("b5", "https://news.example/old", "Old report"),
    ]
    with statements(store) as seen:
        done = await store.store_batch([FeedItems(a.id, feed_a, T0), FeedItems(b.id, feed_b, T0)], index=True)
    item_inserts = [s for s in seen if s.startswith("INSERT INTO items ")]
    source_inserts = [s for s in seen if s.startswith("INSERT INTO item_sources ")]
    assert (len(item_inserts), len(source_inserts)) == (4, 5)  # 10 new items, 13 sources
    got_a, got_b = done.results
    assert [(len(r.new), len(r.updated), r.new_sources, r.unchanged) for r in done.results] == [
        (7, 0, 0, 0),
        (3, 0, 3, 0),
    ]
    async with store.session() as session:
        by_url = {u: i for u, i in await session.execute(select(ItemRow.url, ItemRow.id))}
        sources = await session.scalar(text("SELECT count(*) FROM item_sources"))
    assert [(i, it.url) for i, it in got_a.new] == [(by_url[it.url], it.url) for it in feed_a]
    assert [(i, it.url) for i, it in got_b.new] == [(by_url[it.url], it.url) for it in feed_b[2:5]]
    assert len(by_url) == 11 and sources == 14
    # Edits in chunks too: four of a's entries edited, three unchanged.
    edited = [replace_title(it, it.title + " (updated)") if k < 4 else it for k, it in enumerate(feed_a)]
    again = await store.store_batch([FeedItems(a.id, edited, T0)], index=True)
    assert [(len(r.new), len(r.updated), r.unchanged) for r in again.results] == [(0, 4, 3)]
    assert [i for i, _ in again.results[0].updated] == [by_url[it.url] for it in feed_a[:4]]
    now = T0 + timedelta(hours=1)

    async def found(query: str) -> list[str]:
        return sorted(h.title for h in await search_items(store.engine, query, now=now))

    before = {q: await found(q) for q in ("Khartoum", "updated", "Port", "Old")}
    assert len(before["Khartoum"]) == 7 and len(before["updated"]) == 4 and len(before["Port"]) == 3
    await rebuild_index(store.engine)
    assert {q: await found(q) for q in before} == before


def replace_title(it: Item, title: str) -> Item:
    from dataclasses import replace

    return replace(it, title=title)


async def test_a_cycle_stores_at_most_store_items_items_a_batch(
    server: FeedServer, store: Storage, monkeypatch: Any
) -> None:
    """A first cycle's items are stored in batches of about Poller.STORE_ITEMS (peak memory),
    and every item is stored once."""
    for n in range(4):
        url = server.url(f"/f{n}.xml")
        await store.add_feed(url)
        entries = [(f"f{n}e{k}", f"Report {k} of feed {n}", f"Text {k}.") for k in range(10)]
        server.script(f"/f{n}.xml", Reply(body=rss(entries), etag=f'"f{n}"'))
    sizes: list[int] = []
    real = store.store_batch

    async def counted(batch: Any, **kwargs: Any) -> Any:
        sizes.append(sum(len(b.items) for b in batch))
        return await real(batch, **kwargs)

    monkeypatch.setattr(store, "store_batch", counted)
    async with _poller(store) as poller:
        monkeypatch.setattr(poller, "STORE_ITEMS", 20)
        done = await poller.poll_once(include_all=True)
    assert done.new_items == 40 and await store.item_count() == 40
    assert len(sizes) >= 2 and max(sizes) <= 20


async def test_the_items_bound_counts_only_new_or_edited_items(
    server: FeedServer, store: Storage, monkeypatch: Any
) -> None:
    """Known unchanged entries are dropped as each fetch arrives (Storage.screen_known): a
    changed cycle's batches hold only its new entries, so the items bound does not cut it
    into many small flushes; what is stored and counted is the same."""
    for n in range(4):
        await store.add_feed(server.url(f"/f{n}.xml"))
    batches: list[list[int]] = []
    real = store.store_batch

    async def counted(batch: Any, **kwargs: Any) -> Any:
        batches.append([len(b.items) for b in batch])
        return await real(batch, **kwargs)

    monkeypatch.setattr(store, "store_batch", counted)
    async with _poller(store) as poller:
        monkeypatch.setattr(poller, "STORE_ITEMS", 20)
        for gen in (0, 1):
            for n in range(4):
                entries = [(f"f{n}{guid}", title, text) for guid, title, text in window(gen)]
                server.script(f"/f{n}.xml", Reply(body=rss(entries), etag=f'"f{n}g{gen}"'))
            batches.clear()
            done = await poller.poll_once(include_all=True)
            if gen == 0:
                assert done.new_items == 40 and len(batches) >= 2
    # The changed cycle: 2 new entries per feed, 8 in all, below the bound: one batch of them.
    assert (done.new_items, done.updated_items) == (8, 0)
    assert batches == [[2, 2, 2, 2]]
    assert await store.item_count() == 48
