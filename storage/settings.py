"""Settings the bot generates once and keeps in the database (e.g. the webhook secret).

Every bot process sharing the database reads the same value: the first to start writes it
(``INSERT ... ON CONFLICT DO NOTHING``), and everyone, the writer included, reads back what
won. A Core table (migration 0006), like ``hosts`` in :mod:`storage.leasing`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import NAMING, UTCDateTime, utcnow
from .repository import Storage

__all__ = ["get_or_create_setting", "put_setting", "settings", "take_setting"]

metadata = MetaData(naming_convention=NAMING)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


async def get_or_create_setting(storage: Storage, key: str, make: Callable[[], str]) -> str:
    """The stored value of ``key``; on first use, ``make()`` is stored and returned.

    Two processes starting at once agree: only one insert wins, both read the winner.
    """
    insert = pg_insert if storage.backend == "postgresql" else sqlite_insert
    async with storage.session() as session, session.begin():
        await session.execute(
            insert(settings)
            .values(key=key, value=make(), updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        value = await session.scalar(select(settings.c.value).where(settings.c.key == key))
    assert value is not None
    return str(value)


async def put_setting(storage: Storage, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing what was there (e.g. a pending reply prompt)."""
    insert = pg_insert if storage.backend == "postgresql" else sqlite_insert
    statement = insert(settings).values(key=key, value=value, updated_at=utcnow())
    async with storage.session() as session, session.begin():
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": statement.excluded.value, "updated_at": utcnow()}
            )
        )


async def take_setting(storage: Storage, key: str) -> str | None:
    """The value under ``key``, removed (None when there is none): one process takes it once."""
    async with storage.session() as session, session.begin():
        value = await session.scalar(select(settings.c.value).where(settings.c.key == key))
        if value is None:
            return None
        result = await session.execute(delete(settings).where(settings.c.key == key))
        return str(value) if getattr(result, "rowcount", 1) else None
