"""The tracker: matching + dedup + developments in one decision; replay and save/load agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from stories.model import Item
from stories.query import QueryError
from stories.tracker import Tracker

T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def item(n: int, title: str, summary: str = "", *, outlet: str = "Wire", url: str | None = None) -> Item:
    return Item(
        guid=f"g{n}",
        url=url,
        title=title,
        summary=summary,
        published=T0 + timedelta(minutes=10 * n),
        outlet=outlet,
    )


STORIES = {1: "Venezuela OR Maduro -pageant", 2: '"Wagner Group" OR Prigozhin'}
SUMMARY = (
    "Venezuelan President Nicolas Maduro said on Monday his government would hold talks with "
    "the opposition in Barbados next week, after months of stalled negotiations over the 2024 "
    "election and the release of political prisoners."
)
STREAM = [
    item(0, "Maduro agrees to talks with opposition", SUMMARY, outlet="Reuters", url="https://r.com/1"),
    item(
        1,
        "Venezuela's Maduro agrees to opposition talks",
        SUMMARY + " Originally published by Reuters.",
        outlet="Yahoo",
        url="https://yahoo.com/x",
    ),
    item(
        2,
        "Miss Venezuela crowned in Caracas pageant",
        "The beauty pageant crowned a winner.",
        outlet="Pageant News",
    ),
    item(
        3,
        "Prigozhin's Wagner Group fighters leave Bakhmut",
        "Wagner Group fighters began to leave.",
        outlet="BBC",
    ),
    item(
        4,
        "Maduro government and opposition to meet in Barbados on 17 October",
        "Talks between Maduro's government and opposition leader Maria Corina Machado's allies.",
        outlet="AP",
    ),
    item(5, "Maduro agrees to talks with opposition", SUMMARY, outlet="Reuters", url="https://r.com/1"),
]


def test_decisions_combine_matching_dedup_and_developments() -> None:
    tracker = Tracker(stories=STORIES)
    d = tracker.replay(enumerate(STREAM))
    assert d[0].kind == "new" and d[0].stories == frozenset({1})
    # A syndicated copy folds into the first report.
    assert d[1].kind == "rereport" and d[1].duplicate_of == 0
    assert d[1].development_id == d[0].development_id
    # The pageant is a hard negative for story 1 and its own development.
    assert d[2].stories == frozenset() and d[2].development_id != d[0].development_id
    assert d[3].stories == frozenset({2}) and d[3].kind == "new"
    # Same event, new facts: an update of the first development.
    assert d[4].development_id == d[0].development_id and d[4].kind == "update"
    # The date counts once, as written (compared as day/month across languages); the month is no name.
    assert "Barbados" not in d[4].new_facts and "17 October" in d[4].new_facts
    assert not any(f.lower() == "october" for f in d[4].new_facts)
    # Same URL again: a copy of item 0.
    assert d[5].duplicate_of == 0 and d[5].kind == "rereport"


def test_replaying_stored_items_rebuilds_the_same_decisions() -> None:
    live = Tracker(stories=STORIES)
    expected = live.replay(enumerate(STREAM))
    restarted = Tracker(stories=STORIES)
    restarted.replay(enumerate(STREAM[:3]))
    assert restarted.replay((k + 3, it) for k, it in enumerate(STREAM[3:])) == expected[3:]


def test_saved_and_loaded_state_gives_the_same_decisions() -> None:
    live = Tracker(stories=STORIES)
    expected = live.replay(enumerate(STREAM))
    first = Tracker(stories=STORIES)
    first.replay(enumerate(STREAM[:3]))
    blob = json.dumps(first.to_dict())
    loaded = Tracker.from_dict(json.loads(blob), stories=STORIES)
    assert loaded.replay((k + 3, it) for k, it in enumerate(STREAM[3:])) == expected[3:]
    assert loaded.to_dict() == live.to_dict()


def test_watchlist_can_change_and_a_bad_query_keeps_the_old_one() -> None:
    tracker = Tracker(stories=STORIES)
    with pytest.raises(QueryError, match="unclosed quote"):
        tracker.set_stories({3: '"Wagner'})
    assert tracker.observe(0, STREAM[3]).stories == frozenset({2})
    tracker.set_stories({})
    assert tracker.observe(1, STREAM[2]).stories == frozenset()


def test_development_summary() -> None:
    tracker = Tracker()
    d = tracker.replay(enumerate(STREAM))
    info = tracker.development(d[4].development_id)
    assert info is not None
    assert info.items == 4 and info.first_seen == T0
    assert {"Reuters", "Yahoo", "AP"} <= set(info.outlets)
    assert d[0].development_id in tracker.active_developments()
