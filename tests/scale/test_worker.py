"""One worker in-process against a real feed farm: lease, poll, release, share Retry-After, stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Config, DatabaseConfig, FetchConfig, WorkerConfig
from bot.observability import FEEDS_FAILED, FEEDS_FETCHED, ITEMS_NEW, Metrics
from bot.worker import Worker
from storage.leasing import count_leased, host_key, host_states
from storage.models import FeedRow, ItemRow
from storage.repository import Storage
from tests.scale.farm import FeedFarm


def _config(url: str, **worker: object) -> Config:
    settings: dict[str, object] = {"batch_size": 50, "lease_seconds": 30, "idle_seconds": 0.1, "track": False}
    settings.update(worker)
    return Config(
        database=DatabaseConfig(url=url),
        fetch=FetchConfig(
            interval=3600, jitter=0, allow_private_networks=True, per_host_concurrency=100, timeout=10
        ),
        worker=WorkerConfig.model_validate(settings),
    )


def worker_command(config: Path) -> list[str]:
    """``newsbot worker --config X`` as a subprocess."""
    return [sys.executable, "-m", "bot.cli", "worker", "--config", str(config)]


def test_worker_refuses_sqlite_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "x.db"}"\n')
    done = subprocess.run(
        worker_command(config),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "newsbot worker needs PostgreSQL" in done.stderr
    assert "newsbot run" in done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


async def test_a_batch_is_leased_polled_stored_and_released(storage: Storage) -> None:
    metrics = Metrics()
    with FeedFarm(items=2) as farm:
        for n in range(12):
            await storage.add_feed(farm.url(n))
        worker = Worker(storage, _config(storage.url, batch_size=5), name="w-test", metrics=metrics)
        async with worker.poller:
            results = [await worker.run_batch() for _ in range(4)]
    assert [r.leased for r in results] == [5, 5, 2, 0]
    assert all(r.released == r.leased for r in results)
    assert sorted(farm.counts().values()) == [1] * 12
    assert await count_leased(storage) == 0
    assert await storage.item_count() == 24
    assert metrics.value(FEEDS_FETCHED, kind="ok") == 12
    assert metrics.value(ITEMS_NEW) == 24
    async with storage.session() as session:
        pending = await session.scalar(
            select(func.count(FeedRow.id)).where(FeedRow.last_fetched_at.is_(None))
        )
    assert pending == 0


async def test_retry_after_from_one_host_holds_it_for_every_worker(storage: Storage) -> None:
    metrics = Metrics()
    with FeedFarm() as slow, FeedFarm() as fine:
        slow.throttle["/feed/0.xml"] = 600
        for n in range(3):
            await storage.add_feed(slow.url(n))
            await storage.add_feed(fine.url(n))
        config = _config(storage.url, batch_size=1)
        first = Worker(storage, config, name="w1", metrics=metrics)
        async with first.poller:
            result = await first.run_batch()  # the oldest feed: slow's /feed/0.xml, answered 429
        assert result.leased == 1 and slow.counts() == {"/feed/0.xml": 1}
        assert metrics.value(FEEDS_FAILED, kind="error") == 1
        holds = {h.host: h.retry_after_until for h in await host_states(storage)}
        assert set(holds) == {host_key(slow.url(0))}
        # Another worker now leases only the other host's feeds.
        second = Worker(storage, _config(storage.url, batch_size=50), name="w2", metrics=metrics)
        async with second.poller:
            result = await second.run_batch()
        assert result.leased == 3
        assert sum(fine.counts().values()) == 3
        assert sum(slow.counts().values()) == 1


async def test_stop_mid_batch_releases_the_leases_after_the_grace(storage: Storage) -> None:
    with FeedFarm(delay=3.0) as farm:
        for n in range(4):
            await storage.add_feed(farm.url(n))
        worker = Worker(storage, _config(storage.url, shutdown_grace=0.2), name="w-stop", metrics=Metrics())
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(100):
            if await count_leased(storage) == 4:
                break
            await asyncio.sleep(0.05)
        assert await count_leased(storage) == 4
        stop.set()
        await asyncio.wait_for(task, 5)
        assert await count_leased(storage) == 0
        async with storage.session() as session:
            owners = set(await session.scalars(select(FeedRow.lease_owner)))
            items = await session.scalar(select(func.count(ItemRow.id)))
        assert owners == {None}
        assert items == 0  # cancelled before anything was stored: the feeds stay due for others


async def test_metrics_and_health_over_http_after_a_batch(storage: Storage) -> None:
    from bot.observability import MetricsServer
    from tests.scale.test_observability import _get

    metrics = Metrics()
    with FeedFarm(items=3) as farm:
        for n in range(5):
            await storage.add_feed(farm.url(n))
        worker = Worker(storage, _config(storage.url), name="w-metrics", metrics=metrics)
        async with worker.poller:
            await worker.run_batch()
        async with MetricsServer(metrics, collect=worker.collect, health=worker.health) as server:
            status, body = await _get(server.port, "/metrics")
            health = await _get(server.port, "/healthz")
    assert status == 200
    assert 'newsbot_feeds_fetched_total{kind="ok"} 5' in body
    assert "newsbot_items_new_total 15" in body
    assert "newsbot_items_stored 15" in body
    assert "newsbot_feeds_due 0" in body
    assert "newsbot_feeds_leased 0" in body
    assert "newsbot_outbox_depth 0" in body
    assert "newsbot_poll_batch_seconds_count 1" in body
    assert health == (200, "ok\n")


async def test_worker_survives_its_database_connections_being_killed(database_url: str) -> None:
    import uuid

    from sqlalchemy import text

    from storage.db import make_async_engine

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connections to kill")
    tag = f"newsbot-test-{uuid.uuid4().hex[:8]}"
    storage = Storage(make_async_engine(database_url, connect_args={"application_name": tag}), database_url)
    admin = Storage.connect(database_url)
    stop = asyncio.Event()
    try:
        with FeedFarm() as farm:
            await storage.add_feed(farm.url(0))
            worker = Worker(storage, _config(database_url, idle_seconds=0.1), name="w-db", metrics=Metrics())
            task = asyncio.create_task(worker.run(stop))
            for _ in range(100):
                if farm.counts():
                    break
                await asyncio.sleep(0.05)
            async with admin.session() as session:
                killed = await session.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :t"
                    ),
                    {"t": tag},
                )
            assert killed and killed > 0
            await admin.add_feed(farm.url(1))
            for _ in range(200):
                if "/feed/1.xml" in farm.counts():
                    break
                await asyncio.sleep(0.05)
            counts = farm.counts()
            # Feed 1 was added after the kill: the worker reconnected and went on. Feed 0 may have
            # been fetched twice if the kill landed while its state was being saved (a failed save
            # costs a re-fetch, never an item), so it counts at least once.
            assert counts["/feed/1.xml"] == 1 and counts["/feed/0.xml"] >= 1, counts
            assert set(counts) == {"/feed/0.xml", "/feed/1.xml"}
            assert not task.done()
            stop.set()
            await asyncio.wait_for(task, 10)
    finally:
        await storage.close()
        await admin.close()


async def test_exactly_one_worker_tracks_and_a_successor_takes_over(database_url: str) -> None:
    """The tracker lock makes one worker the tracker; when it stops, another resumes from saved state."""
    first_store, second_store = Storage.connect(database_url), Storage.connect(database_url)
    try:
        with FeedFarm(items=3) as farm:
            for n in range(6):
                await first_store.add_feed(farm.url(n))
            config = _config(database_url, batch_size=3, track=True)
            first = Worker(first_store, config, name="w-a", metrics=Metrics())
            second = Worker(second_store, config, name="w-b", metrics=Metrics())
            async with first.poller, second.poller:
                await first.run_batch()
                decided = await first.track()
                assert len(decided) == 9 and first.tracker_lock.held
                await second.run_batch()
                if database_url.startswith("postgresql"):
                    assert await second.track() == []  # the lock is taken: this worker only fetches
                    assert not second.tracker_lock.held
                    assert len(await first.track()) == 9  # the leader decides on the other's items too
                    await first.tracker_lock.release()  # the leader stops (or dies)
                    assert await second.track() == []  # successor: loads the saved state, nothing new
                    assert second.tracker_lock.held and second.tracking is not None
                    assert first.tracking is not None
                    assert second.tracking.last_item_id == first.tracking.last_item_id
                else:
                    assert len(await second.track()) == 9  # SQLite: one process, the lock is always granted
            await second.tracker_lock.release()
        async with first_store.session() as session:
            untracked = await session.scalar(select(func.count(ItemRow.id)).where(ItemRow.tracked.is_(False)))
        assert untracked == 0
    finally:
        await first_store.close()
        await second_store.close()


async def test_the_tracker_sees_an_item_whose_transaction_commits_late(database_url: str) -> None:
    """Ids are drawn at insert, commits land later: a late commit below the cursor is still tracked."""
    from datetime import UTC, datetime

    from bot.worker import FleetTracking
    from stories.model import Item

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: commits cannot interleave")
    storage = Storage.connect(database_url)
    try:
        feed = await storage.add_feed("http://a.example/feed.xml")
        assert feed.id is not None
        now = datetime.now(UTC)
        tracking = FleetTracking(storage)
        await tracking.start()
        async with storage.session() as slow:
            await slow.begin()
            late = ItemRow(
                url="http://a.example/late", title="Late", outlet="A", published=now, first_seen=now
            )
            slow.add(late)
            await slow.flush()  # id drawn, not committed
            item = Item(
                guid="early",
                url="http://a.example/early",
                title="Early",
                summary="",
                published=now,
                outlet="A",
            )
            [(early_id, _)] = (await storage.store_items(feed.id, [item], fetched_at=now)).new
            assert early_id > late.id
            await tracking.track_pending()
            assert [d.key for d in tracking.take_decisions()] == [early_id]
            await slow.commit()
        await tracking.track_pending()
        assert [d.key for d in tracking.take_decisions()] == [late.id]
        async with storage.session() as session:
            assert await session.scalar(select(func.count(ItemRow.id)).where(ItemRow.tracked.is_(False))) == 0
    finally:
        await storage.close()


async def test_one_slow_feed_does_not_hold_up_the_others(storage: Storage) -> None:
    with FeedFarm() as farm:
        farm.slow["/feed/0.xml"] = 6.0
        for n in range(41):
            await storage.add_feed(farm.url(n))
        worker = Worker(storage, _config(storage.url, batch_size=10), name="w-lanes", metrics=Metrics())
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            # /feed/0.xml is in the first batch and answers after 6 s; the other lane goes on:
            # well before those 6 s, every batch but the slow one's has been fetched and saved.
            started = asyncio.get_running_loop().time()
            saved: int | None = 0
            while asyncio.get_running_loop().time() - started < 5.0:
                async with storage.session() as session:
                    saved = await session.scalar(
                        select(func.count(FeedRow.id)).where(FeedRow.last_fetched_at.is_not(None))
                    )
                if saved is not None and saved >= 31:
                    break
                await asyncio.sleep(0.05)
            assert saved is not None and saved >= 31, saved
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
