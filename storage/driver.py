"""Hot SQLite statements sent to the driver as they are, with tuples.

SQLAlchemy's per-row parameter handling cost the event loop several times SQLite's own
work (2,000 rows: an insert 30 -> 8 ms of CPU, a lookup 16 -> 1 ms); the item and feed-state
stores send their hot statements this way. Values that need converting (datetimes,
booleans) go through the column type's own bind processor (:func:`processor`), so rows
hold what SQLAlchemy would have written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine


async def rows(session: AsyncSession, statement: str, values: Sequence[object]) -> list[Any]:
    """The rows of one statement, in the session's transaction."""
    connection = await session.connection()
    return list((await connection.exec_driver_sql(statement, tuple(values))).all())


async def write(session: AsyncSession, statement: str, params: list[tuple[object, ...]]) -> None:
    """One statement for each tuple of ``params`` (executemany), in the session's transaction."""
    connection = await session.connection()
    await connection.exec_driver_sql(statement, params)


def processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of ``column_type`` before the driver gets it."""
    return column_type.bind_processor(dialect) or _as_is


def _as_is(value: object) -> object:
    return value
