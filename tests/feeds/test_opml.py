"""OPML import/export: round trip, nesting, unsafe XML refused."""

from __future__ import annotations

import pytest

from feeds.opml import OPMLError, parse_opml, to_opml


def test_round_trip() -> None:
    feeds = [("https://a.example/rss", "A & B <news>"), ("https://b.example/atom?x=1&y=2", None)]
    text = to_opml(feeds)
    assert parse_opml(text.encode()) == [
        ("https://a.example/rss", "A & B <news>"),
        ("https://b.example/atom?x=1&y=2", "https://b.example/atom?x=1&y=2"),
    ]


def test_nested_outlines_and_duplicates() -> None:
    data = b"""<?xml version="1.0"?><opml version="1.0"><head/><body>
    <outline text="Africa"><outline text="Sudan Wire" xmlUrl="https://s.example/rss"/>
      <outline title="Sahel" XMLURL="https://sahel.example/feed"/></outline>
    <outline text="dup" xmlUrl="https://s.example/rss"/><outline text="folder only"/>
    </body></opml>"""
    assert parse_opml(data) == [
        ("https://s.example/rss", "Sudan Wire"),
        ("https://sahel.example/feed", "Sahel"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]><opml/>', "DOCTYPE"),
        (b"<opml><body><outline", "not well-formed"),
        (b"<rss/>", "expected <opml>"),
    ],
)
def test_bad_opml_refused(data: bytes, reason: str) -> None:
    with pytest.raises(OPMLError, match=reason):
        parse_opml(data)
