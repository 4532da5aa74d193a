"""Items: storing what feeds bring (deduplicated by URL across feeds) and what is known of
each feed's entries. What the tracker reads and writes of them is ``tracker_store``'s."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from stories.model import Item

from . import driver
from .connection import StorageError
from .known_items import first_entries
from .models import ItemRow, ItemSourceRow
from .search import index_items, index_pending
from .tracker_store import ItemVerdict, TrackerInput, TrackerStore
from .tracker_store import _item as _item  # story_store's row -> Item

__all__ = ["FeedItems", "ItemStore", "ItemVerdict", "StoreResult", "StoredBatch", "TrackerInput"]


# Entries or URLs per lookup statement (SQLite allows 32,766 parameters, psycopg 65,535).
_LOOKUP_CHUNK = 2_000
# Rows per write (edits, new items, sources, index rows): a first cycle's batch of some
# 30,000 items is sent in chunks, so its parameter rows are never all built at once.
_WRITE_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one feed's items changed: new items, changed items, new sources."""

    new: tuple[tuple[int, Item], ...] = ()
    updated: tuple[tuple[int, Item], ...] = ()
    new_sources: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class FeedItems:
    """One feed's fetched items, as :meth:`Storage.store_batch` takes them.

    ``known`` names the fetch's entries already split off by :meth:`ItemStore.screen_known`
    (stored from this feed last time, same title and summary): not in ``items``, counted
    unchanged, and remembered for the next fetch.

    From the parser (see :mod:`storage.known_items`): ``fingerprints`` maps guids of
    ``items`` (or of ``known`` entries) to the fingerprint of the first entry with it;
    ``known_entries`` are the entries it recognised by :meth:`ItemStore.known_fingerprints`
    and did not read, as (index in ``items`` they came before, guid)."""

    feed_id: int
    items: Sequence[Item]
    fetched_at: datetime
    known: tuple[str, ...] = ()
    fingerprints: Mapping[str, int] = field(default_factory=dict)
    known_entries: Sequence[tuple[int, str]] = ()


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What :meth:`Storage.store_batch` did: one result per feed, in order, and the
    seconds spent writing search-index rows (the poll benchmark's "index" stage)."""

    results: tuple[StoreResult, ...]
    index_seconds: float = 0.0


_Items = dict[str, Item]

# On SQLite the hot statements go to the driver as they are (storage.driver).
_SQLITE_ENTRIES = (
    "SELECT s.feed_id, s.guid, i.id, i.title, i.summary FROM item_sources AS s"
    " JOIN items AS i ON i.id = s.item_id WHERE (s.feed_id, s.guid) IN (VALUES {})"
)
_SQLITE_URLS = "SELECT url, id FROM items WHERE url IN ({})"
_SQLITE_ITEM = (
    "INSERT INTO items (url, title, summary, outlet, author, language, source_name, source_url,"
    " published, first_seen, kind, tracked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)"
)
_SQLITE_SOURCE = "INSERT INTO item_sources (item_id, feed_id, guid, outlet, seen_at) VALUES (?, ?, ?, ?, ?)"


def _entries(entry: FeedItems) -> tuple[dict[str, Item], tuple[str, ...], dict[str, int]]:
    """:func:`first_entries` of one fetch, and the fingerprints of what it keeps (items,
    and entries already split off as ``known``)."""
    unique, recognised = first_entries(entry.items, entry.known_entries)
    if not entry.fingerprints:
        return unique, recognised, {}
    known = set(entry.known)
    return unique, recognised, {g: f for g, f in entry.fingerprints.items() if g in unique or g in known}


class ItemStore(TrackerStore):
    """The items part of :class:`storage.repository.Storage` (with the tracker's)."""

    async def store_items(self, feed_id: int, items: Sequence[Item], *, fetched_at: datetime) -> StoreResult:
        """Store one feed's items once.

        The same entry seen again in the same feed is not stored again (a changed
        title or summary updates it and is reported as updated); the same canonical
        URL from another feed becomes a second source of the existing item.
        """
        return (await self.store_batch([FeedItems(feed_id, items, fetched_at)])).results[0]

    def known_fingerprints(self, feed_id: int) -> Mapping[int, str]:
        """Fingerprint -> guid of the feed's entries that this process stored last time
        (for the parser, which then skips them: :mod:`storage.known_items`)."""
        return self._known.fingerprints(feed_id)

    def screen_known(self, entry: FeedItems) -> FeedItems:
        """``entry`` without the entries this process stored from the same feed last time
        with the same title and summary (:mod:`storage.known_items`), their guids moved to
        ``known`` (with those the parser recognised). In memory, no query: the poller
        screens each fetch as it arrives, so a batch waiting to be stored holds only what
        is new or edited."""
        unique, recognised, prints = _entries(entry)
        unchanged, rest = self._known.split(entry.feed_id, unique)
        if not unchanged and not recognised:
            return entry
        return FeedItems(
            entry.feed_id,
            list(rest.values()),
            entry.fetched_at,
            (*entry.known, *recognised, *unchanged),
            prints,
        )

    async def store_batch(self, batch: Sequence[FeedItems], *, index: bool = False) -> StoredBatch:
        """Store several feeds' items in one transaction, as :meth:`store_items` each.

        Entries this process stored from the same feed last time, with the same title
        and summary, are counted unchanged without a query (:mod:`storage.known_items`);
        the rest are looked up, inserted or updated. With ``index``, the search index
        rows of everything new or changed are written in the same transaction.
        """
        # Per feed: entry, unique items, unchanged and rest, guids known, fingerprints.
        prepared: list[tuple[FeedItems, _Items, dict[str, int], _Items, tuple[str, ...], dict[str, int]]] = []
        for entry in batch:
            unique, recognised, prints = _entries(entry)
            unchanged, rest = self._known.split(entry.feed_id, unique)
            prepared.append((entry, unique, unchanged, rest, (*entry.known, *recognised), prints))
        stored: list[tuple[StoreResult, dict[str, int]]] = [(StoreResult(), {})] * len(prepared)
        index_seconds = 0.0
        if any(rest for _, _, _, rest, _, _ in prepared):
            for attempt in range(4):
                try:
                    async with self._sessions.begin() as session:
                        stored = await self._store_many(
                            session, [(e.feed_id, rest, e.fetched_at) for e, _, _, rest, _, _ in prepared]
                        )
                        if index:
                            began = time.perf_counter()
                            fresh_items = [pair for r, _ in stored for pair in r.new]
                            for start in range(0, len(fresh_items), _WRITE_CHUNK):
                                await index_items(
                                    session,
                                    [
                                        (i, it.title, it.summary, it.published)
                                        for i, it in fresh_items[start : start + _WRITE_CHUNK]
                                    ],
                                    new=True,
                                )
                            # Edits in one statement set: an item edited by two feeds of the
                            # batch is indexed once, as its last edit says.
                            await index_items(
                                session,
                                [
                                    (i, it.title, it.summary, it.published)
                                    for r, _ in stored
                                    for i, it in r.updated
                                ],
                            )
                            await index_pending(session)
                            index_seconds = time.perf_counter() - began
                    break
                except IntegrityError:
                    # Another process stored the same canonical URL (or this feed's entry)
                    # at the same moment; the next attempt sees it and records a second source.
                    if attempt == 3:
                        raise
                except OperationalError as exc:
                    # SQLite: another connection wrote after this transaction's lookups, so
                    # its snapshot cannot take the write lock (SQLITE_BUSY at once, whatever
                    # busy_timeout says); the next attempt looks up again on a fresh one.
                    if attempt == 3 or "database is locked" not in str(exc.orig):
                        raise
        results: list[StoreResult] = []
        # Only after the commit: a rolled-back batch must be looked up again next time.
        for (entry, unique, unchanged, _, known, prints), (result, ids) in zip(prepared, stored, strict=True):
            if unique or known:
                self._known.remember(entry.feed_id, unique, {**ids, **unchanged}, kept=known, prints=prints)
            results.append(replace(result, unchanged=result.unchanged + len(unchanged) + len(known)))
        return StoredBatch(tuple(results), index_seconds)

    async def _store_many(
        self, session: AsyncSession, feeds: Sequence[tuple[int, dict[str, Item], datetime]]
    ) -> list[tuple[StoreResult, dict[str, int]]]:
        """Store several feeds' items in the caller's transaction, with a fixed number of
        statements per chunk of entries whatever the number of feeds: per _LOOKUP_CHUNK, one
        lookup of the entries' (feed, guid) pairs and one of their URLs; per _WRITE_CHUNK,
        one executemany of edits, one multi-row insert of new items (with their ids) and
        one of sources. Per feed: the
        result, and the item id of each guid whose row now holds that entry's own title
        and summary (a second source of another entry's row is not: it is looked up again
        next time). Feeds are taken in order, so the first feed to bring a URL owns its
        row and later ones (in this batch or after) become its sources."""
        # Core tables, not the ORM classes: no ORM bulk machinery on the hot path.
        items_table = cast(Table, ItemRow.__table__)
        sources_table = cast(Table, ItemSourceRow.__table__)
        sqlite = session.get_bind().dialect.name == "sqlite"
        stamp = driver.processor(items_table.c.published.type, session.get_bind().dialect)
        pairs = [(feed_id, guid) for feed_id, unique, _ in feeds for guid in unique]
        known: dict[tuple[int, str], tuple[int, str, str]] = {}
        entry_key = tuple_(ItemSourceRow.feed_id, ItemSourceRow.guid)
        for start in range(0, len(pairs), _LOOKUP_CHUNK):
            chunk_pairs = pairs[start : start + _LOOKUP_CHUNK]
            if sqlite:
                values = ", ".join(["(?, ?)"] * len(chunk_pairs))
                rows: Any = await driver.rows(
                    session, _SQLITE_ENTRIES.format(values), [v for pair in chunk_pairs for v in pair]
                )
            else:
                rows = await session.execute(
                    select(
                        ItemSourceRow.feed_id, ItemSourceRow.guid, ItemRow.id, ItemRow.title, ItemRow.summary
                    )
                    .join(ItemRow, ItemRow.id == ItemSourceRow.item_id)
                    .where(entry_key.in_(chunk_pairs))
                )
            known.update({(f, g): (item_id, title, summary) for f, g, item_id, title, summary in rows})
        urls = list(
            {
                item.url: None
                for feed_id, unique, _ in feeds
                for guid, item in unique.items()
                if item.url and (feed_id, guid) not in known
            }
        )
        by_url: dict[str, int] = {}
        for start in range(0, len(urls), _LOOKUP_CHUNK):
            chunk_urls = urls[start : start + _LOOKUP_CHUNK]
            if sqlite:
                marks = ", ".join(["?"] * len(chunk_urls))
                rows = await driver.rows(session, _SQLITE_URLS.format(marks), chunk_urls)
            else:
                rows = await session.execute(
                    select(ItemRow.url, ItemRow.id).where(ItemRow.url.in_(chunk_urls))
                )
            by_url.update({url: item_id for url, item_id in rows if url})
        # Per feed (by its index in ``feeds``): new, updated, unchanged, ids by guid; across
        # the batch: edits, fresh items (one per URL, first come), sources.
        new: list[list[tuple[int, Item]]] = [[] for _ in feeds]
        updated: list[list[tuple[int, Item]]] = [[] for _ in feeds]
        unchanged = [0] * len(feeds)
        ids_by_guid: list[dict[str, int]] = [{} for _ in feeds]
        edits: list[dict[str, object]] = []
        text_now: dict[int, tuple[str, str]] = {}  # item id -> title and summary once edited
        fresh: list[tuple[int, str, Item]] = []  # (feed index, guid, item)
        later: list[tuple[int, str, Item]] = []  # same URL as a fresh item of this batch
        sources: list[tuple[int, str, Item, int]] = []  # (feed index, guid, item, item id)
        fresh_urls: set[str] = set()
        for index, (feed_id, unique, fetched_at) in enumerate(feeds):
            for guid, item in unique.items():
                row = known.get((feed_id, guid))
                if row is not None:
                    item_id = row[0]
                    ids_by_guid[index][guid] = item_id
                    # An earlier feed of this batch may have edited the same row already.
                    title, summary = text_now.get(item_id, row[1:])
                    if title != item.title or summary != item.summary:
                        text_now[item_id] = (item.title, item.summary)
                        edits.append(
                            {
                                "b_id": item_id,
                                "title": item.title,
                                "summary": item.summary,
                                "updated_at": fetched_at,
                            }
                        )
                        updated[index].append((item_id, item))
                    else:
                        unchanged[index] += 1
                elif item.url and item.url in by_url:
                    sources.append((index, guid, item, by_url[item.url]))
                elif item.url and item.url in fresh_urls:
                    later.append((index, guid, item))
                else:
                    fresh.append((index, guid, item))
                    if item.url:
                        fresh_urls.add(item.url)
        edit_statement = update(items_table).where(items_table.c.id == bindparam("b_id"))
        for start in range(0, len(edits), _WRITE_CHUNK):
            await session.execute(edit_statement, edits[start : start + _WRITE_CHUNK])
        # New items and then sources, _WRITE_CHUNK rows a statement set: each chunk's rows
        # are built just before they are sent, so a first cycle's batch is never in memory
        # as parameters all at once.
        for start in range(0, len(fresh), _WRITE_CHUNK):
            chunk = fresh[start : start + _WRITE_CHUNK]
            if sqlite:
                await driver.write(
                    session,
                    _SQLITE_ITEM,
                    [
                        (
                            i.url,
                            i.title,
                            i.summary,
                            i.outlet,
                            i.author,
                            i.language,
                            i.source_name,
                            i.source_url,
                            stamp(i.published),
                            stamp(feeds[index][2]),
                        )
                        for index, _, i in chunk
                    ],
                )
            fresh_ids = await self._insert_items(
                session,
                items_table,
                len(chunk),
                None
                if sqlite
                else [
                    {
                        "url": item.url,
                        "title": item.title,
                        "summary": item.summary,
                        "outlet": item.outlet,
                        "author": item.author,
                        "language": item.language,
                        "source_name": item.source_name,
                        "source_url": item.source_url,
                        "published": item.published,
                        "first_seen": feeds[index][2],
                        "kind": None,
                        "tracked": False,
                    }
                    for index, _, item in chunk
                ],
            )
            for (index, guid, item), item_id in zip(chunk, fresh_ids, strict=True):
                new[index].append((item_id, item))
                ids_by_guid[index][guid] = item_id
                if item.url:
                    by_url[item.url] = item_id
        for index, guid, item in later:
            assert item.url is not None
            sources.append((index, guid, item, by_url[item.url]))
        # Fresh items' own sources first, then second sources, as one sequence.
        all_sources = [(ids_by_guid[index][guid], index, guid, item) for index, guid, item in fresh]
        all_sources += [(item_id, index, guid, item) for index, guid, item, item_id in sources]
        source_statement = insert(sources_table)
        for start in range(0, len(all_sources), _WRITE_CHUNK):
            source_rows = [
                (item_id, feeds[index][0], guid, item.outlet, feeds[index][2])
                for item_id, index, guid, item in all_sources[start : start + _WRITE_CHUNK]
            ]
            if sqlite:
                await driver.write(
                    session, _SQLITE_SOURCE, [(*row[:4], stamp(row[4])) for row in source_rows]
                )
            else:
                keys = ("item_id", "feed_id", "guid", "outlet", "seen_at")
                await session.execute(
                    source_statement, [dict(zip(keys, row, strict=True)) for row in source_rows]
                )
        del all_sources
        extra_sources = [0] * len(feeds)
        for index, *_ in sources:
            extra_sources[index] += 1
        return [
            (
                StoreResult(tuple(new[i]), tuple(updated[i]), extra_sources[i], unchanged[i]),
                ids_by_guid[i],
            )
            for i in range(len(feeds))
        ]

    @staticmethod
    async def _insert_items(
        session: AsyncSession, table: Table, count: int, rows: list[dict[str, object]] | None
    ) -> list[int]:
        """Insert item rows; their ids in the order of ``rows``.

        PostgreSQL: multi-row INSERT ... RETURNING, 1,000 rows a statement (SQLAlchemy's
        insertmanyvalues). SQLite: SQLAlchemy cannot promise the order of RETURNING there and
        would send one INSERT per row, so the caller sends the ``count`` rows in one
        executemany (``rows`` None) and the ids are counted back from ``last_insert_rowid()``:
        an INTEGER PRIMARY KEY without AUTOINCREMENT gives each new row the table's largest
        rowid plus one, and this transaction holds SQLite's write lock from the first row to
        the commit, so the rows got consecutive ids in order."""
        if rows is not None:
            returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return list(await session.scalars(returning, rows))
        last = int((await session.execute(text("SELECT last_insert_rowid()"))).scalar_one())
        first = last - count + 1
        check = await session.execute(
            select(func.count()).select_from(table).where(table.c.id.between(first, last))
        )
        if first < 1 or check.scalar_one() != count:
            # Only if the largest rowid ever reached 2**63 - 1 (SQLite then picks at random).
            raise StorageError("item ids were not assigned in sequence")
        return list(range(first, last + 1))

    async def item_count(self) -> int:
        """How many distinct items are stored."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(ItemRow.id))) or 0)
