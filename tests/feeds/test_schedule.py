"""The pure schedule: next fetch times, backoff, Retry-After, disabling."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from feeds.fetch import FetchOutcome, parse_retry_after
from feeds.schedule import SchedulePolicy, enable, is_due, next_state
from stories.model import FeedState

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
POLICY = SchedulePolicy(
    interval=timedelta(minutes=10),
    jitter=0.0,
    backoff_max=timedelta(hours=2),
    retry_after_max=timedelta(hours=6),
    max_consecutive_errors=5,
)


def outcome(kind: str = "ok", **kw: object) -> FetchOutcome:
    return FetchOutcome(kind=kind, url="https://ex.com/f", fetched_at=NOW, **kw)  # type: ignore[arg-type]


def test_success_resets_errors_and_stores_validators() -> None:
    state = FeedState(url="https://ex.com/f", consecutive_errors=3, last_error="x")
    new = next_state(state, outcome(etag='"e"', last_modified="lm", content_hash="h"), now=NOW, policy=POLICY)
    assert new.consecutive_errors == 0 and new.last_error is None
    assert (new.etag, new.last_modified, new.content_hash) == ('"e"', "lm", "h")
    assert new.next_fetch_at == NOW + timedelta(minutes=10)
    assert new.last_fetched_at == NOW


def test_backoff_doubles_and_caps() -> None:
    state = FeedState(url="https://ex.com/f")
    delays = []
    for _ in range(4):
        state = next_state(state, outcome("error", error="boom"), now=NOW, policy=POLICY)
        assert state.next_fetch_at is not None
        delays.append(state.next_fetch_at - NOW)
    assert delays == [timedelta(minutes=m) for m in (10, 20, 40, 80)]
    state = next_state(state, outcome("error", error="boom"), now=NOW, policy=POLICY)
    assert state.disabled and state.disabled_reason == "5 consecutive errors; last: boom"
    assert not is_due(state, NOW + timedelta(days=365))
    again = enable(state)
    assert not again.disabled and again.consecutive_errors == 0 and is_due(again, NOW)


def test_backoff_is_capped() -> None:
    state = FeedState(url="https://ex.com/f", consecutive_errors=3)
    new = next_state(state, outcome("error"), now=NOW, policy=replace(POLICY, max_consecutive_errors=99))
    assert new.next_fetch_at == NOW + timedelta(minutes=80)
    state = FeedState(url="https://ex.com/f", consecutive_errors=60)
    new = next_state(state, outcome("error"), now=NOW, policy=replace(POLICY, max_consecutive_errors=99))
    assert new.next_fetch_at == NOW + POLICY.backoff_max


def test_retry_after_stretches_and_is_capped() -> None:
    state = FeedState(url="https://ex.com/f")
    asked = next_state(state, outcome("error", status=503, retry_after=7200.0), now=NOW, policy=POLICY)
    assert asked.next_fetch_at == NOW + timedelta(hours=2)
    huge = next_state(state, outcome("error", status=429, retry_after=1e9), now=NOW, policy=POLICY)
    assert huge.next_fetch_at == NOW + timedelta(hours=6)
    assert huge.consecutive_errors == 0  # 429 is not a failure of the feed


def test_gone_and_permanent_redirect() -> None:
    state = FeedState(url="https://ex.com/f", id=7)
    gone = next_state(state, outcome("gone", status=410), now=NOW, policy=POLICY)
    assert gone.disabled and gone.id == 7 and not is_due(gone, NOW)
    moved = next_state(state, outcome(permanent_url="https://ex.org/f"), now=NOW, policy=POLICY)
    assert moved.url == "https://ex.org/f" and not moved.disabled
    broken = outcome("error", permanent_url="https://ex.org/f", status=404)
    assert next_state(state, broken, now=NOW, policy=POLICY).url == state.url


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", now=NOW) == 120.0
    assert parse_retry_after(" 0 ", now=NOW) == 0.0
    assert parse_retry_after("Thu, 26 Nov 2026 10:00:00 GMT", now=NOW) == 3600.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


@given(
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["ok", "not_modified", "unchanged", "error", "too_large", "refused"]),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1e12)),
    st.integers(min_value=0, max_value=2**32),
)
def test_next_fetch_is_always_in_the_future_and_bounded(
    errors: int, kind: str, retry_after: float | None, seed: int
) -> None:
    policy = replace(POLICY, jitter=0.2, max_consecutive_errors=1000)
    state = FeedState(url="https://ex.com/f", consecutive_errors=errors)
    new = next_state(
        state, outcome(kind, retry_after=retry_after), now=NOW, policy=policy, rng=random.Random(seed)
    )
    assert new.next_fetch_at is not None
    delay = new.next_fetch_at - NOW
    assert timedelta(0) < delay <= max(policy.backoff_max, policy.retry_after_max)
