"""Digest values: validation, ordering by outlets and recency, breaking developments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stories.digest import (
    Digest,
    DigestDevelopment,
    DigestItem,
    DigestSection,
    development_score,
    is_breaking,
    order_developments,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def dev(
    dev_id: int, outlets: int, hours_ago: float, first_hours_ago: float | None = None
) -> DigestDevelopment:
    last = NOW - timedelta(hours=hours_ago)
    first = NOW - timedelta(hours=first_hours_ago if first_hours_ago is not None else hours_ago)
    report = DigestItem(f"d{dev_id}", None, "Outlet", last)
    return DigestDevelopment(dev_id, f"d{dev_id}", (report,), outlets, first, last)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 26, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        DigestItem("t", None, "o", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        Digest((), naive)
    with pytest.raises(ValueError, match="extra_sources"):
        DigestItem("t", None, "o", NOW, extra_sources=-1)


def test_more_outlets_first_at_equal_age() -> None:
    ordered = order_developments([dev(1, 1, 1), dev(2, 5, 1), dev(3, 3, 1)], NOW)
    assert [d.id for d in ordered] == [2, 3, 1]


def test_recency_decays_with_half_life() -> None:
    # 4 outlets 6 h ago == 2 outlets now (one half-life); the fresher wins the tie
    old, fresh = dev(1, 4, 6), dev(2, 2, 0)
    assert development_score(old, NOW) == pytest.approx(development_score(fresh, NOW))
    assert [d.id for d in order_developments([old, fresh], NOW)] == [2, 1]
    # many outlets still beat a single fresh report half a day later
    assert [d.id for d in order_developments([dev(3, 1, 0), dev(4, 8, 12)], NOW)] == [4, 3]
    # a shorter half-life favours the fresh one
    ordered = order_developments([dev(3, 1, 0), dev(4, 8, 12)], NOW, half_life=timedelta(hours=2))
    assert [d.id for d in ordered] == [3, 4]


def test_ties_break_by_id_for_a_stable_order() -> None:
    ordered = order_developments([dev(9, 2, 1), dev(3, 2, 1), dev(5, 2, 1)], NOW)
    assert [d.id for d in ordered] == [3, 5, 9]


@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 200)), max_size=20))
def test_ordering_is_a_permutation_sorted_by_score(rows: list[tuple[int, float]]) -> None:
    devs = [dev(n, outlets, hours) for n, (outlets, hours) in enumerate(rows)]
    ordered = order_developments(devs, NOW)
    assert sorted(d.id for d in ordered) == list(range(len(rows)))
    scores = [development_score(d, NOW) for d in ordered]
    assert scores == sorted(scores, reverse=True)


def test_breaking_needs_enough_outlets_within_the_window() -> None:
    window = timedelta(hours=1)
    assert is_breaking(dev(1, 3, 0, first_hours_ago=0.5), 3, window, NOW)
    assert not is_breaking(dev(2, 2, 0, first_hours_ago=0.5), 3, window, NOW)
    # reached 3 outlets, but only over 5 hours: not breaking
    assert not is_breaking(dev(3, 3, 0, first_hours_ago=5), 3, window, NOW)
    # exactly at the window's edge still counts
    assert is_breaking(dev(4, 3, 0, first_hours_ago=1), 3, window, NOW)
    with pytest.raises(ValueError):
        is_breaking(dev(5, 3, 0), 0, window, NOW)
    with pytest.raises(ValueError):
        is_breaking(dev(5, 3, 0), 3, timedelta(0), NOW)


def test_digest_emptiness_and_counts() -> None:
    assert Digest((), NOW).is_empty
    assert Digest((DigestSection("s", ()),), NOW).is_empty
    digest = Digest((DigestSection("s", (dev(1, 1, 1), dev(2, 1, 1))),), NOW)
    assert not digest.is_empty
    assert digest.item_count == 2
    assert digest.sections[0].developments[0].lead is not None
