"""Entries known by their fingerprint are not read again, and skipping them changes nothing.

``parse_feed(known=...)`` gets fingerprint -> guid of entries read before from the same
feed; those entries come back as ``known_entries`` (their guids), the rest as items with
fingerprints. Whatever changed between two versions of a feed, the items of the second
version put back together from its known entries (the first version's items by guid) and
its read items are exactly what reading all of it gives.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.parse import ParsedFeed, parse_feed, parse_feed_async
from stories.model import Item

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
URL = "https://wire.example/rss"
RSS = "application/rss+xml"
ROOT = Path(__file__).resolve().parents[2]


def rss(entries: list[str], *, title: str = "Wire", language: str = "en") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{title}</title><link>https://wire.example/</link><language>{language}</language>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


def entry(
    k: int, *, title: str | None = None, guid_attr: str = 'isPermaLink="false"', extra: str = ""
) -> str:
    return (
        f"<item><title>{escape(title or f'Report {k}: talks resume')}</title>"
        f"<link>https://wire.example/news/{k}?utm_source=rss</link>"
        f"<guid {guid_attr}>wire-{k}</guid><pubDate>Mon, 02 Nov 2026 10:{k % 60:02d}:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Negotiators met, report {k}.&lt;/p&gt;</description>{extra}</item>"
    )


def parse(body: bytes, known: dict[int, str] | None = None, url: str = URL) -> ParsedFeed:
    """A read that takes fingerprints (``known`` empty unless given)."""
    return parse_feed(body, url=url, fetched_at=FETCHED, headers={"content-type": RSS}, known=known or {})


def parse_whole(body: bytes) -> ParsedFeed:
    return parse_feed(body, url=URL, fetched_at=FETCHED, headers={"content-type": RSS})


def known_of(feed: ParsedFeed) -> dict[int, str]:
    """What a caller remembers of a read: fingerprint -> guid of each item."""
    assert len(feed.fingerprints) == len(feed.items)
    return {fingerprint: item.guid for item, fingerprint in zip(feed.items, feed.fingerprints, strict=True)}


def put_back(feed: ParsedFeed, before: dict[str, Item]) -> list[Item]:
    """The items in feed order, known entries taken from the earlier read by guid."""
    out: list[Item] = []
    pending = list(feed.known_entries)
    for index, item in enumerate([*feed.items, None]):
        while pending and pending[0][0] == index:
            out.append(before[pending.pop(0)[1]])
        if item is not None:
            out.append(item)
    assert not pending
    return out


def test_a_rolling_window_reads_only_its_new_entries() -> None:
    first = parse(rss([entry(k) for k in range(9, -1, -1)]))
    assert len(first.items) == 10 and not first.known_entries
    second = parse(rss([entry(k) for k in range(11, 1, -1)]), known_of(first))
    assert [item.guid for item in second.items] == ["wire-11", "wire-10"]
    assert second.known_entries == [(2, f"wire-{k}") for k in range(9, 1, -1)]
    whole = parse_whole(rss([entry(k) for k in range(11, 1, -1)]))
    assert put_back(second, {i.guid: i for i in first.items}) == whole.items


def test_without_known_nothing_is_skipped_and_no_fingerprints_are_taken() -> None:
    body = rss([entry(k) for k in range(3)])
    plain = parse_whole(body)
    assert plain.fingerprints == [] and plain.known_entries == []
    remembered = parse(body)
    assert remembered.items == plain.items and len(remembered.fingerprints) == 3


def test_any_change_to_an_entry_or_its_feed_reads_it_again() -> None:
    base = [entry(k) for k in range(3)]
    known = known_of(parse(rss(base)))
    assert len(parse(rss(base), known).known_entries) == 3
    edits = {
        "title": entry(1, title="Report 1: talks collapse"),
        "attribute": entry(1, guid_attr='isPermaLink="true"'),
        "child": entry(1, extra="<dc:creator>Staff</dc:creator>"),
        "ignored child": entry(1, extra="<category>World</category>"),
    }
    for what, edited in edits.items():
        again = parse(rss([base[0], edited, base[2]]), known)
        assert [i.guid for i in again.items] == ["wire-1"], what
        assert again.known_entries == [(0, "wire-0"), (1, "wire-2")], what
    # Feed-level fields the items depend on: every entry is read again.
    assert parse(rss(base, title="Wire Service"), known).known_entries == []
    assert parse(rss(base, language="fr"), known).known_entries == []
    assert parse(rss(base), known, url="https://other.example/rss").known_entries == []


def test_the_same_entry_bytes_under_another_namespace_are_read_again() -> None:
    base = [entry(k, extra="<dc:creator>Staff</dc:creator>") for k in range(3)]
    first = parse(rss(base))
    assert [i.author for i in first.items] == ["Staff"] * 3
    moved = rss(base).replace(b"http://purl.org/dc/elements/1.1/", b"https://other.example/ns")
    again = parse(moved, known_of(first))
    assert again.known_entries == [] and again.items == parse_whole(moved).items


def test_entries_whose_tags_cannot_be_counted_are_told_apart_by_their_elements() -> None:
    """A description holding "<item>" in CDATA: the entries' bytes cannot be found by
    their tags, so each entry's elements are fingerprinted instead; the same holds."""
    fake = "<description><![CDATA[<item>not an item</item>]]></description>"
    base = [entry(k, extra=fake if k == 1 else "") for k in range(3)]
    first = parse(rss(base))
    assert len(first.items) == 3
    assert len(parse(rss(base), known_of(first)).known_entries) == 3
    edited = parse(rss([base[0], base[1], entry(2, title="Edited", extra="")]), known_of(first))
    assert [i.title for i in edited.items] == ["Edited"] and len(edited.known_entries) == 2


