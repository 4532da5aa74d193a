"""Shared fixtures: real databases.

``database_url`` runs a test on a real SQLite file and, when ``NEWSBOT_TEST_DATABASE_URL``
is set, on the real PostgreSQL server too, each in a fresh schema so runs never collide.
Both come migrated to head.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text

from storage.db import upgrade
from storage.repository import Storage
from tests.fakes.feed_server import FeedServer

T = TypeVar("T")

PG_ENV = "NEWSBOT_TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"


def _pg_schema_url(base: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _backend_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_SKIP)],
        ),
    ]


@pytest.fixture(params=_backend_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
    else:
        for url in _pg_schema_url(os.environ[PG_ENV]):
            upgrade(url)
            yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated, fresh schema on the real PostgreSQL server (the test module skips without it)."""
    for url in _pg_schema_url(os.environ[PG_ENV]):
        upgrade(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file, for tests that need only one backend."""
    url = f"sqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Storage]:
    """A Storage on ``url``, closed afterwards: what each storage fixture yields."""
    store = Storage.connect(url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A Storage on each backend."""
    async with connected(database_url) as store:
        yield store


@pytest.fixture
def server() -> Iterator[FeedServer]:
    """A real HTTP server on 127.0.0.1 serving scripted feeds."""
    with FeedServer() as srv:
        yield srv


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, what: str = "") -> T:
    """Await until ``await check()`` is truthy and return it; fail after ``timeout`` seconds.

    For conditions the code under test reaches on its own (a row marked sent, a chat paused):
    it checks every 20 ms on the running loop instead of sleeping a fixed time and hoping."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"not reached within {timeout}s: {what or check}")
        await asyncio.sleep(0.02)
