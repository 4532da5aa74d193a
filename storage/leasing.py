"""Feed leases and host holds: how several fetch workers share the due feeds of one database.

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

The outbox is claimed the same way (``storage.outbox.claim_outbox``), so several bot
processes behind a load balancer never send one message twice; the locks themselves
live in ``storage.locks``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Sequence
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
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stories.model import FeedState

from .feed_store import _feed_state
from .locks import FEED_LEASE_LOCK, xact_lock
from .models import NAMING, FeedRow, OutboxRow, UTCDateTime, utcnow
from .repository import Storage

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

# How many due rows are looked at to fill one batch when some hosts are at their limit.
_SCAN_FACTOR = 20
_SCAN_MIN = 500


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
        await xact_lock(session, FEED_LEASE_LOCK)
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
    return await release_leases(storage, FeedRow, owner, feed_ids)


async def release_leases(
    storage: Storage, table: type[FeedRow] | type[OutboxRow], owner: str, ids: Sequence[int] | None
) -> int:
    """Give back ``owner``'s leases on rows of ``table`` (these ids, or all); returns how many."""
    async with storage.session() as session, session.begin():
        query = update(table).where(table.lease_owner == owner)
        if ids is not None:
            if not ids:
                return 0
            query = query.where(table.id.in_(list(ids)))
        result = await session.execute(
            query.values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def count_due(storage: Storage, *, now: datetime | None = None) -> int:
    """Feeds due now and not leased (the backlog a metrics scrape shows)."""
    return await storage.count_rows(FeedRow.id, *_due(now or utcnow()))  # type: ignore[arg-type]


async def count_leased(storage: Storage, *, now: datetime | None = None) -> int:
    """Feeds under a live lease (being fetched by some worker)."""
    return await storage.count_rows(FeedRow.id, FeedRow.lease_expires_at > (now or utcnow()))


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


__all__ = [
    "HostState",
    "LeasePolicy",
    "ScaleStatus",
    "count_due",
    "count_leased",
    "hold_host",
    "host_key",
    "host_states",
    "lease_due_feeds",
    "release_feeds",
    "renew_feeds",
    "scale_status",
    "set_host_concurrency",
    "worker_name",
]
