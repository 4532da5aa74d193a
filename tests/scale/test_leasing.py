"""Leasing due feeds and outbox messages between workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.leasing import (
    LeasePolicy,
    count_due,
    count_leased,
    hold_host,
    host_key,
    host_states,
    lease_due_feeds,
    release_feeds,
    renew_feeds,
    scale_status,
    set_host_concurrency,
)
from storage.locks import advisory_lock
from storage.models import FeedRow, OutboxRow, utcnow
from storage.outbox import claim_outbox, release_outbox
from storage.repository import Storage

UNLIMITED = LeasePolicy(batch_size=1000, lease_seconds=60, per_host=None)


async def _add(storage: Storage, count: int, host: str = "a.example") -> list[int]:
    ids = []
    for n in range(count):
        state = await storage.add_feed(f"https://{host}/feed/{n}.xml")
        assert state.id is not None
        ids.append(state.id)
    return ids


async def test_two_workers_lease_disjoint_batches_covering_every_due_feed(storage: Storage) -> None:
    await _add(storage, 30)
    now = utcnow() + timedelta(seconds=1)
    policy = LeasePolicy(batch_size=12, lease_seconds=60, per_host=None)
    first = await lease_due_feeds(storage, "w1", policy, now=now)
    second = await lease_due_feeds(storage, "w2", policy, now=now)
    third = await lease_due_feeds(storage, "w3", policy, now=now)
    assert [len(first), len(second), len(third)] == [12, 12, 6]
    ids = [s.id for s in first + second + third]
    assert len(set(ids)) == 30
    assert await lease_due_feeds(storage, "w4", policy, now=now) == []
    assert await count_leased(storage, now=now) == 30
    assert await count_due(storage, now=now) == 0
    # Releasing hands the (still due) feeds back; only the owner's leases are released.
    assert await release_feeds(storage, "w2", [s.id for s in first if s.id is not None]) == 0
    assert await release_feeds(storage, "w1", [s.id for s in first if s.id is not None]) == 12
    again = await lease_due_feeds(storage, "w4", policy, now=now)
    assert sorted(s.id for s in again) == sorted(s.id for s in first)


async def test_a_dead_workers_leases_expire_and_return_to_the_pool(storage: Storage) -> None:
    await _add(storage, 5)
    now = utcnow() + timedelta(seconds=1)
    policy = LeasePolicy(batch_size=10, lease_seconds=30, per_host=None)
    dead = await lease_due_feeds(storage, "dead", policy, now=now)
    assert len(dead) == 5
    assert await lease_due_feeds(storage, "alive", policy, now=now + timedelta(seconds=29)) == []
    taken = await lease_due_feeds(storage, "alive", policy, now=now + timedelta(seconds=31))
    assert sorted(s.id for s in taken) == sorted(s.id for s in dead)
    # The dead worker's late release no longer touches them.
    assert await release_feeds(storage, "dead") == 0
    async with storage.session() as session:
        owners = set(await session.scalars(select(FeedRow.lease_owner)))
    assert owners == {"alive"}


async def test_renewing_keeps_a_long_batch_leased(storage: Storage) -> None:
    ids = await _add(storage, 3)
    now = utcnow() + timedelta(seconds=1)
    policy = LeasePolicy(batch_size=10, lease_seconds=10, per_host=None)
    await lease_due_feeds(storage, "slow", policy, now=now)
    assert await renew_feeds(storage, "slow", ids, 60, now=now + timedelta(seconds=9)) == 3
    assert await renew_feeds(storage, "other", ids, 60, now=now) == 0
    assert await lease_due_feeds(storage, "thief", policy, now=now + timedelta(seconds=30)) == []


async def test_per_host_limit_holds_across_workers(storage: Storage) -> None:
    await _add(storage, 10, "a.example")
    await _add(storage, 10, "b.example:8080")
    now = utcnow() + timedelta(seconds=1)
    policy = LeasePolicy(batch_size=50, lease_seconds=60, per_host=2)
    first = await lease_due_feeds(storage, "w1", policy, now=now)
    assert sorted(host_key(s.url) for s in first) == ["a.example"] * 2 + ["b.example:8080"] * 2
    assert await lease_due_feeds(storage, "w2", policy, now=now) == []
    await release_feeds(storage, "w1")
    second = await lease_due_feeds(storage, "w2", policy, now=now)
    assert len(second) == 4
    # A stored override raises one host's limit for every worker.
    await set_host_concurrency(storage, "a.example", 5)
    third = await lease_due_feeds(storage, "w3", policy, now=now)
    assert sorted(host_key(s.url) for s in third) == ["a.example"] * 3
    assert {h.host: h.concurrency for h in await host_states(storage)} == {"a.example": 5}


async def test_a_held_host_is_not_leased_until_its_retry_after(storage: Storage) -> None:
    await _add(storage, 2, "slow.example")
    await _add(storage, 2, "fast.example")
    now = utcnow() + timedelta(seconds=1)
    await hold_host(storage, "slow.example", now + timedelta(minutes=10))
    # An earlier hold does not shorten a later one.
    await hold_host(storage, "slow.example", now + timedelta(minutes=1))
    [state] = await host_states(storage)
    assert state.retry_after_until is not None
    assert state.retry_after_until >= now + timedelta(minutes=9)
    leased = await lease_due_feeds(storage, "w", UNLIMITED, now=now)
    assert {host_key(s.url) for s in leased} == {"fast.example"}
    await release_feeds(storage, "w")
    later = await lease_due_feeds(storage, "w", UNLIMITED, now=now + timedelta(minutes=11))
    assert sorted(host_key(s.url) for s in later) == ["fast.example"] * 2 + ["slow.example"] * 2


async def test_disabled_and_not_yet_due_feeds_are_not_leased(storage: Storage) -> None:
    await _add(storage, 3)
    await storage.set_feed_enabled("https://a.example/feed/0.xml", False)
    async with storage.session() as session, session.begin():
        row = await session.scalar(select(FeedRow).where(FeedRow.url == "https://a.example/feed/1.xml"))
        assert row is not None
        row.next_fetch_at = utcnow() + timedelta(hours=1)
    leased = await lease_due_feeds(storage, "w", UNLIMITED, now=utcnow() + timedelta(seconds=1))
    assert [s.url for s in leased] == ["https://a.example/feed/2.xml"]


@pytest.mark.parametrize(
    "url,key",
    [
        ("https://Example.COM/feed", "example.com"),
        ("http://example.com:8080/x", "example.com:8080"),
        ("https://[::1]:443/x", "::1:443"),
        ("https://user:pw@host.example/x", "host.example"),
        ("http://host.example:bad/x", "host.example"),
    ],
)
def test_host_key(url: str, key: str) -> None:
    assert host_key(url) == key


async def test_concurrent_leasers_never_share_a_feed(storage: Storage) -> None:
    await _add(storage, 200)
    now = utcnow() + timedelta(seconds=1)
    policy = LeasePolicy(batch_size=7, lease_seconds=60, per_host=None)
    stores = [Storage.connect(storage.url) for _ in range(4)]
    try:

        async def drain(store: Storage, name: str) -> list[int]:
            got: list[int] = []
            while batch := await lease_due_feeds(store, name, policy, now=now):
                got.extend(s.id for s in batch if s.id is not None)
            return got

        results = await asyncio.gather(*(drain(s, f"w{n}") for n, s in enumerate(stores)))
    finally:
        for store in stores:
            await store.close()
    flat = [i for r in results for i in r]
    assert len(flat) == len(set(flat)) == 200


async def _outbox(storage: Storage, chat_id: int, count: int) -> list[int]:
    async with storage.session() as session, session.begin():
        rows = [
            OutboxRow(
                chat_id=chat_id, kind="digest", text=f"m{n}", not_before=utcnow() - timedelta(seconds=1)
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


async def test_outbox_claims_are_exclusive_and_keep_each_chat_with_one_sender(storage: Storage) -> None:
    chat_a = await _outbox(storage, 1, 3)
    chat_b = await _outbox(storage, 2, 2)
    first = await claim_outbox(storage, "s1", limit=2)
    assert first == chat_a[:2]
    # Chat 1 is busy with s1, so s2 gets only chat 2's messages.
    second = await claim_outbox(storage, "s2", limit=10)
    assert second == chat_b
    assert await claim_outbox(storage, "s3", limit=10) == []
    assert await release_outbox(storage, "s1", first) == 2
    assert await claim_outbox(storage, "s3", limit=10) == chat_a
    # Expired claims come back.
    later = utcnow() + timedelta(seconds=120)
    assert await claim_outbox(storage, "s4", limit=10, now=later) == chat_a + chat_b


async def test_advisory_lock_admits_one_holder(storage: Storage) -> None:
    other = Storage.connect(storage.url)
    try:
        async with advisory_lock(storage, "unit-test") as first:
            assert first
            async with advisory_lock(other, "unit-test") as second:
                assert second is (storage.backend != "postgresql")
        async with advisory_lock(other, "unit-test") as third:
            assert third
    finally:
        await other.close()


async def test_scale_status_shows_workers_and_held_hosts(storage: Storage) -> None:
    await _add(storage, 4, "a.example")
    await _add(storage, 2, "b.example")
    now = utcnow() + timedelta(seconds=1)
    await hold_host(storage, "b.example", now + timedelta(minutes=5))
    await lease_due_feeds(storage, "w1", LeasePolicy(batch_size=3, per_host=None), now=now)
    status = await scale_status(storage, now=now)
    assert status.workers == {"w1": 3}
    assert status.feeds_leased == 3
    assert status.feeds_due == 3  # one of a.example and both of b.example (held, but due)
    assert set(status.hosts_held) == {"b.example"}
    assert status.as_dict()["workers"] == {"w1": 3}
