"""A poll cycle's feed states: read as Core rows and, on SQLite, written through the driver
as tuples; both must give exactly what the ORM read and SQLAlchemy's own update gave."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, create_engine, update

from storage.db import upgrade
from storage.models import FeedRow
from storage.repository import Storage
from stories.model import FeedState
from tests.conftest import connected

# Not UTC, with microseconds: both must survive as SQLAlchemy's own binding keeps them.
WHEN = datetime(2026, 11, 20, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))


def cycle_states(stored: list[FeedState]) -> list[FeedState]:
    """What one cycle might save: a 304, an error that disabled a feed, a new body."""
    a, b, c = stored
    return [
        replace(a, etag='"a-1"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT", next_fetch_at=WHEN,
                last_fetched_at=WHEN - timedelta(minutes=1), content_hash="ab" * 32),
        replace(b, next_fetch_at=None, consecutive_errors=5, last_error="HTTP 500 Internal Server Error",
                disabled=True, disabled_reason="too many errors", title=""),
        replace(c, title="Outlet C", next_fetch_at=WHEN.astimezone(UTC), last_fetched_at=WHEN),
    ]  # fmt: skip


async def test_due_feeds_reads_what_get_feed_reads(storage: Storage) -> None:
    for n in range(3):
        await storage.add_feed(f"https://s{n}.example/rss", title=f"S{n}" if n else None)
    states = await storage.due_feeds(datetime.now(UTC) + timedelta(seconds=1))
    await storage.save_feed_states(cycle_states(states))
    due = await storage.due_feeds(WHEN + timedelta(days=1), include_all=True)
    one_by_one = [await storage.get_feed(state.id or 0) for state in due]
    assert due == one_by_one and len(due) == 2  # the disabled one is not due
    assert due[0].next_fetch_at == WHEN and due[0].next_fetch_at.tzinfo is not None


def raw_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        # created_at differs between the two databases: the rest must not.
        columns = [row[1] for row in db.execute("PRAGMA table_info(feeds)") if row[1] != "created_at"]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        return list(db.execute(f"SELECT {typed} FROM feeds ORDER BY id"))


async def test_sqlite_states_written_as_sqlalchemy_wrote_them(tmp_path: Path) -> None:
    written: dict[str, list[tuple[object, ...]]] = {}
    for way in ("driver", "sqlalchemy"):
        path = tmp_path / f"{way}.db"
        upgrade(f"sqlite:///{path}")
        async with connected(f"sqlite:///{path}") as storage:
            for n in range(3):
                await storage.add_feed(f"https://s{n}.example/rss", title=f"S{n}" if n else None)
            before = await storage.due_feeds(datetime.now(UTC) + timedelta(seconds=1))
            titles = {state.id: state.title for state in before}
            states = cycle_states(before)
            if way == "driver":
                await storage.save_feed_states(states)
            else:  # the statement save_feed_states sent through SQLAlchemy before
                table = cast(Table, FeedRow.__table__)
                engine = create_engine(f"sqlite:///{path}")
                with engine.begin() as connection:
                    connection.execute(
                        update(table).where(table.c.id == bindparam("b_id")),
                        [
                            {"b_id": s.id, "url": s.url, "title": s.title or titles[s.id], "etag": s.etag,
                             "last_modified": s.last_modified, "content_hash": s.content_hash,
                             "next_fetch_at": s.next_fetch_at, "last_fetched_at": s.last_fetched_at,
                             "consecutive_errors": s.consecutive_errors, "last_error": s.last_error,
                             "disabled": s.disabled, "disabled_reason": s.disabled_reason}
                            for s in states
                        ],
                    )  # fmt: skip
                engine.dispose()
        written[way] = raw_rows(path)
    assert written["driver"] == written["sqlalchemy"]
    assert any("2026-11-20 12:30:05.123456" in map(str, row) for row in written["driver"])
