"""Parsing feed bytes: formats, JSON Feed, broken feeds, entity attacks."""

from __future__ import annotations

import json
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest

from feeds.parse import FeedParseError, parse_feed, parse_feed_async
from tests.feeds.test_fetch import BILLION_LAUGHS

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
URL = "https://news.example.com/feed"


def parse(body: bytes, content_type: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": content_type} if content_type else None
    return parse_feed(body, url=URL, fetched_at=FETCHED, headers=headers)


def test_atom_1_0() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title type="html">Sudan &amp;amp; Sahel Monitor</title>
  <link href="https://monitor.example/"/>
  <entry><id>tag:monitor.example,2026:1</id><title>RSF shells El Fasher</title>
    <link rel="alternate" href="https://monitor.example/a/1?utm_source=atom"/>
    <updated>2026-11-25T10:00:00+02:00</updated>
    <content type="html">&lt;p&gt;Shelling resumed &lt;em&gt;overnight&lt;/em&gt;.&lt;/p&gt;</content>
    <author><name>Staff</name></author></entry>
</feed>"""
    feed = parse(body, "application/atom+xml")
    assert feed.title == "Sudan & Sahel Monitor" and feed.version == "atom10"
    (item,) = feed.items
    assert item.guid == "tag:monitor.example,2026:1"
    assert item.url == "https://monitor.example/a/1"
    assert item.summary == "Shelling resumed overnight."
    assert item.published == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert item.author == "Staff" and item.language == "en"
    assert item.outlet == "Sudan & Sahel Monitor"


def test_rss_1_0_rdf() -> None:
    body = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel rdf:about="https://r.example/"><title>RDF Wire</title><link>https://r.example/</link></channel>
 <item rdf:about="https://r.example/1"><title>One</title><link>https://r.example/1</link>
  <dc:date>2026-11-20T12:00:00Z</dc:date><dc:creator>Wire</dc:creator></item>
</rdf:RDF>"""
    feed = parse(body)
    assert feed.version == "rss10"
    (item,) = feed.items
    assert item.url == "https://r.example/1" and item.author == "Wire"
    assert item.published == datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_json_feed_1_1() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Caracas Chronicle",
        "home_page_url": "https://caracas.example/",
        "language": "es",
        "items": [
            {
                "id": 17,
                "url": "https://caracas.example/17?fbclid=abc",
                "title": "Elecciones",
                "content_html": "<p>Texto <b>largo</b></p>",
                "date_published": "2026-11-24T18:00:00-04:00",
                "authors": [{"name": "Luis"}, {"name": "Marta"}],
            },
            {"id": "no-title", "content_text": "Only text here", "language": "en"},
            "not an object",
        ],
    }
    feed = parse(json.dumps(doc).encode(), "application/feed+json")
    assert feed.title == "Caracas Chronicle" and feed.version == "json11"
    first, second = feed.items
    assert first.guid == "17" and first.url == "https://caracas.example/17"
    assert first.summary == "Texto largo" and first.author == "Luis, Marta"
    assert first.published == datetime(2026, 11, 24, 22, tzinfo=UTC)
    assert first.language == "es"
    assert second.title == "Only text here" and second.language == "en"
    assert second.published == FETCHED
    assert feed.warnings == ["1 entries without title, summary or link skipped"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty document"),
        (b"   \n", "empty document"),
        (b"<html><body>Hi</body></html>", "not a feed"),
        (b"{not json", "invalid JSON"),
        (b'{"hello": 1}', "not a JSON Feed"),
        (b"\x00\x01\x02garbage", "not a feed"),
    ],
)
def test_not_a_feed_raises_with_reason(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError, match=reason):
        parse(body)


def test_empty_but_valid_feed_is_not_an_error() -> None:
    feed = parse(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    assert feed.items == [] and feed.title == "Quiet"


def test_bozo_feed_with_entries_is_used() -> None:
    body = b"""<rss version="2.0"><channel><title>Sloppy & Co</title>
<item><title>Unescaped & ampersand</title><guid>s1</guid></item>
<item><title>Second <b>bold</title><guid>s2</guid></item></channel>"""
    feed = parse(body)
    assert [i.guid for i in feed.items] == ["s1", "s2"]
    assert feed.warnings and feed.warnings[0].startswith("SAXParseException")


def test_billion_laughs_does_not_expand() -> None:
    started = time.monotonic()
    feed = parse(BILLION_LAUGHS)
    assert time.monotonic() - started < 1.0
    (item,) = feed.items
    assert "lollol" not in item.title and len(item.title) < 50


def test_quadratic_blowup_does_not_expand() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + b"x" * 50_000 + b'">]>\n'
        b'<rss version="2.0"><channel><title>Q</title><item><guid>1</guid><title>'
        + b"&a;" * 20_000
        + b"</title></item></channel></rss>"
    )
    feed = parse(body)
    (item,) = feed.items
    assert "xxxxxxxxxx" not in item.title


def test_external_entity_is_not_loaded(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        '<rss version="2.0"><channel><title>X</title><item><guid>1</guid>'
        "<title>a &xxe; b</title></item></channel></rss>"
    ).encode()
    feed = parse(body)
    assert "TOP-SECRET" not in feed.items[0].title


def test_small_declared_entities_still_work() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY nbsp "&#160;">
<!ENTITY org "Acme">
]>
<rss version="2.0"><channel><title>&org; News</title>
<item><guid>1</guid><title>A&nbsp;B</title></item></channel></rss>"""
    feed = parse(body)
    assert feed.title == "Acme News" and feed.items[0].title == "A B"


def test_naive_fetched_at_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_feed(b"<rss/>", url=URL, fetched_at=datetime(2026, 1, 1))


async def test_parse_async_in_threads_and_processes() -> None:
    body = (
        b'<rss version="2.0"><channel><title>T</title>'
        b"<item><guid>1</guid><title>x</title></item></channel></rss>"
    )
    in_thread = await parse_feed_async(body, url=URL, fetched_at=FETCHED)
    with ProcessPoolExecutor(max_workers=1) as pool:
        in_process = await parse_feed_async(body, url=URL, fetched_at=FETCHED, executor=pool)
    assert in_thread == in_process
    assert pickle.loads(pickle.dumps(in_thread)) == in_thread
