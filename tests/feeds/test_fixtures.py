"""Every hard-case fixture in tests/data/feeds parses to what cases.json expects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.parse import FeedParseError, parse_feed

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
CASES: list[dict[str, Any]] = json.loads((DATA / "cases.json").read_text("utf-8"))["cases"]
FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_every_fixture_file_has_a_case() -> None:
    files = {p.name for p in DATA.iterdir() if p.name != "cases.json"}
    assert files == {c["file"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_fixture(case: dict[str, Any]) -> None:
    body = (DATA / case["file"]).read_bytes()
    headers = {"Content-Type": case["content_type"]} if "content_type" in case else None
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(FeedParseError) as info:
            parse_feed(body, url="http://fixture.example/feed", fetched_at=FETCHED, headers=headers)
        assert str(info.value).startswith(expect["error"])
        return
    feed = parse_feed(body, url="http://fixture.example/feed", fetched_at=FETCHED, headers=headers)
    items = feed.items
    fields = {
        "guids": [i.guid for i in items],
        "urls": [i.url for i in items],
        "titles": [i.title for i in items],
        "summaries": [i.summary for i in items],
        "published": [i.published.isoformat() for i in items],
        "authors": [i.author for i in items],
        "languages": [i.language for i in items],
        "outlets": [i.outlet for i in items],
        "title_lengths": [len(i.title) for i in items],
    }
    for key, value in expect.items():
        if key in fields:
            assert fields[key] == value, key
        elif key == "items":
            assert len(items) == value
        elif key == "feed_title":
            assert feed.title == value
        elif key == "version":
            assert feed.version == value
        elif key == "warning":
            assert bool(feed.warnings) is value, feed.warnings
        elif key == "guid_prefix":
            assert items and all(i.guid.startswith(value) for i in items)
        elif key == "distinct_guids":
            assert len({i.guid for i in items}) == len(items)
        else:
            raise AssertionError(f"unknown expectation {key!r}")
    for item in items:
        assert item.published.tzinfo is not None
        assert "<" not in item.title or "< " in item.title
