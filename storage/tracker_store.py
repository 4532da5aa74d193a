"""What the tracker reads and writes of items: the stream of items to decide on, their
cached vectors, its decisions (kinds, developments, story membership), and its saved state.

Part of :class:`storage.repository.Storage` (through :class:`storage.item_store.ItemStore`);
the items themselves are stored by ``item_store``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update

from stories.model import Decision, Item

from .connection import Connection
from .models import DevelopmentRow, ItemRow, StoryItemRow, StoryRow, TrackerStateRow, utcnow

__all__ = ["ItemVerdict", "TrackerInput", "TrackerStore"]


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


class TrackerStore(Connection):
    """The tracker's part of :class:`storage.repository.Storage`."""

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
