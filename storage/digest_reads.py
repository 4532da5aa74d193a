"""What a digest is built from: a story's tracked items a chat has not seen yet, with every
outlet that carried them, and the developments they belong to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (
    DevelopmentRow,
    ItemRow,
    ItemSourceRow,
    SentItemRow,
    StoryItemRow,
)
from .repository import Storage

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CandidateItem:
    """A tracked item of a story, with its verdict and every outlet that carried it."""

    story_id: int
    item_id: int
    development_id: int | None
    kind: str | None
    duplicate_of: int | None
    title: str
    url: str | None
    outlet: str
    published: datetime
    first_seen: datetime
    outlets: tuple[str, ...]
    new_facts: tuple[str, ...] = ()
    """For an update: the facts it adds, as it wrote them."""


def _facts(raw: str | None) -> tuple[str, ...]:
    """The stored JSON list of an update's new facts."""
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class DevelopmentInfo:
    """A development (event) with its distinct outlets counted over every source."""

    id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    outlets: int


async def _outlets(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(item_ids), _CHUNK):
        rows = await session.execute(
            select(ItemSourceRow.item_id, ItemSourceRow.outlet)
            .where(ItemSourceRow.item_id.in_(item_ids[start : start + _CHUNK]))
            .order_by(ItemSourceRow.id)
        )
        for item_id, outlet in rows:
            outlets = found.setdefault(item_id, [])
            if outlet not in outlets:
                outlets.append(outlet)
    return found


def _candidate(story_id: int, row: ItemRow, outlets: Mapping[int, list[str]]) -> CandidateItem:
    return CandidateItem(
        story_id=story_id,
        item_id=row.id,
        development_id=row.development_id,
        kind=row.kind,
        duplicate_of=row.duplicate_of,
        title=row.title,
        url=row.url,
        outlet=row.outlet,
        published=row.published,
        first_seen=row.first_seen,
        outlets=tuple(outlets.get(row.id, [row.outlet])),
        new_facts=_facts(row.new_facts),
    )


async def unseen_items(
    storage: Storage, chat_id: int, story_ids: Sequence[int], *, since: datetime, limit: int = 2000
) -> list[CandidateItem]:
    """Tracked items of these stories first seen at or after ``since`` that the chat has not
    been shown, oldest first (an item in two stories comes once per story)."""
    if not story_ids:
        return []
    async with storage.session() as session:
        seen = select(SentItemRow.item_id).where(SentItemRow.chat_id == chat_id)
        rows = list(
            await session.execute(
                select(StoryItemRow.story_id, ItemRow)
                .join(ItemRow, ItemRow.id == StoryItemRow.item_id)
                .where(
                    StoryItemRow.story_id.in_(list(story_ids)),
                    ItemRow.tracked.is_(True),
                    ItemRow.first_seen >= since,
                    ItemRow.id.not_in(seen),
                )
                .order_by(ItemRow.first_seen, ItemRow.id)
                .limit(limit)
            )
        )
        outlets = await _outlets(session, sorted({row.id for _, row in rows}))
        return [_candidate(story_id, row, outlets) for story_id, row in rows]


async def developments(storage: Storage, ids: Iterable[int]) -> dict[int, DevelopmentInfo]:
    """Developments by id, their outlets counted over every source of every item."""
    wanted = sorted(set(ids))
    found: dict[int, DevelopmentInfo] = {}
    if not wanted:
        return found
    async with storage.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            result = await session.execute(
                select(ItemRow.development_id, func.count(func.distinct(ItemSourceRow.outlet)))
                .join(ItemSourceRow, ItemSourceRow.item_id == ItemRow.id)
                .where(ItemRow.development_id.in_(chunk))
                .group_by(ItemRow.development_id)
            )
            counts = {dev_id: int(n) for dev_id, n in result}
            rows = list(await session.scalars(select(DevelopmentRow).where(DevelopmentRow.id.in_(chunk))))
            # The title is the lead report's as it reads now (an outlet may retitle it).
            leads = [row.lead_item_id for row in rows if row.lead_item_id is not None]
            lead_rows = await session.execute(select(ItemRow.id, ItemRow.title).where(ItemRow.id.in_(leads)))
            titles = {item_id: title for item_id, title in lead_rows.tuples()}
            for row in rows:
                outlets = int(counts.get(row.id, 0)) or row.outlet_count
                title = titles.get(row.lead_item_id, row.title) if row.lead_item_id is not None else row.title
                found[row.id] = DevelopmentInfo(row.id, title, row.first_seen, row.last_seen, outlets)
    return found


async def seen_developments(storage: Storage, chat_id: int, ids: Iterable[int]) -> set[int]:
    """Which of these developments the chat has already been shown something of."""
    wanted = sorted(set(ids))
    seen: set[int] = set()
    async with storage.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            seen.update(
                dev
                for dev in await session.scalars(
                    select(SentItemRow.development_id)
                    .where(
                        SentItemRow.chat_id == chat_id,
                        SentItemRow.development_id.in_(wanted[start : start + _CHUNK]),
                    )
                    .distinct()
                )
                if dev is not None
            )
    return seen


async def fresh_developments(
    storage: Storage, story_ids: Sequence[int], *, since: datetime
) -> dict[int, list[int]]:
    """Developments first seen at or after ``since`` with an item in each story: story id -> ids."""
    if not story_ids:
        return {}
    async with storage.session() as session:
        rows = await session.execute(
            select(StoryItemRow.story_id, ItemRow.development_id)
            .join(ItemRow, ItemRow.id == StoryItemRow.item_id)
            .join(DevelopmentRow, DevelopmentRow.id == ItemRow.development_id)
            .where(StoryItemRow.story_id.in_(list(story_ids)), DevelopmentRow.first_seen >= since)
            .distinct()
        )
        found: dict[int, list[int]] = {}
        for story_id, dev_id in rows:
            if dev_id is not None:
                found.setdefault(story_id, []).append(dev_id)
        return found


async def development_items(
    storage: Storage, dev_ids: Sequence[int], story_id: int | None = None
) -> list[CandidateItem]:
    """Every tracked item of these developments (in a story, when given), oldest first: by
    publish time, then in the order the tracker decided them. (Not by when each was fetched:
    the items of one poll cycle are stored in the order their feeds answered, which varies
    from run to run, and so would the order a development's updates and sources are shown.)"""
    if not dev_ids:
        return []
    async with storage.session() as session:
        query = select(ItemRow).where(ItemRow.development_id.in_(list(dev_ids)))
        if story_id is not None:
            query = query.join(StoryItemRow, StoryItemRow.item_id == ItemRow.id).where(
                StoryItemRow.story_id == story_id
            )
        rows = list(await session.scalars(query.order_by(ItemRow.published, ItemRow.track_seq, ItemRow.id)))
        outlets = await _outlets(session, [row.id for row in rows])
        return [_candidate(story_id or 0, row, outlets) for row in rows]


__all__ = [
    "CandidateItem",
    "DevelopmentInfo",
    "development_items",
    "developments",
    "fresh_developments",
    "seen_developments",
    "unseen_items",
]
