"""Leases: how several fetch workers (and several senders) share one database.

A worker *leases* a batch of due feeds: it writes its name and an expiry into the
rows, fetches them, and releases them. Rows leased by someone else are invisible to
the next worker until they are released or their lease expires, so a worker that
dies (SIGKILL, power loss) gives its feeds back to the pool after ``lease_seconds``.

On PostgreSQL the choice of rows is serialised by a transaction-level advisory lock
(a few milliseconds per batch) so that the per-host limit holds across workers:
no host ever has more than its concurrency of feeds leased at once, whichever
workers hold them. The picked rows are then locked ``FOR UPDATE SKIP LOCKED``, so a
row that another transaction is writing right now (a save after a fetch, an admin
disabling the feed) is skipped instead of waited for. SQLite is single-process:
the same code runs there without the locks.

Per-host politeness that outlives one process lives in the ``hosts`` table: a host
that answered 429/503 with Retry-After is *held* until that time, and no worker
leases its feeds before then; ``hosts.concurrency`` overrides the configured
per-host limit for one host.

The outbox is claimed the same way (``claim_outbox``), so several bot processes
behind a load balancer never send one message twice.

Advisory locks are per database, while tests (and some deployments) keep several
newsbot schemas in one database; every lock key therefore includes the schema.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from stories.model import FeedState

from .db import backend_name, make_sync_engine, upgrade
from .models import NAMING, FeedRow, OutboxRow, TrackerStateRow, UTCDateTime, utcnow
from .repository import Storage, _feed_state

log = logging.getLogger("newsbot.leasing")

# Core tables owned by this module (migration 0004); the ORM models stay in models.py.
metadata = MetaData(naming_convention=NAMING)

hosts = Table(
    "hosts",
    metadata,
    Column("host", String(255), primary_key=True),
    # Overrides fetch.per_host_concurrency for this host (NULL: the configured limit).
    Column("concurrency", Integer, nullable=True),
    # No feed of this host is leased before this time (429/503 Retry-After).
    Column("retry_after_until", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

FEED_LEASE_LOCK = "lease-feeds"
OUTBOX_LEASE_LOCK = "claim-outbox"
MIGRATION_LOCK = "migrate"
TRACKER_LOCK = "tracker"

# How many due rows are looked at to fill one batch when some hosts are at their limit.
_SCAN_FACTOR = 20
_SCAN_MIN = 500
_PENDING = "pending"


def worker_name() -> str:
    """A name for this process that is unique across machines: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def host_key(url: str) -> str:
    """The politeness key of a URL: lower-case host name, with the port when one is given."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:  # a bad port: the host alone still groups the URL sensibly
        return (urlsplit(url).hostname or "").lower()
    return f"{host}:{port}" if port else host


def _lock_sql(name: str, function: str) -> tuple[str, dict[str, str]]:
    # hashtext() gives a stable int4 key; the schema keeps test schemas (and several
    # newsbot installations in one database) from blocking each other.
    return (
        f"SELECT {function}(hashtext(current_schema() || :key))",
        {"key": f":newsbot:{name}"},
    )


async def _xact_lock(session: AsyncSession, name: str) -> None:
    """Serialise with other holders of ``name`` until this transaction ends (PostgreSQL only)."""
    if session.bind.dialect.name != "postgresql":
        return
    sql, params = _lock_sql(name, "pg_advisory_xact_lock")
    await session.execute(text(sql), params)


# ------------------------------------------------------------------------ feeds


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """How many feeds one lease takes and for how long."""

    batch_size: int = 50
    lease_seconds: float = 120.0
    # Feeds of one host leased at once across all workers; None means no limit.
    per_host: int | None = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("worker.batch_size must be at least 1")
        if self.lease_seconds <= 0:
            raise ValueError("worker.lease_seconds must be positive")
        if self.per_host is not None and self.per_host < 1:
            raise ValueError("per-host concurrency must be at least 1")


def _due(now: datetime) -> list[object]:
    return [
        FeedRow.disabled.is_(False),
        or_(FeedRow.next_fetch_at.is_(None), FeedRow.next_fetch_at <= now),
        or_(FeedRow.lease_expires_at.is_(None), FeedRow.lease_expires_at <= now),
    ]


def _pick(
    candidates: Sequence[tuple[int, str]],
    active: Counter[str],
    limits: dict[str, int | None],
    held: set[str],
    policy: LeasePolicy,
) -> list[int]:
    """Choose up to batch_size candidates, keeping every host within its limit."""
    picked: list[int] = []
    taken = Counter(active)
    for feed_id, url in candidates:
        key = host_key(url)
        if key in held:
            continue
        limit = limits.get(key, policy.per_host)
        if limit is not None and taken[key] >= limit:
            continue
        taken[key] += 1
        picked.append(feed_id)
        if len(picked) >= policy.batch_size:
            break
    return picked


async def lease_due_feeds(
    storage: Storage, owner: str, policy: LeasePolicy, *, now: datetime | None = None
) -> list[FeedState]:
    """Lease up to ``policy.batch_size`` due feeds for ``owner``; they are its own until released.

    A feed is due when it is enabled, its next fetch time has come and nobody holds a
    live lease on it. Hosts held by Retry-After are skipped; hosts at their limit of
    leased feeds (counting every worker's leases) are skipped.
    """
    now = now or utcnow()
    expires = now + timedelta(seconds=policy.lease_seconds)
    async with storage.session() as session, session.begin():
        await _xact_lock(session, FEED_LEASE_LOCK)
        active: Counter[str] = Counter()
        if policy.per_host is not None:
            leased = await session.scalars(
                select(FeedRow.url).where(FeedRow.lease_expires_at > now, FeedRow.lease_owner.is_not(None))
            )
            active.update(host_key(url) for url in leased)
        limits: dict[str, int | None] = {}
        held: set[str] = set()
        for host, concurrency, until in await session.execute(
            select(hosts.c.host, hosts.c.concurrency, hosts.c.retry_after_until)
        ):
            if concurrency is not None:
                limits[host] = int(concurrency)
            if until is not None and until > now:
                held.add(host)
        scan = max(policy.batch_size * _SCAN_FACTOR, _SCAN_MIN)
        candidates = (
            await session.execute(
                select(FeedRow.id, FeedRow.url)
                .where(*_due(now))  # type: ignore[arg-type]
                .order_by(FeedRow.next_fetch_at.asc().nulls_first(), FeedRow.id)
                .limit(scan)
            )
        ).tuples()
        picked = _pick(list(candidates), active, limits, held, policy)
        if not picked:
            return []
        lock_query = select(FeedRow.id).where(FeedRow.id.in_(picked), *_due(now))  # type: ignore[arg-type]
        if session.bind.dialect.name == "postgresql":
            lock_query = lock_query.with_for_update(skip_locked=True)
        locked = list(await session.scalars(lock_query))
        if not locked:
            return []
        # The due conditions again: on SQLite the SELECTs above run outside the write
        # lock, so only this statement decides atomically (PostgreSQL has decided already).
        rows = await session.scalars(
            update(FeedRow)
            .where(FeedRow.id.in_(locked), *_due(now))  # type: ignore[arg-type]
            .values(lease_owner=owner, lease_expires_at=expires)
            .returning(FeedRow)
            .execution_options(synchronize_session=False)
        )
        states = sorted((_feed_state(row) for row in rows), key=lambda s: (s.next_fetch_at is not None, s.id))
        return states


async def renew_feeds(
    storage: Storage,
    owner: str,
    feed_ids: Sequence[int],
    lease_seconds: float,
    *,
    now: datetime | None = None,
) -> int:
    """Extend ``owner``'s leases on these feeds (a heartbeat during a long batch); returns how many."""
    if not feed_ids:
        return 0
    now = now or utcnow()
    async with storage.session() as session, session.begin():
        result = await session.execute(
            update(FeedRow)
            .where(FeedRow.id.in_(list(feed_ids)), FeedRow.lease_owner == owner)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def release_feeds(storage: Storage, owner: str, feed_ids: Sequence[int] | None = None) -> int:
    """Give back ``owner``'s leases (on these feeds, or all of them); returns how many.

    A lease that expired and was taken by another worker is left alone.
    """
    async with storage.session() as session, session.begin():
        query = update(FeedRow).where(FeedRow.lease_owner == owner)
        if feed_ids is not None:
            if not feed_ids:
                return 0
            query = query.where(FeedRow.id.in_(list(feed_ids)))
        result = await session.execute(
            query.values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def count_due(storage: Storage, *, now: datetime | None = None) -> int:
    """Feeds due now and not leased (the backlog a metrics scrape shows)."""
    now = now or utcnow()
    async with storage.session() as session:
        return int(
            await session.scalar(select(func.count(FeedRow.id)).where(*_due(now)))  # type: ignore[arg-type]
            or 0
        )


async def count_leased(storage: Storage, *, now: datetime | None = None) -> int:
    """Feeds under a live lease (being fetched by some worker)."""
    now = now or utcnow()
    async with storage.session() as session:
        return int(
            await session.scalar(select(func.count(FeedRow.id)).where(FeedRow.lease_expires_at > now)) or 0
        )


# ------------------------------------------------------------------------ hosts


def _upsert(storage: Storage, values: dict[str, object], update_set: dict[str, object]) -> object:
    insert = pg_insert if storage.backend == "postgresql" else sqlite_insert
    stmt = insert(hosts).values(**values)
    return stmt.on_conflict_do_update(index_elements=[hosts.c.host], set_=update_set)


async def hold_host(storage: Storage, host: str, until: datetime) -> None:
    """No feed of ``host`` is leased before ``until`` (a later hold already stored wins)."""
    now = utcnow()
    new = literal(until, UTCDateTime)
    # SQLite's two-argument max() is PostgreSQL's greatest(); both return NULL if one side is.
    later = func.max if storage.backend == "sqlite" else func.greatest
    stmt = _upsert(
        storage,
        {"host": host, "retry_after_until": until, "updated_at": now},
        {
            "retry_after_until": func.coalesce(later(hosts.c.retry_after_until, new), new),
            "updated_at": now,
        },
    )
    async with storage.session() as session, session.begin():
        await session.execute(stmt)  # type: ignore[call-overload]


async def set_host_concurrency(storage: Storage, host: str, concurrency: int | None) -> None:
    """Set (or clear, with None) a host's own limit of feeds fetched at once across workers."""
    if concurrency is not None and concurrency < 1:
        raise ValueError("host concurrency must be at least 1")
    now = utcnow()
    stmt = _upsert(
        storage,
        {"host": host, "concurrency": concurrency, "updated_at": now},
        {"concurrency": concurrency, "updated_at": now},
    )
    async with storage.session() as session, session.begin():
        await session.execute(stmt)  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class HostState:
    """A host's stored politeness settings."""

    host: str
    concurrency: int | None
    retry_after_until: datetime | None


async def host_states(storage: Storage) -> list[HostState]:
    """Every host with stored settings, by name."""
    async with storage.session() as session:
        rows = await session.execute(
            select(hosts.c.host, hosts.c.concurrency, hosts.c.retry_after_until).order_by(hosts.c.host)
        )
        return [HostState(h, c, u) for h, c, u in rows]


@dataclass(frozen=True, slots=True)
class ScaleStatus:
    """Who is fetching what right now, for ``newsbot status`` and ``/status``."""

    feeds_due: int
    feeds_leased: int
    workers: dict[str, int]
    hosts_held: dict[str, datetime]

    def as_dict(self) -> dict[str, object]:
        """JSON-able form (times as ISO 8601)."""
        return {
            "feeds_due": self.feeds_due,
            "feeds_leased": self.feeds_leased,
            "workers": dict(self.workers),
            "hosts_held": {h: t.isoformat() for h, t in self.hosts_held.items()},
        }


async def scale_status(storage: Storage, *, now: datetime | None = None) -> ScaleStatus:
    """Due and leased feeds, live lease holders (workers) with their counts, held hosts."""
    now = now or utcnow()
    async with storage.session() as session:
        workers = {
            str(owner): int(n)
            for owner, n in await session.execute(
                select(FeedRow.lease_owner, func.count())
                .where(FeedRow.lease_expires_at > now, FeedRow.lease_owner.is_not(None))
                .group_by(FeedRow.lease_owner)
            )
        }
        held = {
            str(host): until
            for host, until in await session.execute(
                select(hosts.c.host, hosts.c.retry_after_until).where(hosts.c.retry_after_until > now)
            )
        }
    return ScaleStatus(await count_due(storage, now=now), sum(workers.values()), workers, held)


# ----------------------------------------------------------------------- outbox


async def claim_outbox(
    storage: Storage,
    owner: str,
    *,
    limit: int = 20,
    lease_seconds: float = 60.0,
    now: datetime | None = None,
) -> list[int]:
    """Claim up to ``limit`` pending, due outbox messages for ``owner``; returns their ids, oldest first.

    A chat whose messages are claimed by another live sender is skipped entirely, so
    each chat's messages still go out in order with several senders. Mark each one
    sent/deferred/failed (storage.delivery) and then ``release_outbox``; a sender that
    dies leaves its claims to expire after ``lease_seconds``.
    """
    now = now or utcnow()
    async with storage.session() as session, session.begin():
        await _xact_lock(session, OUTBOX_LEASE_LOCK)
        busy = select(OutboxRow.chat_id).where(
            OutboxRow.status == _PENDING,
            OutboxRow.lease_expires_at > now,
            OutboxRow.lease_owner != owner,
        )
        query = (
            select(OutboxRow.id)
            .where(
                OutboxRow.status == _PENDING,
                OutboxRow.not_before <= now,
                or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
                OutboxRow.chat_id.not_in(busy),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(await session.scalars(query))
        if ids:
            result = await session.scalars(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(ids),
                    or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at <= now),
                )
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(OutboxRow.id)
                .execution_options(synchronize_session=False)
            )
            ids = sorted(result)
        return ids


async def release_outbox(storage: Storage, owner: str, outbox_ids: Sequence[int] | None = None) -> int:
    """Give back ``owner``'s outbox claims (these, or all); returns how many."""
    async with storage.session() as session, session.begin():
        query = update(OutboxRow).where(OutboxRow.lease_owner == owner)
        if outbox_ids is not None:
            if not outbox_ids:
                return 0
            query = query.where(OutboxRow.id.in_(list(outbox_ids)))
        result = await session.execute(
            query.values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def outbox_depth(storage: Storage) -> int:
    """Pending outbox messages (sent or failed ones are not counted)."""
    async with storage.session() as session:
        return int(
            await session.scalar(select(func.count(OutboxRow.id)).where(OutboxRow.status == _PENDING)) or 0
        )


# ---------------------------------------------------------------- process locks


@contextlib.asynccontextmanager
async def advisory_lock(storage: Storage, name: str) -> AsyncIterator[bool]:
    """Try to take the database-wide lock ``name``; yields whether this process got it.

    PostgreSQL: a session advisory lock on a dedicated connection, released on exit
    or when the connection dies with the process (no stale locks after SIGKILL).
    SQLite: always True (one process per database file is the SQLite deployment).
    """
    if storage.backend != "postgresql":
        yield True
        return
    async with storage.engine.connect() as conn:
        sql, params = _lock_sql(name, "pg_try_advisory_lock")
        got = bool(await conn.scalar(text(sql), params))
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                unlock, unlock_params = _lock_sql(name, "pg_advisory_unlock")
                with contextlib.suppress(Exception):  # a dead connection has dropped it already
                    await conn.scalar(text(unlock), unlock_params)
                    await conn.commit()


def claim_chat_digest(storage: Storage, chat_id: int) -> contextlib.AbstractAsyncContextManager[bool]:
    """Claim building and sending ``chat_id``'s due digest: yields whether this process has it.

    Several bot processes (webhook mode) run the digest job at once; whoever holds the claim
    builds the digest, and the others skip that chat. The holder must re-read what is due
    under the claim: a process that saw the chat due a moment ago may get the claim just
    after another one has written the digest and moved the schedule on. PostgreSQL: a
    session advisory lock, gone with its process. SQLite (one process): always granted.
    """
    return advisory_lock(storage, f"digest-chat:{chat_id}")


class SessionLock:
    """A database-wide lock held across transactions, for leadership (e.g. the one tracker).

    PostgreSQL: a session advisory lock on a connection of its own, kept until
    ``release`` or until the connection (the process) dies. SQLite: always granted.
    """

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage = storage
        self.name = name
        self._conn: AsyncConnection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lock."""
        return self._held

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (now or already)."""
        if self._held:
            return True
        if self.storage.backend != "postgresql":
            self._held = True
            return True
        conn = await self.storage.engine.connect()
        try:
            sql, params = _lock_sql(self.name, "pg_try_advisory_lock")
            got = bool(await conn.scalar(text(sql), params))
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn, self._held = conn, True
        return True

    async def still_held(self) -> bool:
        """Check the lock's connection; on failure the lock is gone (the server dropped it)."""
        if not self._held:
            return False
        if self._conn is None:
            return True
        try:
            await self._conn.scalar(text("SELECT 1"))
            await self._conn.commit()
        except Exception as exc:
            log.error("lost the %r lock: %s", self.name, exc)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Give the lock up (closing the connection releases it too)."""
        if self._conn is not None and self._held:
            with contextlib.suppress(Exception):
                sql, params = _lock_sql(self.name, "pg_advisory_unlock")
                await self._conn.scalar(text(sql), params)
                await self._conn.commit()
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def tracker_position(storage: Storage, name: str) -> int | None:
    """The last item id the saved tracker state has seen (None: never saved)."""
    async with storage.session() as session:
        value = await session.scalar(select(TrackerStateRow.last_item_id).where(TrackerStateRow.name == name))
        return None if value is None else int(value)


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            sql, params = _lock_sql(MIGRATION_LOCK, "pg_advisory_lock")
            conn.execute(text(sql), params)
            conn.commit()
            try:
                yield
            finally:
                unlock, unlock_params = _lock_sql(MIGRATION_LOCK, "pg_advisory_unlock")
                conn.execute(text(unlock), unlock_params)
                conn.commit()
    finally:
        engine.dispose()


def upgrade_once(url: str) -> None:
    """Apply migrations, one process at a time (workers starting together must not race)."""
    if backend_name(url) != "postgresql":
        upgrade(url)
        return
    with _migration_lock(url):
        upgrade(url)


__all__ = [
    "FEED_LEASE_LOCK",
    "TRACKER_LOCK",
    "HostState",
    "LeasePolicy",
    "ScaleStatus",
    "SessionLock",
    "advisory_lock",
    "claim_outbox",
    "count_due",
    "count_leased",
    "hold_host",
    "host_key",
    "host_states",
    "lease_due_feeds",
    "outbox_depth",
    "release_feeds",
    "release_outbox",
    "renew_feeds",
    "scale_status",
    "set_host_concurrency",
    "tracker_position",
    "upgrade_once",
    "worker_name",
]
