"""Database engines and migrations.

A configured URL such as ``sqlite:///newsbot.db`` or ``postgresql://user@host/db`` is
turned into an async URL (aiosqlite / psycopg 3) for the application and a sync URL
(sqlite3 / psycopg 3) for Alembic. SQLite runs in WAL mode with foreign keys on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from stories.errors import EXIT_USAGE, NewsbotError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseURLError(NewsbotError, ValueError):
    """The configured database URL cannot be used."""

    exit_code = EXIT_USAGE


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            f"database.url: not a database URL: {url!r} "
            "(expected e.g. sqlite:///newsbot.db or postgresql://user@host/dbname)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseURLError(f"database.url: unsupported database {backend!r}; use sqlite or postgresql")
    return parsed


def backend_name(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return _parse(url).get_backend_name()


def url_password(url: str) -> str | None:
    """The password in a database URL, if any (to redact it from logs); None for a bad URL."""
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def async_url(url: str) -> URL:
    """The URL with the asyncio driver (aiosqlite or psycopg)."""
    parsed = _parse(url)
    driver = "aiosqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def sync_url(url: str) -> URL:
    """The URL with the blocking driver (sqlite3 or psycopg), for migrations."""
    parsed = _parse(url)
    driver = "pysqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An AsyncEngine for the application; SQLite gets WAL and foreign keys."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(target, **kwargs)


def make_sync_engine(url: str, **kwargs: Any) -> Engine:
    """A blocking Engine, for migrations and tooling."""
    target = sync_url(url)
    engine = create_engine(target, **kwargs)
    if target.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at our migrations and ``url`` (no alembic.ini needed)."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option(
        "sqlalchemy.url", sync_url(url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
