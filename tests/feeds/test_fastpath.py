"""The stdlib fast path gives exactly the items feedparser gives, whenever it applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.fastpath import Unsupported, parse_fast
from feeds.parse import parse_feed

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _fast(path: Path) -> bool:
    try:
        parse_fast(path.read_bytes())
    except Unsupported:
        return False
    return True


FILES = sorted(
    p
    for d in (ROOT / "examples" / "feeds", ROOT / "tests" / "data" / "feeds")
    for p in d.iterdir()
    if p.suffix in (".xml", ".atom") and _fast(p)
)


def both(body: bytes, content_type: str = "") -> tuple[object, object]:
    headers = {"content-type": content_type} if content_type else None
    fast = parse_feed(body, url="https://f.example/feed", fetched_at=FETCHED, headers=headers)
    slow = parse_feed(
        body, url="https://f.example/feed", fetched_at=FETCHED, headers=headers, engine="feedparser"
    )
    return (fast.title, fast.language, fast.items), (slow.title, slow.language, slow.items)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_same_items_on_fixture_files(path: Path) -> None:
    fast, slow = both(path.read_bytes())
    assert fast == slow


def test_fast_path_taken_for_plain_feeds() -> None:
    names = {p.name for p in FILES}
    assert {"andes-wire.xml", "daily-courier.xml", "cdata_html_with_script.xml"} <= names
    assert len(names) >= 12


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"/>', "encoding"),
        (b'<!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"/>', "DOCTYPE"),
        (b'<rss version="0.91"><channel><title>t</title></channel></rss>', "root"),
        (b'<rss version="2.0"><channel><title>t</title><item><title>&nbsp;</title>', "well-formed"),
        (
            b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry>"
            b"<content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>x</div></content>"
            b"</entry></feed>",
            "nested",
        ),
    ],
)
def test_unsupported_documents_go_to_feedparser(body: bytes, reason: str) -> None:
    with pytest.raises(Unsupported, match=reason):
        parse_fast(body)


texts = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    st.sampled_from(
        [
            "Plain title",
            "<b>Bold</b> &amp; co",
            "&lt;p&gt;escaped&lt;/p&gt;",
            "Caf\u00e9 \u00bfqu\u00e9?",
            "\u0412\u0430\u0433\u043d\u0435\u0440",
            "a < b",
            "  spaced\n\nout  ",
            "",
            "<script>x()</script>ok",
        ]
    ),
)
dates = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
)
links = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://n.example/a?utm_source=x&id=2",
            "/relative/path",
            "HTTP://N.EXAMPLE:80/b#frag",
            "https://n.example/%7euser",
        ]
    ),
)
guids = st.one_of(st.none(), st.sampled_from(["g-1", "https://n.example/p/1", "urn:x:1", ""]))
items = st.lists(
    st.tuples(texts, texts, links, guids, dates, st.booleans(), st.one_of(st.none(), texts)),
    max_size=6,
)


def rss(feed_title: str, entries: list[tuple], lang: str | None) -> bytes:  # type: ignore[type-arg]
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>{escape(feed_title)}</title><link>https://n.example/</link>",
    ]
    if lang:
        out.append(f"<language>{lang}</language>")
    for title, summary, link, guid, date, permalink, author in entries:
        out.append("<item>")
        if title:
            out.append(f"<title>{escape(title)}</title>")
        if link is not None:
            out.append(f"<link>{escape(link)}</link>")
        if guid is not None:
            attr = "" if permalink else ' isPermaLink="false"'
            out.append(f"<guid{attr}>{escape(guid)}</guid>")
        if summary:
            tag = "description" if permalink else "content:encoded"
            out.append(f"<{tag}><![CDATA[{summary.replace(']]>', '')}]]></{tag}>")
        if date is not None:
            if permalink:
                out.append(f"<pubDate>{date.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate>")
            else:
                out.append(f"<dc:date>{date.isoformat()}</dc:date>")
        if author:
            out.append(f"<dc:creator>{escape(author)}</dc:creator>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def atom(feed_title: str, entries: list[tuple], lang: str | None) -> bytes:  # type: ignore[type-arg]
    lang_attr = f" xml:lang={quoteattr(lang)}" if lang else ""
    out = [
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang_attr}>',
        f"<title>{escape(feed_title)}</title><id>urn:f</id><updated>2026-01-01T00:00:00Z</updated>",
    ]
    for title, summary, link, guid, date, html, author in entries:
        out.append("<entry>")
        if guid is not None:
            out.append(f"<id>{escape(guid)}</id>")
        if title:
            kind = "html" if html else "text"
            out.append(f'<title type="{kind}">{escape(title)}</title>')
        if link is not None:
            out.append(f"<link rel='alternate' href={quoteattr(link)}/>")
        if summary:
            out.append(f'<summary type="html">{escape(summary)}</summary>')
        if date is not None:
            out.append(f"<updated>{date.isoformat()}</updated>")
            out.append(f"<published>{(date - timedelta(hours=1)).isoformat()}</published>")
        if author:
            out.append(f"<author><name>{escape(author)}</name></author>")
        out.append("</entry>")
    out.append("</feed>")
    return "".join(out).encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([rss, atom]),
    texts.filter(lambda t: bool(t.strip())),
    items,
    st.sampled_from([None, "en", "es-VE"]),
)
def test_fast_path_agrees_with_feedparser(build, title, entries, lang) -> None:  # type: ignore[no-untyped-def]
    body = build(title, entries, lang)
    try:
        parse_fast(body)
    except Unsupported:
        return
    fast, slow = both(body, "application/xml; charset=utf-8")
    assert fast == slow


@given(
    st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["GMT", "+0000", "-0530", "+1400", "Z"]),
    st.sampled_from(["rfc822", "iso"]),
)
def test_fast_dates_read_as_the_struct_time_they_replace(when: datetime, zone: str, form: str) -> None:
    """The fast path gives dates as datetimes; normalising reads them exactly as the
    struct_time (UTC, to the second) it gave before."""
    import time as time_module

    from feeds import fastpath
    from feeds.normalize import _parsed_date

    if form == "rfc822":
        raw = when.strftime("%a, %d %b %Y %H:%M:%S ") + zone
    else:
        raw = when.isoformat().replace("+00:00", "Z" if zone == "Z" else "+00:00")
    value = fastpath._date(raw)
    assert value is not None
    as_struct = value.timetuple() if isinstance(value, datetime) else value
    assert isinstance(as_struct, time_module.struct_time)
    assert _parsed_date({"published_parsed": value}) == _parsed_date({"published_parsed": as_struct})
