"""Settings the bot generates once and keeps in the database (e.g. the webhook secret).

Every bot process sharing the database reads the same value: the first to start writes it
(``INSERT ... ON CONFLICT DO NOTHING``), and everyone, the writer included, reads back what
won. A Core table (migration 0006), like ``hosts`` in :mod:`storage.leasing`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, MetaData, String, Table, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import NAMING, UTCDateTime, utcnow
from .repository import Storage

__all__ = ["get_or_create_setting", "settings"]

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
