"""The poll cycle: fetch due feeds, parse, store, and schedule each feed's next fetch.

This is where ``feeds`` (HTTP, XML) meets ``storage`` (SQL): neither knows the other.
One failing feed never stops the others; every outcome ends in the feed's stored state.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType

from feeds.fetch import Fetcher, FetchPolicy
from feeds.poll import PollResult, poll_feeds
from feeds.schedule import SchedulePolicy
from storage.repository import FeedItems, Storage, StoreResult
from storage.retention import index_new_items
from stories.model import FeedState

from .config import Config, FetchConfig

log = logging.getLogger("newsbot.poll")


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What one feed's fetch did."""

    url: str
    kind: str
    new_items: int = 0
    updated_items: int = 0
    error: str | None = None


@dataclass(slots=True)
class PollSummary:
    """Totals of one poll cycle (the ``--json`` output of ``newsbot fetch``)."""

    feeds: int = 0
    fetched: int = 0
    not_modified: int = 0
    unchanged: int = 0
    new_items: int = 0
    updated_items: int = 0
    errors: int = 0
    disabled: list[str] = field(default_factory=list)
    reports: list[FeedReport] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per stage: fetch is the sum over concurrent requests of each one's wall
    # time, waiting for a connection slot included (so far above the cycle's time);
    # decode, parse and normalise are CPU time in the parsing threads; store, index
    # and states are the consumer's wall time (one at a time).
    stages: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-able summary, with each failing feed's error."""
        return {
            "feeds": self.feeds,
            "fetched": self.fetched,
            "not_modified": self.not_modified,
            "unchanged": self.unchanged,
            "new_items": self.new_items,
            "updated_items": self.updated_items,
            "errors": self.errors,
            "disabled": self.disabled,
            "failures": [{"url": r.url, "error": r.error} for r in self.reports if r.error],
            "seconds": round(self.seconds, 3),
            "stages": {stage: round(seconds, 3) for stage, seconds in self.stages.items()},
        }


def fetch_policy(config: FetchConfig) -> FetchPolicy:
    """The fetcher's policy from ``[fetch]``."""
    return FetchPolicy(
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        max_body_bytes=config.max_body_bytes,
        user_agent=config.user_agent,
        allow_private_networks=config.allow_private_networks,
        allow_local_files=config.allow_local_files,
        concurrency=config.concurrency,
        per_host_concurrency=config.per_host_concurrency,
        max_redirects=config.max_redirects,
        retry_after_max=config.retry_after_max,
        proxy=config.proxy or None,
        allowed_networks=config.allowed_networks,
    )


def schedule_policy(config: FetchConfig) -> SchedulePolicy:
    """The scheduler's policy from ``[fetch]``."""
    return SchedulePolicy(
        interval=timedelta(seconds=config.interval),
        jitter=config.jitter,
        backoff_max=timedelta(seconds=config.backoff_max),
        retry_after_max=timedelta(seconds=config.retry_after_max),
        max_consecutive_errors=config.max_consecutive_errors,
    )


STAGES = ("fetch", "decode", "parse", "normalise", "store", "states", "index")
"""The stages of a poll cycle that :attr:`PollSummary.stages` times."""

Progress = Callable[[int, int, FeedReport], None]


