"""``newsbot worker``: fetch and track only, sharing one PostgreSQL database with other workers.

Each worker loops:

1. **lease** a batch of due feeds (``storage.leasing.lease_due_feeds``): rows leased
   by another live worker are invisible, and a host never has more feeds in flight,
   across all workers, than its concurrency; hosts held by a Retry-After are skipped;
2. **poll** them with the ordinary :class:`~bot.poller.Poller` while a heartbeat
   renews the leases (a dead worker's leases expire and its feeds return to the pool);
3. **release** the leases; a 429/503 Retry-After seen on the way is stored as a hold
   on that host, so every worker slows down, not only this one;
4. **track**: exactly one process decides at a time. The story tracker keeps state in
   memory, so two trackers deciding on the same items would disagree. The worker
   that holds the ``tracker`` advisory lock (a session lock on its own connection)
   is the tracker: it loads the saved state once when it becomes leader, then
   decides on new items after every batch. Other workers try the lock each cycle;
   when the leader dies its connection closes, the lock is free, and the next
   worker to try becomes the tracker and resumes from the saved state.

SIGTERM/SIGINT: the batch in hand gets ``worker.shutdown_grace`` seconds to finish;
then it is cancelled, and either way its leases are released before exit, so other
workers take over at once rather than after the lease expiry.

SQLite is refused: one process (``newsbot run``) does everything there. The composition
root, ``bot.app.run_worker``, builds a worker and runs it until a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.fetch import Fetcher, FetchOutcome, FetchPolicy
from storage.db import make_async_engine
from storage.leasing import (
    LeasePolicy,
    count_leased,
    hold_host,
    host_key,
    lease_due_feeds,
    release_feeds,
    renew_feeds,
    worker_name,
)
from storage.locks import TRACKER_LOCK, SessionLock
from storage.repository import Storage
from stories.encoder import Encoder, make_encoder
from stories.model import Decision, FeedState

from .config import Config
from .observability import (
    DEVELOPMENTS,
    FEEDS_FAILED,
    FEEDS_FETCHED,
    ITEMS_NEW,
    ITEMS_UPDATED,
    POLL_BATCH_SECONDS,
    REGISTRY,
    TRACK_RUNS,
    Metrics,
    database_gauges,
    log_event,
)
from .poller import Poller, PollSummary, fetch_policy, schedule_policy
from .tracking import TrackingService

log = logging.getLogger("newsbot.worker")

# Batches one worker keeps in flight.
LANES = 2
# Database connections per worker (measured: wider pools do not fetch faster).
POOL_SIZE, POOL_OVERFLOW = 8, 2
# Longest wait between attempts while the database keeps failing.
MAX_ERROR_PAUSE = 60.0

SQLITE_REFUSAL = (
    "newsbot worker needs PostgreSQL: workers share the due feeds by leasing rows in one database, "
    "and {url} is {backend}. With SQLite, `newsbot run` fetches, tracks and sends in one process "
    '(no worker needed). To scale out, set [database] url = "postgresql://user@host/newsbot" '
    "(or NEWSBOT_DATABASE_URL) and start one or more `newsbot worker` processes next to "
    "`newsbot run --no-fetch`."
)


class PoliteFetcher(Fetcher):
    """The ordinary fetcher, noting each host's Retry-After so the worker can share it."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__(policy)
        self.holds: dict[str, datetime] = {}

    async def fetch(self, state: FeedState) -> FetchOutcome:
        """Fetch as usual; remember a Retry-After against the host that sent it."""
        outcome = await super().fetch(state)
        if outcome.retry_after is not None and outcome.retry_after > 0:
            until = outcome.fetched_at + timedelta(seconds=outcome.retry_after)
            key = host_key(outcome.url)
            if key and (key not in self.holds or self.holds[key] < until):
                self.holds[key] = until
        return outcome

    def take_holds(self) -> dict[str, datetime]:
        """The holds noted since the last call."""
        holds, self.holds = self.holds, {}
        return holds


