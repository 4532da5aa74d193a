"""Repository behaviour on real databases (SQLite file, and PostgreSQL when configured)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.repository import AlreadyExists, NotFound, Storage
from stories.model import Decision, Item

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def item(guid: str, title: str, url: str | None = None, outlet: str = "Reuters", summary: str = "") -> Item:
    return Item(guid=guid, url=url, title=title, summary=summary, published=T0, outlet=outlet)


async def test_feed_lifecycle(storage: Storage) -> None:
    state = await storage.add_feed("https://example.org/rss", title="Example")
    assert state.id is not None and state.next_fetch_at is not None
    with pytest.raises(AlreadyExists):
        await storage.add_feed("https://example.org/rss")
    due = await storage.due_feeds(datetime.now(UTC) + timedelta(seconds=1))
    assert [f.url for f in due] == ["https://example.org/rss"]

    later = T0 + timedelta(hours=1)
    saved = await storage.save_feed_state(
        replace(
            state,
            url="https://example.org/feed",
            etag='"abc"',
            next_fetch_at=later,
            consecutive_errors=2,
            last_error="HTTP 500",
        )
    )
    assert saved.url == "https://example.org/feed" and saved.etag == '"abc"'
    reread = await storage.get_feed(state.id)
    assert reread is not None and reread.next_fetch_at == later and reread.next_fetch_at.tzinfo is not None
    assert await storage.due_feeds(T0) == []

    disabled = await storage.set_feed_enabled("https://example.org/feed", False, reason="410 Gone")
    assert disabled.disabled and disabled.disabled_reason == "410 Gone"
    assert await storage.due_feeds(T0, include_all=True) == []
    enabled = await storage.set_feed_enabled("https://example.org/feed", True)
    assert not enabled.disabled and enabled.consecutive_errors == 0

    await storage.remove_feed("https://example.org/feed")
    assert await storage.list_feeds() == []
    with pytest.raises(NotFound):
        await storage.remove_feed("https://example.org/feed")


async def test_feed_states_saved_in_a_batch_keep_urls_unique(storage: Storage) -> None:
    """A redirect onto another feed's URL disables the moving feed (keeping its URL); a
    URL freed earlier in the same batch can be taken; titles fall back to the stored."""
    a = await storage.add_feed("https://a.example/rss", title="A")
    b = await storage.add_feed("https://b.example/rss", title="B")
    c = await storage.add_feed("https://c.example/rss", title="C")
    saved = await storage.save_feed_states(
        [
            replace(a, url="https://b.example/rss", title=None),  # B still has it: refused
            replace(b, url="https://b2.example/rss", etag='"b"'),  # B moves away...
            replace(c, url="https://b.example/rss"),  # ...so C may take B's old URL
        ]
    )
    assert [(s.url, s.disabled, s.title) for s in saved] == [
        ("https://a.example/rss", True, "A"),
        ("https://b2.example/rss", False, "B"),
        ("https://b.example/rss", False, "C"),
    ]
    assert saved[0].disabled_reason == "moved to https://b.example/rss, which is already subscribed"
    for state in saved:
        assert state.id is not None
        assert await storage.get_feed(state.id) == state
    with pytest.raises(NotFound):
        await storage.save_feed_states([replace(a, id=10_000)])


async def test_items_stored_once_with_sources_and_updates(storage: Storage) -> None:
    a = await storage.add_feed("https://a.example/rss")
    b = await storage.add_feed("https://b.example/rss")
    assert a.id and b.id
    first = await storage.store_items(
        a.id,
        [item("1", "Troops enter Khartoum", "https://news.example/k"), item("2", "Other")],
        fetched_at=T0,
    )
    assert len(first.new) == 2
    again = await storage.store_items(
        a.id, [item("1", "Troops enter Khartoum", "https://news.example/k")], fetched_at=T0
    )
    assert again.new == () and again.unchanged == 1
    # Same canonical URL from another feed: one item, two sources.
    other = await storage.store_items(
        b.id, [item("x9", "Troops enter Khartoum", "https://news.example/k", outlet="AP")], fetched_at=T0
    )
    assert other.new == () and other.new_sources == 1
    assert await storage.item_count() == 2
    # A changed title for a known id is an update, not a new item.
    changed = await storage.store_items(
        a.id, [item("1", "Troops enter Khartoum airport", "https://news.example/k")], fetched_at=T0
    )
    assert changed.new == () and [i.title for _, i in changed.updated] == ["Troops enter Khartoum airport"]
    feeds = {f.state.url: f.item_count for f in await storage.list_feeds()}
    assert feeds == {"https://a.example/rss": 2, "https://b.example/rss": 1}


async def test_decisions_build_developments_and_membership(storage: Storage) -> None:
    feed = await storage.add_feed("https://a.example/rss")
    story = await storage.add_story("sudan", "Sudan OR Khartoum", user_id=7, user_name="ana")
    assert feed.id and story.id
    stored = await storage.store_items(
        feed.id,
        [
            item("1", "RSF shells Khartoum", outlet="Reuters"),
            item("2", "RSF shells Khartoum, 12 dead", outlet="AP"),
        ],
        fetched_at=T0,
    )
    (k1, _), (k2, _) = stored.new
    assert await storage.untracked_items() == list(stored.new)
    await storage.record_decisions(
        [
            Decision(key=k1, kind="new", development_id=1, stories=frozenset({story.id})),
            Decision(
                key=k2, kind="update", development_id=1, stories=frozenset({story.id}), new_facts=("12",)
            ),
        ]
    )
    assert await storage.untracked_items() == []
    items = await storage.story_items(story.id)
    assert [(s.id, s.kind, s.development_id) for s in items] == [(k2, "update", 1), (k1, "new", 1)]


async def test_story_crud_is_audited_and_scoped(storage: Storage) -> None:
    await storage.add_story("Wagner", '"Wagner Group"', user_id=1, user_name="admin")
    await storage.add_story("wagner", "Prigozhin", scope=-100123, user_id=2, user_name="chatadmin")
    with pytest.raises(AlreadyExists):
        await storage.add_story("WAGNER", "x")
    mine = await storage.get_story("wagner", chat_id=-100123)
    assert mine is not None and mine.owner_chat_id == -100123 and mine.query == "Prigozhin"
    global_ = await storage.get_story("wagner")
    assert global_ is not None and global_.owner_chat_id is None
    await storage.edit_story("wagner", '"Wagner Group" OR Prigozhin', user_id=1, user_name="admin")
    await storage.remove_story("Wagner", user_id=1, user_name="admin")
    history = await storage.story_audit("wagner")
    assert [(h.action, h.old_query, h.new_query) for h in history] == [
        ("add", None, '"Wagner Group"'),
        ("edit", '"Wagner Group"', '"Wagner Group" OR Prigozhin'),
        ("remove", '"Wagner Group" OR Prigozhin', None),
    ]
    assert [s.name for s in await storage.list_stories(chat_id=-100123)] == ["wagner"]


async def test_seed_only_fills_empty_tables(storage: Storage) -> None:
    assert await storage.seed([("https://a.example/rss", "A")], [("sudan", "Sudan")]) == (1, 1)
    assert await storage.seed([("https://b.example/rss", "B")], [("wagner", "Wagner")]) == (0, 0)


async def test_tracker_state_roundtrip(storage: Storage) -> None:
    assert await storage.load_tracker_state("main") is None
    await storage.save_tracker_state("main", '{"v": 1}', 10)
    await storage.save_tracker_state("main", '{"v": 2}', 12)
    assert await storage.load_tracker_state("main") == ('{"v": 2}', 12)


async def test_concurrent_feeds_storing_the_same_url_make_one_item(storage: Storage) -> None:
    import asyncio

    feeds = [await storage.add_feed(f"https://f{n}.example/rss") for n in range(6)]
    results = await asyncio.gather(
        *(
            storage.store_items(f.id or 0, [item(f"g{n}", "Same story", "https://news.example/same")], fetched_at=T0)
            for n, f in enumerate(feeds)
        )
    )
    assert sum(len(r.new) for r in results) == 1
    assert sum(r.new_sources for r in results) == 5
    assert await storage.item_count() == 1


async def test_a_store_that_finds_sqlite_locked_is_done_again(storage: Storage, database_url: str) -> None:
    """Another connection holds SQLite's write lock past the busy timeout when the batch
    first writes: the batch fails with "database is locked", the lock goes, and the batch is
    stored on its next attempt."""
    import sqlite3

    from sqlalchemy import event

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock: PostgreSQL locks rows, not the database")
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id
    path = storage.engine.url.database
    assert path
    writer = sqlite3.connect(path, isolation_level=None)
    held: list[str] = []
    failures: list[str] = []

    def hold_lock(conn: Any, cursor: Any, statement: str, *args: object) -> None:
        if not held and statement.lstrip().upper().startswith("INSERT"):
            held.append(statement)
            cursor.execute("PRAGMA busy_timeout=50")  # this connection gives up after 50 ms
            writer.execute("BEGIN IMMEDIATE")

    def release(context: Any) -> None:
        failures.append(str(context.original_exception))
        if writer.in_transaction:
            writer.execute("ROLLBACK")

    engine = storage.engine.sync_engine
    event.listen(engine, "before_cursor_execute", hold_lock)
    event.listen(engine, "handle_error", release)
    try:
        stored = await storage.store_items(
            feed.id, [item("g1", "Story", "https://news.example/1")], fetched_at=T0
        )
    finally:
        event.remove(engine, "before_cursor_execute", hold_lock)
        event.remove(engine, "handle_error", release)
        writer.close()
    assert held and failures and "database is locked" in failures[0]
    assert len(stored.new) == 1 and await storage.item_count() == 1


async def test_one_feed_repeating_a_url_under_two_guids_makes_one_item(storage: Storage) -> None:
    feed = await storage.add_feed("https://a.example/rss")
    assert feed.id
    stored = await storage.store_items(
        feed.id,
        [item("g1", "Story", "https://news.example/x"), item("g2", "Story again", "https://news.example/x")],
        fetched_at=T0,
    )
    assert len(stored.new) == 1 and stored.new_sources == 1
    # g2 is a known entry of this feed now; its title differs from the stored item's: an update.
    again = await storage.store_items(feed.id, [item("g2", "Story again", "https://news.example/x")], fetched_at=T0)
    assert again.new == () and [i.title for _, i in again.updated] == ["Story again"]
    assert await storage.item_count() == 1