class Poller:
    """Runs poll cycles over the stored feeds with one shared Fetcher.

    Fetching and parsing run concurrently (bounded by the fetcher's limits); storing is
    done by one consumer in batches (one transaction for the items and their search
    rows), so a thousand feeds never queue a thousand database writers. A feed's items
    are stored before its new state (validators, next fetch time) is saved, so a crash
    in between costs a re-fetch, never an item.
    """

    # Results are stored in batches: one transaction per cycle, or per STORE_BATCH
    # feeds, STORE_ITEMS items or STORE_SECONDS on long cycles (so items are not held back
    # for long, and a first cycle's batch is not 30,000 items held at once: at 1,000
    # feeds of 50 items, peak RSS 142 -> 119 MB with the items bound). Items the storage
    # already knows unchanged are dropped as each result arrives (Storage.screen_known), so
    # the bound counts only new or edited ones: a changed cycle (5 new items of 50 per
    # feed) is not cut into a flush every 160 feeds.
    STORE_BATCH = 1_000
    STORE_ITEMS = 8_000
    STORE_SECONDS = 1.0

    def __init__(
        self,
        storage: Storage,
        fetcher: Fetcher,
        schedule: SchedulePolicy,
        *,
        parse_workers: int = 0,
    ) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self.schedule = schedule
        self.parse_workers = parse_workers
        self.executor: Executor | None = None
        self.on_disabled: list[Callable[[FeedState], object]] = []

    @classmethod
    def from_config(cls, storage: Storage, config: Config) -> Poller:
        """A poller whose fetcher must still be entered (``async with poller``)."""
        return cls(
            storage,
            Fetcher(fetch_policy(config.fetch)),
            schedule_policy(config.fetch),
            parse_workers=config.fetch.parse_workers,
        )

    async def __aenter__(self) -> Poller:
        await self.fetcher.__aenter__()
        if self.parse_workers > 0:
            # Parsing is CPU-bound; other processes use the other cores. "spawn" because
            # forking a process that runs an event loop and a database pool is unsafe.
            self.executor = ProcessPoolExecutor(
                self.parse_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        await self.fetcher.__aexit__(exc_type, exc, tb)

    async def poll_once(
        self,
        *,
        include_all: bool = False,
        feeds: Sequence[FeedState] | None = None,
        progress: Progress | None = None,
    ) -> PollSummary:
        """Fetch every due feed (every enabled feed with include_all) once, concurrently."""
        started = datetime.now(UTC)
        states = (
            list(feeds)
            if feeds is not None
            else await self.storage.due_feeds(started, include_all=include_all)
        )
        summary = PollSummary(feeds=len(states))
        stages = summary.stages = dict.fromkeys(STAGES, 0.0)
        batch: list[tuple[PollResult, FeedItems | None]] = []
        batch_items = 0
        flushed = time.monotonic()
        async for result in poll_feeds(
            self.fetcher, states, schedule=self.schedule, executor=self.executor, known=self._known_entries
        ):
            stages["fetch"] += result.outcome.elapsed
            items: FeedItems | None = None
            if result.feed is not None:
                feed = result.feed
                for stage, seconds in feed.timings.items():
                    stages[stage] += seconds
                prints: dict[str, int] = {}
                for item, fingerprint in zip(feed.items, feed.fingerprints, strict=False):
                    prints.setdefault(item.guid, fingerprint)
                items = self.storage.screen_known(
                    FeedItems(
                        self._feed_id(result),
                        feed.items,
                        result.outcome.fetched_at,
                        fingerprints=prints,
                        known_entries=feed.known_entries,
                    )
                )
                batch_items += len(items.items)
                result = replace(result, feed=None)  # the parsed feed is not held: its items are
            batch.append((result, items))
            if (
                len(batch) >= self.STORE_BATCH
                or batch_items >= self.STORE_ITEMS
                or time.monotonic() - flushed >= self.STORE_SECONDS
            ):
                await self._flush(batch, summary, len(states), progress)
                batch_items = 0
                flushed = time.monotonic()
        await self._flush(batch, summary, len(states), progress)
        for report in summary.reports:
            summary.fetched += report.kind == "ok"
            summary.not_modified += report.kind == "not_modified"
            summary.unchanged += report.kind == "unchanged"
            summary.errors += report.error is not None
            summary.new_items += report.new_items
            summary.updated_items += report.updated_items
        # After the totals: checked before them, the index was never updated here and the
        # first /search had to index the whole backlog inside its handler. Each batch
        # indexed its own items already; this catches what another writer queued.
        if summary.new_items or summary.updated_items:
            began = time.perf_counter()
            await index_new_items(self.storage)
            stages["index"] += time.perf_counter() - began
        summary.seconds = (datetime.now(UTC) - started).total_seconds()
        return summary

    async def _flush(
        self,
        batch: list[tuple[PollResult, FeedItems | None]],
        summary: PollSummary,
        total: int,
        progress: Progress | None,
    ) -> None:
        """Store a batch of results' items (one transaction, search rows included), then
        save their feeds' states; a feed whose items could not be stored keeps its old
        state, so it is fetched again. Each result comes with its screened items, or None
        when no new body was parsed."""
        if not batch:
            return
        pending = list(batch)
        batch.clear()
        results = [result for result, _ in pending]
        stages = summary.stages
        began = time.perf_counter()
        with_items = [(r, items) for r, items in pending if items is not None]
        stored: dict[int, StoreResult | Exception] = {}
        try:
            done = await self.storage.store_batch([items for _, items in with_items], index=True)
        except Exception:
            # One feed's bad data must not cost the others theirs: each on its own.
            log.exception("storing a batch of %d feeds failed; storing them one by one", len(with_items))
            for r, items in with_items:
                try:
                    [stored[id(r)]] = (await self.storage.store_batch([items])).results
                except Exception as exc:
                    log.exception("feed %s: storing failed", r.previous.url)
                    stored[id(r)] = exc
        else:
            stored = {id(r): one for (r, _), one in zip(with_items, done.results, strict=True)}
            stages["index"] += done.index_seconds
            began += done.index_seconds
        stages["store"] += time.perf_counter() - began
        saved: list[tuple[FeedState, PollResult]] = []
        for result in results:
            outcome = stored.get(id(result))
            if isinstance(outcome, Exception):
                report = FeedReport(result.previous.url, "error", error=f"internal error: {outcome}")
            else:
                report = self._report(result, outcome)
                saved.append((result.previous, result))
            summary.reports.append(report)
        began = time.perf_counter()
        await self._save_states(saved, summary)
        stages["states"] += time.perf_counter() - began
        if progress:
            done_before = len(summary.reports) - len(results)
            for offset, report in enumerate(summary.reports[done_before:], start=1):
                progress(done_before + offset, total, report)

    def _known_entries(self, state: FeedState) -> Mapping[int, str] | None:
        """What the parser may skip of this feed: the entries the storage stored last time
        (their fingerprints and guids, in this process; :mod:`storage.known_items`)."""
        return self.storage.known_fingerprints(state.id) if state.id is not None else None

    @staticmethod
    def _feed_id(result: PollResult) -> int:
        assert result.previous.id is not None
        return result.previous.id

    def _report(self, result: PollResult, stored: StoreResult | None) -> FeedReport:
        outcome = result.outcome
        new_items = len(stored.new) if stored else 0
        updated_items = len(stored.updated) if stored else 0
        error = outcome.error if outcome.is_failure or outcome.kind == "gone" else None
        log.info(
            "fetch url=%s kind=%s status=%s new=%d updated=%d errors=%d elapsed=%.2f%s",
            result.state.url,
            outcome.kind,
            outcome.status,
            new_items,
            updated_items,
            result.state.consecutive_errors,
            outcome.elapsed,
            f" error={error!r}" if error else "",
        )
        return FeedReport(result.state.url, outcome.kind, new_items, updated_items, error)

    async def _save_states(self, pending: list[tuple[FeedState, PollResult]], summary: PollSummary) -> None:
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        saved = await self.storage.save_feed_states([result.state for _, result in batch])
        for (previous, _), state in zip(batch, saved, strict=True):
            if state.disabled and not previous.disabled:
                log.warning("feed disabled: %s (%s)", state.url, state.disabled_reason)
                summary.disabled.append(state.url)
                for hook in self.on_disabled:
                    outcome_of_hook = hook(state)
                    if asyncio.iscoroutine(outcome_of_hook):
                        await outcome_of_hook
