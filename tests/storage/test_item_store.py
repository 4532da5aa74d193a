"""Storing items: on SQLite the hot statements go to the driver with tuples; the rows they
write are exactly those SQLAlchemy writes, and read back as the same values, on both
databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select, text

from storage.models import ItemRow, ItemSourceRow
from storage.repository import FeedItems, Storage
from stories.model import Item

# Not UTC, with microseconds: both must survive as SQLAlchemy's own binding keeps them.
PUBLISHED = datetime(2026, 11, 2, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=3)))
FETCHED = datetime(2026, 11, 2, 10, 0, 0, 654321, tzinfo=UTC)


def item(k: int, **fields: object) -> Item:
    values: dict[str, object] = {
        "guid": f"g{k}",
        "url": f"https://wire.example/{k}",
        "title": f"Talks, report {k}",
        "summary": "Negotiators met.",
        "published": PUBLISHED,
        "outlet": "Wire",
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


async def test_stored_rows_are_what_sqlalchemy_writes_and_read_back_equal(storage: Storage) -> None:
    feed = await storage.add_feed("https://wire.example/rss")
    assert feed.id
    full = item(1, author="Staff", language="en", source_name="Reuters", source_url="https://r.example/1")
    bare = item(2, url=None, summary="")
    done = await storage.store_batch([FeedItems(feed.id, [full, bare], FETCHED)], index=True)
    ((first_id, _), (second_id, _)) = done.results[0].new
    columns = ItemRow.__table__.c
    async with storage.session() as session, session.begin():
        # The same values once more, through SQLAlchemy's own insert, for comparison.
        reference = {
            "url": "https://wire.example/reference",
            "title": full.title,
            "summary": full.summary,
            "outlet": full.outlet,
            "author": full.author,
            "language": full.language,
            "source_name": full.source_name,
            "source_url": full.source_url,
            "published": PUBLISHED,
            "first_seen": FETCHED,
            "kind": None,
            "tracked": False,
        }
        ref_id = (
            await session.execute(insert(ItemRow.__table__).returning(columns.id), [reference])
        ).scalar_one()
        raw = {
            row[0]: row[1:]
            for row in await session.execute(
                text(
                    "SELECT id, published, first_seen, tracked, kind, author, language, source_name,"
                    " source_url FROM items"
                )
            )
        }
        assert raw[first_id] == raw[ref_id]
        rows = {row.id: row for row in await session.scalars(select(ItemRow))}
        sources = list(await session.scalars(select(ItemSourceRow).order_by(ItemSourceRow.id)))
    one, two = rows[first_id], rows[second_id]
    assert (one.published, one.first_seen) == (PUBLISHED.astimezone(UTC), FETCHED)
    assert (one.author, one.language, one.source_name, one.source_url) == (
        "Staff",
        "en",
        "Reuters",
        "https://r.example/1",
    )
    assert (one.tracked, one.kind, two.url, two.summary, two.author) == (False, None, None, "", None)
    assert [(s.item_id, s.feed_id, s.guid, s.outlet, s.seen_at) for s in sources] == [
        (first_id, feed.id, "g1", "Wire", FETCHED),
        (second_id, feed.id, "g2", "Wire", FETCHED),
    ]
    assert [i.guid for _, i in (await storage.untracked_items())] == [
        "https://wire.example/1",
        str(second_id),
        "https://wire.example/reference",
    ]


async def test_entries_and_urls_are_looked_up_across_chunks(storage: Storage, monkeypatch: object) -> None:
    """Lookups go out _LOOKUP_CHUNK entries (and URLs) at a time: with chunks of 2, a known
    entry, an edited one and a URL another feed brought are each found."""
    from storage import item_store

    monkeypatch.setattr(item_store, "_LOOKUP_CHUNK", 2)  # type: ignore[attr-defined]
    a = await storage.add_feed("https://a.example/rss")
    b = await storage.add_feed("https://b.example/rss")
    assert a.id and b.id
    first = [item(k) for k in range(5)]
    await storage.store_batch([FeedItems(a.id, first, FETCHED)])
    storage._known.forget()  # looked up in the database, not remembered
    again = [*first[:3], item(3, title="Edited"), first[4], item(5)]
    shared = [item(7, url="https://wire.example/4", guid="b4"), item(8, guid="b8")]
    done = await storage.store_batch([FeedItems(a.id, again, FETCHED), FeedItems(b.id, shared, FETCHED)])
    got = [(len(r.new), len(r.updated), r.new_sources, r.unchanged) for r in done.results]
    assert got == [(1, 1, 0, 4), (1, 0, 1, 0)]
    assert await storage.item_count() == 7