def test_a_document_the_fast_path_refuses_is_read_whole() -> None:
    base = [entry(k) for k in range(3)]
    known = known_of(parse(rss(base)))
    # Markup inside a title: feedparser reads this document, all of it, and takes no prints.
    odd = parse(rss([base[0], entry(1, title="x").replace("<title>x", "<title>x<b>y</b>"), base[2]]), known)
    assert len(odd.items) == 3 and odd.known_entries == [] and odd.fingerprints == []


def test_atom_entries_are_skipped_the_same_way() -> None:
    def atom(names: list[str]) -> bytes:
        entries = "".join(
            f"<entry><id>tag:a,2026:{n}</id><title>Entry {n}</title>"
            f'<link href="https://a.example/{n}"/><updated>2026-11-25T10:00:00Z</updated>'
            f"<author><name>{n}</name></author></entry>"
            for n in names
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>A</title><link href="https://a.example/"/>{entries}</feed>'
        ).encode()

    first = parse_feed(atom(["a", "b"]), url=URL, fetched_at=FETCHED, known={})
    second = parse_feed(atom(["c", "a", "b"]), url=URL, fetched_at=FETCHED, known=known_of(first))
    assert [i.guid for i in second.items] == ["tag:a,2026:c"]
    assert second.known_entries == [(1, "tag:a,2026:a"), (1, "tag:a,2026:b")]
    # The author is a nested element: a new name is a changed entry.
    renamed = atom(["a", "b"]).replace(b"<name>b</name>", b"<name>Staff</name>")
    third = parse_feed(renamed, url=URL, fetched_at=FETCHED, known=known_of(first))
    assert [i.guid for i in third.items] == ["tag:a,2026:b"] and third.items[0].author == "Staff"


def test_every_fixture_feed_read_twice_is_all_known() -> None:
    paths = sorted(p for d in ("examples/feeds", "tests/data/feeds") for p in (ROOT / d).glob("*.xml"))
    skipped = 0
    for path in paths:
        body = path.read_bytes()
        first = parse_feed(body, url=URL, fetched_at=FETCHED, known={})
        if not first.fingerprints:
            continue  # not for the fast path
        again = parse_feed(body, url=URL, fetched_at=FETCHED, known=known_of(first))
        assert again.items == [], path.name
        # By guid, the first of each (what is stored): duplicate_guids.xml has two versions.
        by_guid = {i.guid: i for i in reversed(first.items)}
        assert put_back(again, by_guid) == [by_guid[i.guid] for i in first.items], path.name
        skipped += len(again.known_entries)
    assert skipped > 20


def test_a_process_pool_gets_no_known_entries_but_a_thread_pool_does() -> None:
    body = rss([entry(k) for k in range(3)])
    known = known_of(parse(body))

    async def read(executor: Executor) -> ParsedFeed:
        return await parse_feed_async(
            body, url=URL, fetched_at=FETCHED, headers={"content-type": RSS}, executor=executor, known=known
        )

    with ThreadPoolExecutor(1) as pool:
        assert len(asyncio.run(read(pool)).known_entries) == 3
    # Fingerprints are Python hashes of this process: another process's would not match.
    with ProcessPoolExecutor(1) as processes:
        remote = asyncio.run(read(processes))
    assert len(remote.items) == 3 and remote.known_entries == [] and remote.fingerprints == []


TITLES = st.sampled_from(["Report", "Report &amp; more", "Talks <b>resume</b>", "", "Ceasefire"])


@st.composite
def versions(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Two versions of a feed's entries: the second drops, adds, repeats and edits some."""
    pool = list(range(draw(st.integers(1, 8))))
    # Sometimes a fake "<item>" in CDATA: then entries are fingerprinted by their elements.
    fake = draw(st.sampled_from(["", "<comments><![CDATA[</item><item>]]></comments>"]))
    first = [entry(k, title=f"{draw(TITLES)} {k}", extra=fake if k == 0 else "") for k in pool]
    second: list[str] = []
    for k in draw(st.lists(st.integers(0, 10), max_size=10)):
        if k < len(first) and draw(st.booleans()):
            second.append(first[k])  # as it was (possibly twice)
        else:
            second.append(
                entry(
                    k,
                    title=f"{draw(TITLES)} {k}",
                    guid_attr=draw(st.sampled_from(['isPermaLink="false"', ""])),
                )
            )
    return first, second


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(versions())
def test_skipping_known_entries_never_changes_what_is_read(pair: tuple[list[str], list[str]]) -> None:
    first_entries, second_entries = pair
    first = parse(rss(first_entries))
    second = parse(rss(second_entries), known_of(first))
    whole = parse_whole(rss(second_entries))
    assert put_back(second, {i.guid: i for i in first.items}) == whole.items
    assert second.warnings == whole.warnings
