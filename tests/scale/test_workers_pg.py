"""Acceptance (issue 7): three worker processes share 2,000 feeds on the real PostgreSQL server.

Round 1: over one interval every due feed is fetched exactly once (the farm's request
log shows it). Round 2: every feed gets new entries and is due again; one worker is
SIGKILLed mid-cycle. After its leases expire the others fetch what it held, so no feed
is left unfetched, only feeds it held were fetched twice, and no item is stored twice.
The killed worker is the tracker: another worker takes the tracker lock over and decides
on every item. Finally SIGTERM stops the survivors cleanly (exit 0), leases released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import Engine

from storage.models import FeedRow, ItemRow, ItemSourceRow, utcnow
from tests.conftest import PG_ENV, PG_SKIP
from tests.scale.farm import FeedFarm
from tests.scale.test_worker import worker_command

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_SKIP)]

FEEDS = 2000
ITEMS = 2
WORKERS = 3
LEASE_SECONDS = 15


def _write_config(path: Path, url: str) -> Path:
    path.write_text(
        f"""
[database]
url = "{url}"

[fetch]
interval = 3600
jitter = 0
concurrency = 20
per_host_concurrency = 1000
timeout = 20
allow_private_networks = true

[worker]
batch_size = 20
lease_seconds = {LEASE_SECONDS}
idle_seconds = 0.3
shutdown_grace = 10
track = true
""",
        encoding="utf-8",
    )
    return path


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _fetched_since(engine: Engine, since: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count(FeedRow.id)).where(FeedRow.last_fetched_at >= since)) or 0)


def _batches_done(engine: Engine) -> bool:
    """No feed under a live lease: no worker is in a batch, so no fetch is in flight (a worker
    leases before it fetches and releases after it saved), and none is due to start one."""
    with engine.connect() as conn:
        return not conn.scalar(select(func.count(FeedRow.id)).where(FeedRow.lease_expires_at > utcnow()))


def test_three_workers_share_feeds_and_survive_a_sigkill(tmp_path: Path, pg_url: str) -> None:
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    procs: list[subprocess.Popen[bytes]] = []
    with FeedFarm(items=ITEMS, delay=0.01) as farm:
        try:
            with engine.begin() as conn:
                farm.add_feeds(conn, FEEDS, due_at=utcnow())
            config = _write_config(tmp_path / "worker.toml", pg_url)
            logs = [(tmp_path / f"worker{n}.log").open("wb") for n in range(WORKERS)]
            round1 = utcnow()
            procs = [
                subprocess.Popen(worker_command(config), stdout=log, stderr=subprocess.STDOUT) for log in logs
            ]

            # ---- round 1: every feed exactly once
            _wait(lambda: _fetched_since(engine, round1) == FEEDS, 240, "round 1 to fetch every feed")
            _wait(lambda: _batches_done(engine), 60, "every batch to end")  # a second fetch would be in one
            counts = farm.counts()
            assert len(counts) == FEEDS
            assert set(counts) == {f"/feed/{n}.xml" for n in range(FEEDS)}
            assert max(counts.values()) == 1, [p for p, c in counts.items() if c > 1][:10]
            with engine.connect() as conn:
                assert conn.scalar(select(func.count(ItemRow.id))) == FEEDS * ITEMS
                # every worker took part
                assert all(p.poll() is None for p in procs)
            for n in range(WORKERS):
                logs[n].flush()
            batches = [(tmp_path / f"worker{n}.log").read_text().count("event=batch") for n in range(WORKERS)]
            assert all(b > 0 for b in batches), batches

            # ---- round 2: new entries everywhere, all due again; kill one worker mid-cycle
            farm.round = 1
            mark = time.monotonic()
            round2 = utcnow()
            with engine.begin() as conn:
                conn.execute(update(FeedRow).values(next_fetch_at=round2 - timedelta(seconds=1)))
            _wait(lambda: len(farm.requests(mark)) >= FEEDS // 3, 120, "round 2 to get going")
            # Kill the tracker (the leader), so the hand-over is exercised too.
            leaders = [
                n
                for n in range(WORKERS)
                if "event=tracker_leader" in (tmp_path / f"worker{n}.log").read_text()
            ]
            assert len(leaders) == 1, leaders
            victim = procs[leaders[0]]

            def victim_holds_leases() -> bool:
                with engine.connect() as conn:
                    return bool(
                        conn.scalar(
                            select(func.count(FeedRow.id)).where(
                                FeedRow.lease_owner.like(f"%:{victim.pid}:%"),
                                FeedRow.lease_expires_at > utcnow(),
                            )
                        )
                    )

            # Between batches the tracker holds no leases; kill it mid-batch.
            _wait(victim_holds_leases, 60, "the tracker worker to hold leases")
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            with engine.connect() as conn:
                held = set(
                    conn.scalars(
                        select(FeedRow.url).where(
                            FeedRow.lease_owner.like(f"%:{victim.pid}:%"), FeedRow.lease_expires_at > utcnow()
                        )
                    )
                )
            assert held, "the killed worker held no leases; kill earlier"
            _wait(
                lambda: _fetched_since(engine, round2) == FEEDS,
                240,
                "round 2 to fetch every feed after the lease expiry",
            )
            _wait(lambda: _batches_done(engine), 60, "every batch to end")
            counts2 = farm.counts(mark)
            assert set(counts2) == {f"/feed/{n}.xml" for n in range(FEEDS)}
            twice = {p for p, c in counts2.items() if c > 1}
            held_paths = {"/" + u.split("/", 3)[3] for u in held}
            assert twice <= held_paths, sorted(twice - held_paths)[:10]
            assert max(counts2.values()) <= 2
            with engine.connect() as conn:
                assert conn.scalar(select(func.count(ItemRow.id))) == FEEDS * ITEMS * 2
                assert conn.scalar(select(func.count(func.distinct(ItemRow.url)))) == FEEDS * ITEMS * 2
                assert conn.scalar(select(func.count(ItemSourceRow.id))) == FEEDS * ITEMS * 2
                unfetched = conn.scalar(
                    select(func.count(FeedRow.id)).where(
                        (FeedRow.last_fetched_at < round2) | FeedRow.last_fetched_at.is_(None)
                    )
                )
                assert unfetched == 0

            # ---- the tracker: a survivor took over and decided on every item
            def all_tracked() -> bool:
                with engine.connect() as conn:
                    return conn.scalar(select(func.count(ItemRow.id)).where(ItemRow.tracked.is_(False))) == 0

            _wait(all_tracked, 120, "a new tracker to decide on every item")
            logs_text = [(tmp_path / f"worker{n}.log").read_text() for n in range(WORKERS)]
            assert sum("event=tracker_leader" in text for text in logs_text) == 2

            # ---- SIGTERM: survivors stop cleanly and give their leases back
            survivors_procs = [p for p in procs if p is not victim]
            for proc in survivors_procs:
                proc.send_signal(signal.SIGTERM)
            assert [proc.wait(30) for proc in survivors_procs] == [0] * (WORKERS - 1)
            with engine.connect() as conn:
                left = conn.scalar(select(func.count(FeedRow.id)).where(FeedRow.lease_owner.is_not(None)))
                # Only the killed worker's expired leases may remain (nobody released them).
                survivors = conn.scalar(
                    select(func.count(FeedRow.id)).where(
                        FeedRow.lease_owner.is_not(None), ~FeedRow.lease_owner.like(f"%:{victim.pid}:%")
                    )
                )
            assert survivors == 0, left
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            engine.dispose()
