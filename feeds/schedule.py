"""When to fetch a feed next: pure functions from (state, outcome, now) to state.

Nothing here does I/O or reads the clock; ``now`` and the random source are
passed in, so the schedule is easy to test and replay.

Rules:

* success (``ok``, ``not_modified``, ``unchanged``): next fetch after the interval
  with +-jitter; the error count resets;
* failure (``error``, ``too_large``, ``refused``): exponential backoff from the
  interval (interval * 2**(n-1), capped at ``backoff_max``) with jitter; after
  ``max_consecutive_errors`` failures in a row the feed is disabled with a reason;
* 429/503 with Retry-After: the next fetch is no earlier than Retry-After (capped
  at ``retry_after_max``). A 429 does not count towards disabling: the publisher is
  asking us to slow down, and we do;
* 410 Gone disables the feed at once; a 301/308 chain updates the URL once the
  new address answers with a feed (or 304).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feeds.fetch import FetchOutcome
from stories.model import FeedState

__all__ = ["SchedulePolicy", "enable", "is_due", "next_state"]


@dataclass(frozen=True)
class SchedulePolicy:
    """Scheduling knobs, from the config's ``[fetch]`` table.

    ``jitter`` is a fraction: 0.1 spreads each delay over +-10 %, so a thousand feeds
    added at once do not stay in lock-step.
    """

    interval: timedelta = timedelta(minutes=15)
    jitter: float = 0.1
    backoff_max: timedelta = timedelta(days=1)
    retry_after_max: timedelta = timedelta(days=1)
    max_consecutive_errors: int = 10

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("fetch.interval must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("fetch.jitter must be in [0, 1)")
        if self.max_consecutive_errors < 1:
            raise ValueError("fetch.max_consecutive_errors must be at least 1")


def _jittered(delay: timedelta, jitter: float, rng: random.Random) -> timedelta:
    if jitter <= 0:
        return delay
    return delay * rng.uniform(1 - jitter, 1 + jitter)


def next_state(
    state: FeedState,
    outcome: FetchOutcome,
    *,
    now: datetime,
    policy: SchedulePolicy | None = None,
    interval: timedelta | None = None,
    rng: random.Random | None = None,
) -> FeedState:
    """The feed's state after ``outcome``: validators, errors, URL, next fetch time.

    ``interval`` overrides the policy's interval for this feed. The title is not
    touched here; the caller sets it from the parsed feed.
    """
    policy = policy or SchedulePolicy()
    base_interval = interval or policy.interval
    rng = rng or random.Random()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    # Follow a permanent move only once the new address has answered properly: a
    # 301 to a page that fails would otherwise lose a working old URL.
    moved = outcome.permanent_url is not None and outcome.kind in ("ok", "not_modified", "unchanged")
    url = outcome.permanent_url if moved and outcome.permanent_url else state.url
    if outcome.kind == "gone":
        return replace(
            state,
            url=url,
            last_fetched_at=now,
            last_error=outcome.error or "HTTP 410 Gone",
            disabled=True,
            disabled_reason="feed is gone (HTTP 410)",
            next_fetch_at=None,
        )

    if not outcome.is_failure:
        return replace(
            state,
            url=url,
            etag=outcome.etag,
            last_modified=outcome.last_modified,
            content_hash=outcome.content_hash,
            last_fetched_at=now,
            consecutive_errors=0,
            last_error=None,
            next_fetch_at=now + _jittered(base_interval, policy.jitter, rng),
        )

    rate_limited = outcome.status == 429
    errors = state.consecutive_errors if rate_limited else state.consecutive_errors + 1
    # Exponent clamped so the multiplication cannot overflow timedelta.
    backoff = min(policy.backoff_max, base_interval * (2 ** min(max(errors - 1, 0), 30)))
    delay = min(policy.backoff_max, _jittered(backoff, policy.jitter, rng))
    if outcome.retry_after is not None:
        asked = min(timedelta(seconds=outcome.retry_after), policy.retry_after_max)
        delay = max(delay, asked)
    error = outcome.error or outcome.kind
    disabled = errors >= policy.max_consecutive_errors
    return replace(
        state,
        url=url,
        last_fetched_at=now,
        consecutive_errors=errors,
        last_error=error,
        disabled=disabled or state.disabled,
        disabled_reason=(
            f"{errors} consecutive errors; last: {error}" if disabled else state.disabled_reason
        ),
        next_fetch_at=None if disabled else now + delay,
    )


def is_due(state: FeedState, now: datetime) -> bool:
    """True when the feed is enabled and its next fetch time has come (or was never set)."""
    if state.disabled:
        return False
    return state.next_fetch_at is None or state.next_fetch_at <= now


def enable(state: FeedState) -> FeedState:
    """Re-enable a disabled feed (admin action): clear errors, fetch at the next poll."""
    return replace(
        state,
        disabled=False,
        disabled_reason=None,
        consecutive_errors=0,
        last_error=None,
        next_fetch_at=None,
    )
