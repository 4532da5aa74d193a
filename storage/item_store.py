"""Items: storing what feeds bring (deduplicated by URL across feeds), what the tracker has
yet to decide on, its decisions, and its saved state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stories.model import Decision, Item

from .connection import Connection, StorageError
from .known_items import first_entries
from .models import (
    DevelopmentRow,
    ItemRow,
    ItemSourceRow,
    StoryItemRow,
    StoryRow,
    TrackerStateRow,
    utcnow,
)
from .search import index_items, index_pending

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


def _entries(entry: FeedItems) -> tuple[dict[str, Item], tuple[str, ...], dict[str, int]]:
    """:func:`first_entries` of one fetch, and the fingerprints of what it keeps (items,
    and entries already split off as ``known``)."""
    unique, recognised = first_entries(entry.items, entry.known_entries)
    if not entry.fingerprints:
        return unique, recognised, {}
    known = set(entry.known)
    return unique, recognised, {g: f for g, f in entry.fingerprints.items() if g in unique or g in known}


def _item(row: ItemRow, guid: str | None = None) -> Item:
    return Item(
        guid=guid or row.url or str(row.id),
        url=row.url,
        title=row.title,
        summary=row.summary,
        published=row.published,
        outlet=row.outlet,
        author=row.author,
        language=row.language,
        source_name=row.source_name,
        source_url=row.source_url,
    )


@dataclass(frozen=True, slots=True)
class TrackerInput:
    """An item as the tracker reads it: its key, the item, its cached vector (float16 bytes)."""

    key: int
    item: Item
    vector: bytes | None


@dataclass(frozen=True, slots=True)
class ItemVerdict:
    """The tracker's stored verdict on one item, with the stories it belongs to."""

    item_id: int
    url: str | None
    kind: str | None
    development_id: int | None
    duplicate_of: int | None
    story_ids: tuple[int, ...]


