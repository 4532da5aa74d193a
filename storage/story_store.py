"""Stories (watchlists): global and per-chat, with their change history and their items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stories.model import Item, Story

from .connection import AlreadyExists, Connection, NotFound
from .item_store import _item
from .models import (
    ItemRow,
    ItemSourceRow,
    StoryAuditRow,
    StoryItemRow,
    StoryRow,
    utcnow,
)

__all__ = ["GLOBAL_SCOPE", "AuditEntry", "StoredItem", "StoryStore", "name_key"]


GLOBAL_SCOPE = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change to a watchlist."""

    story: str
    action: str
    old_query: str | None
    new_query: str | None
    user_id: int | None
    user_name: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item with the tracker's verdict, as the story views and digests show it."""

    id: int
    item: Item
    development_id: int | None
    kind: str | None
    duplicate_of: int | None
    first_seen: datetime
    sources: tuple[str, ...] = ()


def name_key(name: str) -> str:
    """Story names compare case-insensitively."""
    return name.strip().casefold()


def _story(row: StoryRow) -> Story:
    return Story(
        name=row.name,
        query=row.query,
        owner_chat_id=None if row.scope == GLOBAL_SCOPE else row.scope,
        id=row.id,
    )


class StoryStore(Connection):
    """The stories part of :class:`storage.repository.Storage`."""

    def _visible(self, chat_id: int | None) -> Select[tuple[StoryRow]]:
        scopes = [GLOBAL_SCOPE] if chat_id is None else [GLOBAL_SCOPE, chat_id]
        return select(StoryRow).where(StoryRow.scope.in_(scopes))

    async def list_stories(self, *, chat_id: int | None = None, scope: int | None = None) -> list[Story]:
        """Stories a chat can see (global + its own), or those of one scope, or all."""
        async with self._sessions() as session:
            if scope is not None:
                query = select(StoryRow).where(StoryRow.scope == scope)
            elif chat_id is not None:
                query = self._visible(chat_id)
            else:
                query = select(StoryRow)
            rows = await session.scalars(query.order_by(StoryRow.scope, StoryRow.name_key))
            return [_story(row) for row in rows]

    async def get_story(self, name: str, *, chat_id: int | None = None) -> Story | None:
        """A story by name as a chat sees it: the chat's own first, then the global one."""
        async with self._sessions() as session:
            rows = list(
                await session.scalars(self._visible(chat_id).where(StoryRow.name_key == name_key(name)))
            )
            rows.sort(key=lambda r: r.scope == GLOBAL_SCOPE)
            return _story(rows[0]) if rows else None

    async def add_story(
        self,
        name: str,
        query: str,
        *,
        scope: int = GLOBAL_SCOPE,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> Story:
        """Add a story (the query must already be validated) and audit it."""
        async with self._sessions.begin() as session:
            taken = await session.scalar(
                select(StoryRow.id).where(StoryRow.scope == scope, StoryRow.name_key == name_key(name))
            )
            if taken is not None:
                raise AlreadyExists(f"a story named {name!r} already exists")
            now = utcnow()
            row = StoryRow(
                scope=scope,
                name=name.strip(),
                name_key=name_key(name),
                query=query,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            session.add(_audit(row, "add", None, query, user_id, user_name, now))
            return _story(row)

    @staticmethod
    async def _story_row(session: AsyncSession, scope: int, name: str) -> StoryRow:
        row = await session.scalar(
            select(StoryRow).where(StoryRow.scope == scope, StoryRow.name_key == name_key(name))
        )
        if row is None:
            raise NotFound(f"no story named {name!r}")
        return row

    async def edit_story(
        self,
        name: str,
        query: str,
        *,
        scope: int = GLOBAL_SCOPE,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> Story:
        """Change a story's query and audit it."""
        async with self._sessions.begin() as session:
            row = await self._story_row(session, scope, name)
            now = utcnow()
            session.add(_audit(row, "edit", row.query, query, user_id, user_name, now))
            row.query, row.updated_at = query, now
            return _story(row)

    async def remove_story(
        self,
        name: str,
        *,
        scope: int = GLOBAL_SCOPE,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> None:
        """Remove a story (its subscriptions go with it); the audit trail stays."""
        async with self._sessions.begin() as session:
            row = await self._story_row(session, scope, name)
            session.add(_audit(row, "remove", row.query, None, user_id, user_name, utcnow()))
            await session.execute(
                update(StoryAuditRow).where(StoryAuditRow.story_id == row.id).values(story_id=None)
            )
            await session.delete(row)

    async def story_audit(self, name: str, *, scope: int = GLOBAL_SCOPE) -> list[AuditEntry]:
        """The change history of a story name in a scope, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(StoryAuditRow)
                .where(
                    StoryAuditRow.scope == scope, func.lower(StoryAuditRow.story_name) == name.strip().lower()
                )
                .order_by(StoryAuditRow.at, StoryAuditRow.id)
            )
            return [
                AuditEntry(r.story_name, r.action, r.old_query, r.new_query, r.user_id, r.user_name, r.at)
                for r in rows
            ]

    async def story_items(
        self, story_id: int, *, since: datetime | None = None, limit: int = 500
    ) -> list[StoredItem]:
        """A story's items with the tracker's verdicts, newest first."""
        async with self._sessions() as session:
            query = (
                select(ItemRow)
                .join(StoryItemRow, StoryItemRow.item_id == ItemRow.id)
                .where(StoryItemRow.story_id == story_id)
            )
            if since is not None:
                query = query.where(ItemRow.first_seen >= since)
            rows = list(
                await session.scalars(
                    query.order_by(ItemRow.first_seen.desc(), ItemRow.id.desc()).limit(limit)
                )
            )
            sources = await self._sources(session, [r.id for r in rows])
            return [
                StoredItem(
                    r.id,
                    _item(r),
                    r.development_id,
                    r.kind,
                    r.duplicate_of,
                    r.first_seen,
                    sources.get(r.id, ()),
                )
                for r in rows
            ]

    async def _sources(self, session: AsyncSession, item_ids: list[int]) -> dict[int, tuple[str, ...]]:
        found: dict[int, list[str]] = {}
        for start in range(0, len(item_ids), 500):
            rows = await session.execute(
                select(ItemSourceRow.item_id, ItemSourceRow.outlet)
                .where(ItemSourceRow.item_id.in_(item_ids[start : start + 500]))
                .order_by(ItemSourceRow.id)
            )
            for item_id, outlet in rows:
                found.setdefault(item_id, []).append(outlet)
        return {k: tuple(v) for k, v in found.items()}


def _audit(
    row: StoryRow,
    action: str,
    old_query: str | None,
    new_query: str | None,
    user_id: int | None,
    user_name: str | None,
    at: datetime,
) -> StoryAuditRow:
    """The audit row of one change to ``row``; a removal's names no story (the row goes)."""
    return StoryAuditRow(
        story_id=None if action == "remove" else row.id,
        scope=row.scope,
        story_name=row.name,
        action=action,
        old_query=old_query,
        new_query=new_query,
        user_id=user_id,
        user_name=user_name,
        at=at,
    )