class FleetTracking(TrackingService):
    """The tracking service for the one tracker among many workers.

    It catches up by the ``tracked`` flag (as every tracker does): workers insert items
    concurrently, and an item's id is drawn when it is inserted while its transaction
    may commit after a later id's has. It saves its state after every run, so the next
    leader (if this worker dies) replays little. Decisions made while catching up in
    ``start`` are kept for ``take_decisions``.
    """

    def __init__(self, storage: Storage, encoder: Encoder | None = None) -> None:
        super().__init__(storage, encoder)
        self._made: list[Decision] = []

    async def track_pending(self) -> list[Decision]:
        """Decide on every item not yet decided on, oldest first; return the decisions."""
        decisions = await super().track_pending()
        if decisions:
            await self.save()
        self._made.extend(decisions)
        return decisions

    def take_decisions(self) -> list[Decision]:
        """The decisions made since the last call (including those made by ``start``)."""
        made, self._made = self._made, []
        return made


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one leased batch did."""

    leased: int
    summary: PollSummary | None
    released: int
    cancelled: bool = False


class Worker:
    """One worker process's loop over shared PostgreSQL (or SQLite, single process, in tests)."""

    def __init__(
        self,
        storage: Storage,
        config: Config,
        *,
        name: str | None = None,
        metrics: Metrics = REGISTRY,
    ) -> None:
        self.storage = storage
        self.config = config
        self.name = name or worker_name()
        self.metrics = metrics
        settings = config.worker
        self.lease = LeasePolicy(
            batch_size=settings.batch_size,
            lease_seconds=settings.lease_seconds,
            per_host=config.fetch.per_host_concurrency,
        )
        self.fetcher = PoliteFetcher(fetch_policy(config.fetch))
        self.poller = Poller(storage, self.fetcher, schedule_policy(config.fetch))
        self.tracker_lock = SessionLock(storage, TRACKER_LOCK)
        self.tracking: FleetTracking | None = None
        self.last_tick = time.monotonic()
        self.batches = 0

    # ----------------------------------------------------------------- batches

    async def run_batch(self, stop: asyncio.Event | None = None) -> BatchResult:
        """Lease, poll and release one batch; an empty lease polls nothing."""
        stop = stop or asyncio.Event()
        leased = await lease_due_feeds(self.storage, self.name, self.lease)
        if not leased:
            return BatchResult(0, None, 0)
        ids = [s.id for s in leased if s.id is not None]
        log_event(log, "lease", worker=self.name, feeds=len(ids))
        started = time.monotonic()
        heartbeat = asyncio.create_task(self._renew(ids), name="lease-heartbeat")
        poll = asyncio.create_task(self.poller.poll_once(feeds=leased), name="poll-batch")
        summary: PollSummary | None = None
        cancelled = False
        try:
            summary, cancelled = await self._finish_or_stop(poll, stop)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not poll.done():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await poll
            # Shielded: the leases must go back even when this task is being cancelled.
            released = await asyncio.shield(release_feeds(self.storage, self.name, ids))
            await self._share_holds()
        seconds = time.monotonic() - started
        self.metrics.observe(POLL_BATCH_SECONDS, seconds)
        if summary is not None:
            self._count(summary)
        log_event(
            log,
            "batch",
            worker=self.name,
            feeds=len(ids),
            fetched=summary.fetched if summary else None,
            not_modified=summary.not_modified if summary else None,
            errors=summary.errors if summary else None,
            new_items=summary.new_items if summary else None,
            released=released,
            cancelled=cancelled,
            seconds=seconds,
        )
        self.batches += 1
        return BatchResult(len(ids), summary, released, cancelled)

    async def _finish_or_stop(
        self, poll: asyncio.Task[PollSummary], stop: asyncio.Event
    ) -> tuple[PollSummary | None, bool]:
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():
            grace = self.config.worker.shutdown_grace
            log_event(log, "shutdown", worker=self.name, waiting_seconds=grace)
            done, _ = await asyncio.wait({poll}, timeout=grace)
            if not done:
                return None, True
        return poll.result(), False

    async def _renew(self, ids: Sequence[int]) -> None:
        # Renew well before expiry; a failed renewal is retried at the next beat.
        interval = max(self.lease.lease_seconds / 4, 0.2)
        while True:
            slept = time.monotonic()
            await asyncio.sleep(interval)
            late = time.monotonic() - slept - interval
            if late > interval:
                # A starved event loop lets leases lapse, and other workers then fetch the
                # same feeds again: say so, so the operator can lengthen the lease.
                log_event(
                    log,
                    "lease_heartbeat_late",
                    level=logging.WARNING,
                    worker=self.name,
                    late_seconds=late,
                    lease_seconds=self.lease.lease_seconds,
                )
            try:
                await renew_feeds(self.storage, self.name, ids, self.lease.lease_seconds)
            except Exception as exc:
                log.warning("lease renewal failed: %s", exc)

    async def _share_holds(self) -> None:
        for host, until in self.fetcher.take_holds().items():
            try:
                await hold_host(self.storage, host, until)
                log_event(log, "host_hold", host=host, until=until.isoformat())
            except Exception as exc:
                log.warning("could not store Retry-After for %s: %s", host, exc)

    def _count(self, summary: PollSummary) -> None:
        for report in summary.reports:
            if report.error is not None:
                self.metrics.inc(FEEDS_FAILED, kind=report.kind)
            else:
                self.metrics.inc(FEEDS_FETCHED, kind=report.kind)
        self.metrics.inc(ITEMS_NEW, summary.new_items)
        self.metrics.inc(ITEMS_UPDATED, summary.updated_items)

    # ---------------------------------------------------------------- tracking

    async def track(self) -> list[Decision]:
        """Decide on new items if this worker is (or now becomes) the one tracker."""
        if not self.tracker_lock.held:
            if not await self.tracker_lock.try_acquire():
                self.metrics.inc(TRACK_RUNS, outcome="skipped")
                return []
            # Leader now: start from the saved state, which the previous leader kept current.
            log_event(log, "tracker_leader", worker=self.name)
            self.tracking = FleetTracking(self.storage, make_encoder(self.config.tracker.encoder))
            await self.tracking.start()
            log_event(log, "tracker_loaded", worker=self.name, last_item=self.tracking.seq)
        elif not await self.tracker_lock.still_held():
            self.tracking = None
            return []
        assert self.tracking is not None
        await self.tracking.track_pending()
        decisions = self.tracking.take_decisions()
        self.metrics.inc(TRACK_RUNS, outcome="ran")
        for decision in decisions:
            self.metrics.inc(DEVELOPMENTS, kind=decision.kind)
        return decisions

    # -------------------------------------------------------------------- loop

    async def run(self, stop: asyncio.Event) -> None:
        """Lease, poll and release in LANES lanes, and track, until ``stop`` is set.

        Two lanes keep two batches in flight, so one slow feed (up to ``fetch.timeout``)
        holding a batch open does not leave the fetcher idle. Tracking runs in its own
        loop after batches complete, so the tracker worker fetches as fast as the others.
        """
        batch_done = asyncio.Event()
        async with self.poller:
            try:
                tasks = [
                    asyncio.create_task(self._lane(stop, batch_done), name=f"lane-{n}") for n in range(LANES)
                ]
                if self.config.worker.track:
                    tasks.append(asyncio.create_task(self._tracking_loop(stop, batch_done), name="tracking"))
                await asyncio.gather(*tasks)
            finally:
                with contextlib.suppress(Exception):  # unreachable database: the leases expire
                    await asyncio.shield(release_feeds(self.storage, self.name))
                await self.tracker_lock.release()
        log_event(log, "stopped", worker=self.name, batches=self.batches)

    async def _lane(self, stop: asyncio.Event, batch_done: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self.last_tick = time.monotonic()
            try:
                result = await self.run_batch(stop)
                failures = 0
            except Exception as exc:
                # The database restarting or a network blip: wait and try again (leases
                # not released now expire); stop only when asked to.
                failures += 1
                pause = min(self.config.worker.idle_seconds * 2**failures, MAX_ERROR_PAUSE)
                log_event(
                    log,
                    "worker_error",
                    level=logging.ERROR,
                    worker=self.name,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=pause,
                )
                await _sleep_unless(stop, pause)
                continue
            if result.leased:
                batch_done.set()
            else:
                await _sleep_unless(stop, self.config.worker.idle_seconds)

    async def _tracking_loop(self, stop: asyncio.Event, batch_done: asyncio.Event) -> None:
        while not stop.is_set():
            # After a batch stored items, or now and then: a non-leader retries the lock.
            waiter = asyncio.create_task(batch_done.wait())
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=max(self.config.worker.idle_seconds, 1.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
                stopper.cancel()
            if stop.is_set():
                return
            batch_done.clear()
            try:
                await self.track()
            except Exception:  # a tracker bug must not stop fetching
                log.exception("tracking failed")

    # ----------------------------------------------------------------- metrics

    async def collect(self) -> None:
        """Refresh the database gauges (called at each /metrics scrape)."""
        await database_gauges(self.storage, self.metrics)()

    async def health(self) -> tuple[bool, str]:
        """Healthy when the loop ticked recently and the database answers."""
        settings = self.config.worker
        # A batch may take up to the fetch timeout plus saving; then the worker idles.
        limit = self.config.fetch.timeout * 3 + settings.idle_seconds + settings.lease_seconds
        age = time.monotonic() - self.last_tick
        if age > limit:
            return False, f"worker loop stalled for {age:.0f}s"
        try:
            async with asyncio.timeout(5):
                await count_leased(self.storage)
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}"
        return True, "ok"


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def connect_storage(config: Config) -> Storage:
    """Storage with a small, fixed connection pool for one worker.

    Feeds in flight queue for a pooled connection instead of opening overflow ones:
    SQLAlchemy's default overflow opens and closes a connection per feed under load (a
    process fork on PostgreSQL each time), and several workers with wide pools run into
    PostgreSQL's max_connections. At most POOL_SIZE + POOL_OVERFLOW connections, plus one
    while this worker is the tracker.
    """
    url = config.database.url
    size = min(config.fetch.concurrency, POOL_SIZE)
    return Storage(make_async_engine(url, pool_size=size, max_overflow=POOL_OVERFLOW), url)
