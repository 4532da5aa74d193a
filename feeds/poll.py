"""One poll step per feed: fetch -> parse -> normalise -> next state.

This is the seam the bot's poller uses: it hands in the due :class:`FeedState`s and
gets back :class:`PollResult`s (new state to persist, items to store). Storing and
tracking stay in ``bot/``; nothing here knows about the database.

::

    async with Fetcher(fetch_policy) as fetcher:
        async for result in poll_feeds(fetcher, due_states, schedule=schedule_policy):
            await storage.save_feed_state(result.state)
            await storage.upsert_items(result.state, result.items)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from feeds.fetch import Fetcher, FetchOutcome, _host_key
from feeds.parse import FeedParseError, ParsedFeed, parse_feed_async
from feeds.schedule import SchedulePolicy, next_state
from stories.model import FeedState, Item

__all__ = ["KnownEntries", "PollResult", "poll_feed", "poll_feeds"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    """What polling one feed produced.

    ``previous`` is the state polled, ``state`` the one to persist (its ``url`` may
    have changed after a permanent redirect; ``previous.url`` identifies the row).
    ``feed`` is set only when a new body was parsed (its ``known_entries`` are the
    entries recognised from ``known``, not normalised). ``newly_disabled`` is True when
    this poll disabled the feed (admins should be told). A body is not kept once
    parsed (``outcome.body`` is None here: its items are what it held), so results
    waiting to be stored do not hold a thousand feeds' bytes.
    """

    previous: FeedState
    state: FeedState
    outcome: FetchOutcome
    feed: ParsedFeed | None = None

    @property
    def items(self) -> list[Item]:
        """The feed's items, or an empty list when nothing new was parsed."""
        return self.feed.items if self.feed is not None else []

    @property
    def newly_disabled(self) -> bool:
        """True when this poll disabled a feed that was enabled."""
        return self.state.disabled and not self.previous.disabled


KnownEntries = Callable[[FeedState], Mapping[int, str] | None]
"""What the caller remembers of a feed's entries: fingerprint -> guid (see ``parse_feed``)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def poll_feed(
    fetcher: Fetcher,
    state: FeedState,
    *,
    schedule: SchedulePolicy | None = None,
    interval: timedelta | None = None,
    rng: random.Random | None = None,
    executor: Executor | None = None,
    clock: Callable[[], datetime] = _utcnow,
    known: KnownEntries | None = None,
) -> PollResult:
    """Fetch, parse and reschedule one feed. Never raises for a bad feed.

    A body that fails to parse is recorded as an error (with the reason) and counts
    towards backoff like a network failure. The feed's title is updated from the
    parsed feed. ``known(state)``, asked just before parsing, names the fingerprints of
    entries read before (see :func:`feeds.parse.parse_feed`).
    """
    outcome = await fetcher.fetch(state)
    parsed: ParsedFeed | None = None
    if outcome.kind == "ok" and outcome.body is not None:
        try:
            parsed = await parse_feed_async(
                outcome.body,
                url=outcome.url,
                fetched_at=outcome.fetched_at,
                headers=outcome.headers,
                executor=executor,
                known=known(state) if known is not None else None,
            )
        except FeedParseError as exc:
            outcome = outcome.parse_failed(str(exc))
        except Exception as exc:  # a parser bug must not stop the poll of other feeds
            log.exception("parser crashed on %s", state.url)
            outcome = outcome.parse_failed(f"parser crashed: {type(exc).__name__}: {exc}")
        else:
            outcome = replace(outcome, body=None)
    new = next_state(state, outcome, now=clock(), policy=schedule, interval=interval, rng=rng)
    if parsed is not None and parsed.title and parsed.title != new.title:
        new = replace(new, title=parsed.title)
    if new.disabled and not state.disabled:
        log.warning("feed disabled: %s (%s)", state.url, new.disabled_reason)
    return PollResult(previous=state, state=new, outcome=outcome, feed=parsed)


WINDOW_PER_SLOT = 8
"""Feeds polled ahead of the consumer, per global fetch slot (see :func:`poll_feeds`)."""


def _host_order(states: Iterable[FeedState], host: Callable[[str], str] = _host_key) -> list[FeedState]:
    """``states`` taken one host at a time, round robin (first host first, in the order
    given within each host): a window of polls in that order never fills up with one
    host's feeds waiting for its few slots while other hosts sit idle."""
    by_host: dict[str, list[FeedState]] = {}
    for state in states:
        by_host.setdefault(host(state.url), []).append(state)
    queues = list(by_host.values())
    ordered: list[FeedState] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        ordered.extend(q[depth] for q in queues if depth < len(q))
    return ordered


async def poll_feeds(
    fetcher: Fetcher,
    states: Iterable[FeedState],
    *,
    schedule: SchedulePolicy | None = None,
    rng: random.Random | None = None,
    executor: Executor | None = None,
    clock: Callable[[], datetime] = _utcnow,
    window: int | None = None,
    known: KnownEntries | None = None,
) -> AsyncIterator[PollResult]:
    """Poll many feeds concurrently, yielding each result as soon as it is ready.

    Concurrency is bounded by the fetcher's global and per-host limits. At most
    ``window`` feeds (default :data:`WINDOW_PER_SLOT` per global slot) are polled
    ahead of the consumer, counting results not yet taken: a consumer that stores
    slowly holds a bounded number of parsed feeds, not the whole cycle's. Feeds are
    started one host at a time, round robin. If the consumer stops early, the
    remaining polls are cancelled. ``known`` is passed to each :func:`poll_feed`.
    """
    rng = rng or random.Random()
    limit = max(1, window if window is not None else WINDOW_PER_SLOT * fetcher.policy.concurrency)
    waiting = iter(_host_order(states, fetcher.host_key))
    finished: asyncio.Queue[asyncio.Task[PollResult]] = asyncio.Queue()
    tasks: set[asyncio.Task[PollResult]] = set()

    def start_next() -> None:
        state = next(waiting, None)
        if state is None:
            return
        task = asyncio.ensure_future(
            poll_feed(fetcher, state, schedule=schedule, rng=rng, executor=executor, clock=clock, known=known)
        )
        task.add_done_callback(finished.put_nowait)
        tasks.add(task)

    for _ in range(limit):
        start_next()
    try:
        while tasks:
            task = await finished.get()
            tasks.discard(task)
            start_next()  # before the consumer takes it: fetching goes on meanwhile
            yield task.result()
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
