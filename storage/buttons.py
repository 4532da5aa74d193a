"""What inline buttons refer to when 64 bytes of callback data cannot hold it: the query of a
``/search`` page. Kept in the database, so a button works in every bot process sharing it and
after a restart (a per-process map forgets it)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import SearchTokenRow, utcnow
from .repository import Storage

__all__ = ["forget_searches_before", "remember_search", "search_token", "searched_query"]


def search_token(query: str) -> str:
    """The token a query is remembered under (the same query, the same token)."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:16]


async def remember_search(storage: Storage, query: str) -> str:
    """Store ``query`` (once; searching it again renews it) and return its token."""
    token = search_token(query)
    insert = pg_insert if storage.backend == "postgresql" else sqlite_insert
    now = utcnow()
    async with storage.session() as session, session.begin():
        await session.execute(
            insert(SearchTokenRow)
            .values(token=token, query=query, created_at=now)
            .on_conflict_do_update(index_elements=["token"], set_={"created_at": now})
        )
    return token


async def searched_query(storage: Storage, token: str) -> str | None:
    """The query behind ``token``, or None when it was never stored (or forgotten)."""
    async with storage.session() as session:
        value = await session.scalar(select(SearchTokenRow.query).where(SearchTokenRow.token == token))
        return str(value) if value is not None else None


async def forget_searches_before(storage: Storage, moment: datetime | timedelta) -> int:
    """Drop tokens stored before ``moment`` (or longer ago than a timedelta); returns how many."""
    cutoff = utcnow() - moment if isinstance(moment, timedelta) else moment
    async with storage.session() as session, session.begin():
        result = await session.execute(delete(SearchTokenRow).where(SearchTokenRow.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
