"""The queries behind /search paging buttons: kept a week, renewed when searched again,
forgotten by the daily housekeeping (a later press says the search expired)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.config import Config, DatabaseConfig
from bot.maintenance import SEARCH_BUTTONS_LAST, prune_old_items
from storage.buttons import remember_search, searched_query
from storage.models import SearchTokenRow, utcnow
from storage.repository import Storage


async def _age(storage: Storage, token: str, age: timedelta) -> None:
    async with storage.session() as session, session.begin():
        await session.execute(
            update(SearchTokenRow).where(SearchTokenRow.token == token).values(created_at=utcnow() - age)
        )


async def test_housekeeping_forgets_old_searches_and_keeps_recent_or_renewed_ones(storage: Storage) -> None:
    old = await remember_search(storage, "Wagner since:7d")
    renewed = await remember_search(storage, "Prigozhin")
    recent = await remember_search(storage, "Khartoum")
    week = SEARCH_BUTTONS_LAST + timedelta(hours=1)
    await _age(storage, old, week)
    await _age(storage, renewed, week)
    assert await remember_search(storage, "Prigozhin") == renewed  # searched again: renewed
    await prune_old_items(storage, Config(database=DatabaseConfig(url=storage.url)))
    assert await searched_query(storage, old) is None
    assert await searched_query(storage, renewed) == "Prigozhin"
    assert await searched_query(storage, recent) == "Khartoum"
