"""Migrations bring an empty database to head, and agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import current_revision, make_sync_engine
from storage.models import Base


# Objects that live only in migrations (full-text indexes in raw SQL) are not models.
def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (reflected and compare_to is None and type_ in ("table", "index", "column"))


def test_upgrade_reaches_head_and_models_agree(database_url: str) -> None:
    assert current_revision(database_url) is not None
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert {
                "feeds",
                "items",
                "item_sources",
                "stories",
                "story_audit",
                "story_items",
                "developments",
                "chats",
                "subscriptions",
                "outbox",
            } <= tables
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _include}
            )
            diff = compare_metadata(context, Base.metadata)
            assert diff == [], diff
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_sync_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