class ItemStore(Connection):
    """The items and tracker part of :class:`storage.repository.Storage`."""

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
        pairs = [(feed_id, guid) for feed_id, unique, _ in feeds for guid in unique]
        known: dict[tuple[int, str], tuple[int, str, str]] = {}
        entry_key = tuple_(ItemSourceRow.feed_id, ItemSourceRow.guid)
        for start in range(0, len(pairs), _LOOKUP_CHUNK):
            rows = await session.execute(
                select(ItemSourceRow.feed_id, ItemSourceRow.guid, ItemRow.id, ItemRow.title, ItemRow.summary)
                .join(ItemRow, ItemRow.id == ItemSourceRow.item_id)
                .where(entry_key.in_(pairs[start : start + _LOOKUP_CHUNK]))
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
            rows2 = await session.execute(
                select(ItemRow.url, ItemRow.id).where(ItemRow.url.in_(urls[start : start + _LOOKUP_CHUNK]))
            )
            by_url.update({url: item_id for url, item_id in rows2 if url})
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
            fresh_ids = await self._insert_items(
                session,
                items_table,
                [
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
            await session.execute(
                source_statement,
                [
                    self._source(item_id, feeds[index][0], guid, item, feeds[index][2])
                    for item_id, index, guid, item in all_sources[start : start + _WRITE_CHUNK]
                ],
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
    async def _insert_items(session: AsyncSession, table: Table, rows: list[dict[str, object]]) -> list[int]:
        """Insert item rows; their ids in the order of ``rows``.

        PostgreSQL: multi-row INSERT ... RETURNING, 1,000 rows a statement (SQLAlchemy's
        insertmanyvalues). SQLite: SQLAlchemy cannot promise the order of RETURNING there and
        would send one INSERT per row, so the rows go in one executemany and the ids are
        counted back from ``last_insert_rowid()``: an INTEGER PRIMARY KEY without
        AUTOINCREMENT gives each new row the table's largest rowid plus one, and this
        transaction holds SQLite's write lock from the first row to the commit, so the rows
        got consecutive ids in order."""
        if session.get_bind().dialect.name != "sqlite":
            returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return list(await session.scalars(returning, rows))
        await session.execute(insert(table), rows)
        last = int((await session.execute(text("SELECT last_insert_rowid()"))).scalar_one())
        first = last - len(rows) + 1
        check = await session.execute(
            select(func.count()).select_from(table).where(table.c.id.between(first, last))
        )
        if first < 1 or check.scalar_one() != len(rows):
            # Only if the largest rowid ever reached 2**63 - 1 (SQLite then picks at random).
            raise StorageError("item ids were not assigned in sequence")
        return list(range(first, last + 1))

    @staticmethod
    def _source(item_id: int, feed_id: int, guid: str, item: Item, seen_at: datetime) -> dict[str, object]:
        return {
            "item_id": item_id,
            "feed_id": feed_id,
            "guid": guid,
            "outlet": item.outlet,
            "seen_at": seen_at,
        }

    async def items_after(self, after_id: int, *, limit: int = 1000) -> list[tuple[int, Item]]:
        """Items with id > after_id in id order: the tracker's replay and catch-up stream."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ItemRow).where(ItemRow.id > after_id).order_by(ItemRow.id).limit(limit)
            )
            return [(row.id, _item(row)) for row in rows]

    async def untracked_items(self, *, limit: int = 1000) -> list[tuple[int, Item]]:
        """Items the tracker has not decided on yet, oldest first."""
        return [(t.key, t.item) for t in await self.tracker_inputs(limit=limit)]

    async def tracker_inputs(self, *, limit: int = 1000, after_seq: int | None = None) -> list[TrackerInput]:
        """What the tracker reads next, with cached vectors.

        Without ``after_seq``: items not decided yet, oldest first. With it: items decided
        after that point of the tracker's own counter, in decision order (a restart
        replays them onto the saved state, which did not see them yet).
        """
        async with self._sessions() as session:
            query = select(ItemRow)
            if after_seq is None:
                query = query.where(ItemRow.tracked.is_(False)).order_by(ItemRow.id)
            else:
                query = query.where(ItemRow.track_seq > after_seq).order_by(ItemRow.track_seq)
            rows = await session.scalars(query.limit(limit))
            return [TrackerInput(row.id, _item(row), row.vector) for row in rows]

    async def item_verdicts(self, urls: Sequence[str]) -> dict[str, ItemVerdict]:
        """Stored verdicts of the items at ``urls`` (those stored), by URL."""
        found: dict[str, ItemVerdict] = {}
        async with self._sessions() as session:
            for start in range(0, len(urls), 500):
                chunk = list(urls[start : start + 500])
                rows = list(
                    (
                        await session.execute(
                            select(
                                ItemRow.id,
                                ItemRow.url,
                                ItemRow.kind,
                                ItemRow.development_id,
                                ItemRow.duplicate_of,
                            ).where(ItemRow.url.in_(chunk))
                        )
                    ).tuples()
                )
                ids = [r[0] for r in rows]
                stories: dict[int, list[int]] = {}
                for item_id, story_id in (
                    await session.execute(
                        select(StoryItemRow.item_id, StoryItemRow.story_id).where(
                            StoryItemRow.item_id.in_(ids)
                        )
                    )
                ).tuples():
                    stories.setdefault(item_id, []).append(story_id)
                for item_id, url, kind, dev, dup in rows:
                    if url:
                        found[url] = ItemVerdict(
                            item_id, url, kind, dev, dup, tuple(sorted(stories.get(item_id, ())))
                        )
        return found

    async def save_vectors(self, vectors: Iterable[tuple[int, bytes]]) -> None:
        """Cache items' sentence vectors (computed once per item)."""
        params = [{"b_id": key, "b_vector": data} for key, data in vectors]
        if not params:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(ItemRow.__table__)  # type: ignore[arg-type]
                .where(ItemRow.__table__.c.id == bindparam("b_id"))
                .values(vector=bindparam("b_vector")),
                params,
            )

    async def record_decisions(
        self, decisions: Iterable[Decision], *, first_seq: int | None = None, numbered: int | None = None
    ) -> None:
        """Write the tracker's verdicts: developments, kinds, copies, story membership.

        A later decision for the same item supersedes an earlier one (a reprint revised
        once its original arrived). ``first_seq`` numbers the decisions with the
        tracker's own counter (``items.track_seq``), which a restart replays from; only
        the first ``numbered`` decisions (all by default) are numbered, the rest being
        revisions of items numbered before.
        """
        decisions = list(decisions)
        if not decisions:
            return
        async with self._sessions.begin() as session:
            ids = [d.key for d in decisions]
            rows = {r.id: r for r in await session.scalars(select(ItemRow).where(ItemRow.id.in_(ids)))}
            dev_ids = {d.development_id for d in decisions}
            devs = {
                r.id: r
                for r in await session.scalars(select(DevelopmentRow).where(DevelopmentRow.id.in_(dev_ids)))
            }
            # A copy's original may have been pruned meanwhile: then it is nobody's copy.
            wanted = {d.duplicate_of for d in decisions if d.duplicate_of is not None} - set(rows)
            present = set(rows)
            if wanted:
                present |= set(await session.scalars(select(ItemRow.id).where(ItemRow.id.in_(wanted))))
            seq_offset = 0
            for decision in decisions:
                row = rows.get(decision.key)
                if row is None:
                    seq_offset += 1
                    continue  # pruned meanwhile
                dev = devs.get(decision.development_id)
                if dev is None:
                    dev = DevelopmentRow(
                        id=decision.development_id,
                        title=row.title,
                        first_seen=row.first_seen,
                        last_seen=row.first_seen,
                        item_count=0,
                        outlet_count=0,
                    )
                    session.add(dev)
                    devs[dev.id] = dev
                dev.last_seen = max(dev.last_seen, row.first_seen)
                row.development_id = decision.development_id
                row.kind = decision.kind
                row.duplicate_of = decision.duplicate_of if decision.duplicate_of in present else None
                row.new_facts = json.dumps(list(decision.new_facts)) if decision.new_facts else None
                row.tracked = True
                if first_seq is not None and (numbered is None or seq_offset < numbered):
                    row.track_seq = first_seq + seq_offset
                seq_offset += 1
            await session.flush()
            existing = set(
                (
                    await session.execute(
                        select(StoryItemRow.story_id, StoryItemRow.item_id).where(
                            StoryItemRow.item_id.in_(ids)
                        )
                    )
                ).tuples()
            )
            story_ids = set(await session.scalars(select(StoryRow.id)))
            for decision in decisions:
                for story_id in decision.stories:
                    if (
                        story_id in story_ids
                        and (story_id, decision.key) not in existing
                        and decision.key in rows
                    ):
                        session.add(StoryItemRow(story_id=story_id, item_id=decision.key))
                        existing.add((story_id, decision.key))
            await session.flush()
            stats = await session.execute(
                select(
                    ItemRow.development_id,
                    func.count(ItemRow.id),
                    func.count(func.distinct(ItemRow.outlet)),
                )
                .where(ItemRow.development_id.in_(dev_ids))
                .group_by(ItemRow.development_id)
            )
            for dev_id, count, outlets in stats:
                devs[dev_id].item_count = int(count)
                devs[dev_id].outlet_count = int(outlets)
            # A development's lead is its earliest original report, never a copy.
            leads = await session.execute(
                select(ItemRow.development_id, ItemRow.id)
                .where(ItemRow.development_id.in_(dev_ids), ItemRow.kind != "rereport")
                .order_by(ItemRow.development_id, ItemRow.kind != "new", ItemRow.published, ItemRow.id)
            )
            led: set[int] = set()
            for dev_id, item_id in leads:
                if dev_id not in led:
                    led.add(dev_id)
                    devs[dev_id].lead_item_id = item_id

    async def item_count(self) -> int:
        """How many distinct items are stored."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(ItemRow.id))) or 0)

    async def save_tracker_state(self, name: str, data: str, last_item_id: int) -> None:
        """Save the tracker's serialised state and the last item it has seen."""
        async with self._sessions.begin() as session:
            row = await session.get(TrackerStateRow, name)
            if row is None:
                session.add(
                    TrackerStateRow(name=name, data=data, last_item_id=last_item_id, saved_at=utcnow())
                )
            else:
                row.data, row.last_item_id, row.saved_at = data, last_item_id, utcnow()

    async def load_tracker_state(self, name: str) -> tuple[str, int] | None:
        """The saved tracker state and its last item id, if any."""
        async with self._sessions() as session:
            row = await session.get(TrackerStateRow, name)
            return (row.data, row.last_item_id) if row else None
