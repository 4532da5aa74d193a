"""Normalising: canonical URLs, plain text, ids, dates (examples and properties)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feeds import normalize
from feeds.normalize import (
    SUMMARY_MAX,
    canonical_url,
    html_to_text,
    normalize_entry,
    outlet_name,
    stable_guid,
    truncate,
)

FETCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://News.Example.COM:80/a/b?utm_source=x&id=3#frag", "http://news.example.com/a/b?id=3"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        (
            "https://ex.com/p?b=2&a=1&fbclid=F&gclid=G&mc_cid=c&mc_eid=e&yclid=y&UTM_Medium=m",
            "https://ex.com/p?a=1&b=2",
        ),
        ("https://user:pw@ex.com/p", "https://ex.com/p"),
        ("https://ex.com/a%2fb/%7e", "https://ex.com/a%2Fb/%7E"),
        ("https://ex.com/a b", "https://ex.com/a%20b"),
        ("https://ex.com/?q=a+b", "https://ex.com/?q=a%20b"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
        ("https://ex.com./x", "https://ex.com/x"),
        ("mailto:someone@example.com", None),
        ("javascript:alert(1)", None),
        ("", None),
        ("https://", None),
        ("http://[::1", None),
        ("https://ex.com:99999/", None),
    ],
)
def test_canonical_url_examples(url: str, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_resolves_relative() -> None:
    assert canonical_url("/story/1?utm_campaign=z", base="https://ex.com/feed.xml") == (
        "https://ex.com/story/1"
    )


urls = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, port, path, query, frag: f"{scheme}://{host}{port}/{path}?{query}#{frag}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "Https"]),
        st.from_regex(r"[A-Za-z0-9.\-ü]{1,20}", fullmatch=True),
        st.sampled_from(["", ":80", ":443", ":8080", ":0", ":x"]),
        st.text(max_size=30),
        st.text(max_size=40),
        st.text(max_size=10),
    ),
)


@settings(max_examples=400, deadline=None)
@given(urls)
def test_canonical_url_never_crashes_and_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    if once is None:
        return
    assert canonical_url(once) == once
    assert once.startswith(("http://", "https://"))
    assert "#" not in once
    assert not re.search(r"[?&](utm_[^=&]*|fbclid|gclid)=", once, re.IGNORECASE)
    assert not re.search(r"\s", once)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello <b>world</b></p><p>again</p>", "Hello world again"),
        ("Fish &amp; chips &mdash; &#8220;quoted&#x201D;", "Fish & chips — “quoted”"),
        ("<script>alert('x')</script>Visible<style>p{color:red}</style>", "Visible"),
        ("&lt;p&gt;Escaped &lt;b&gt;twice&lt;/b&gt;&lt;/p&gt;", "Escaped twice"),
        ("line1<br>line2<br/>line3", "line1 line2 line3"),
        ("  lots\n\n of\t\twhitespace\u00a0here ", "lots of whitespace here"),
        ("a < b and c > d", "a < b and c > d"),
        ("x<y", "x< y"),
        ("<div><!-- comment -->text</div>", "text"),
        ("<![CDATA[ignored]]>plain", "plain"),
        ("", ""),
    ],
)
def test_html_to_text_examples(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


html_fragments = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br/>",
                "<script>",
                "</script>",
                "<style>",
                "</style>",
                "&amp;",
                "&lt;",
                "&gt;",
                "&lt;b&gt;",
                "&#60;",
                "&#x3C;",
                "<!--",
                "-->",
                "<a href='x'>",
                "</a>",
                "<",
                ">",
                "&",
                "&nbsp;",
                "<![CDATA[",
                "]]>",
                "<img src=x onerror=y>",
                "\u00a0",
                "\x00",
                "\r\n",
            ]
        ),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(html_fragments, st.one_of(st.none(), st.integers(min_value=1, max_value=60)))
def test_html_to_text_properties(html: str, max_len: int | None) -> None:
    text = html_to_text(html, max_len=max_len)
    assert html_to_text(text, max_len=max_len) == text  # idempotent
    assert not re.search(r"<[A-Za-z/!?]", text)  # no tags, comments or declarations left
    assert text == text.strip() and "  " not in text and "\n" not in text
    if max_len is not None:
        assert len(text) <= max_len


def test_truncate_at_word_boundary() -> None:
    assert truncate("one two three four", 12) == "one two…"
    assert truncate("short", 10) == "short"
    assert len(truncate("x" * 50, 10)) == 10


def entry(**kw: object) -> dict[str, object]:
    return dict(kw)


def test_normalize_entry_full() -> None:
    item = normalize_entry(
        entry(
            id="urn:1",
            link="/a?utm_source=rss",
            title="<b>Maduro</b> &amp; co",
            summary="<p>Summary <script>x</script>text</p>",
            published_parsed=time.struct_time((2026, 11, 25, 8, 30, 0, 2, 329, 0)),
            author="Ana <i>Pérez</i>",
            title_detail={"language": "es-VE"},
        ),
        feed_url="https://news.example.com/rss",
        outlet="Example News",
        fetched_at=FETCHED,
    )
    assert item is not None
    assert item.guid == "urn:1"
    assert item.url == "https://news.example.com/a"
    assert item.title == "Maduro & co"
    assert item.summary == "Summary text"
    assert item.published == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert item.author == "Ana Pérez"
    assert item.language == "es-ve"
    assert item.outlet == "Example News"


def test_normalize_entry_fallbacks() -> None:
    future = (FETCHED + timedelta(days=2)).timetuple()
    item = normalize_entry(
        entry(link="https://ex.com/x", summary="Only a summary " * 500, published_parsed=future),
        feed_url="https://ex.com/feed",
        outlet="ex.com",
        fetched_at=FETCHED,
        feed_language="EN_us",
    )
    assert item is not None
    assert item.guid == "https://ex.com/x"  # no guid: the link
    assert item.published == FETCHED  # future date: fetch time
    assert item.title.startswith("Only a summary") and len(item.title) <= 120
    assert len(item.summary) <= SUMMARY_MAX
    assert item.language == "en-us"
    assert normalize_entry({}, feed_url="u", outlet="o", fetched_at=FETCHED) is None


def test_stable_guid_hash_is_stable() -> None:
    a = stable_guid({"title": "T", "published": "Mon, 01 Jan 2026"}, None)
    b = stable_guid({"title": "T", "published": "Mon, 01 Jan 2026"}, None)
    c = stable_guid({"title": "T2", "published": "Mon, 01 Jan 2026"}, None)
    assert a == b != c and a.startswith("sha256:")
    assert stable_guid({"id": "x" * 2000}, None).startswith("sha256:")


def test_outlet_name() -> None:
    assert outlet_name("  <b>Reuters</b> ", None, "https://x") == "Reuters"
    assert outlet_name(None, "https://www.bbc.co.uk/news", "https://feeds.bbci.co.uk/x") == ("bbc.co.uk")
    assert outlet_name("", None, "https://feeds.example.org/rss") == "feeds.example.org"


_PATH_CHARS = "abcXYZ019/._~!$&'()*,;=:@-"
_QUERY_CHARS = "abXY01._~=&-"


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9](?:[a-z0-9.-]{0,12}[a-z0-9])?", fullmatch=True),
    st.none() | st.text(alphabet=_PATH_CHARS, max_size=30).map(lambda p: "/" + p),
    st.none() | st.text(alphabet=_QUERY_CHARS, max_size=30),
    st.sampled_from([None, "https://feeds.example/rss.xml", "http://other.example/a/b?c=d"]),
)
def test_canonical_url_shortcut_agrees_with_the_long_way(
    scheme: str, host: str, path: str | None, query: str | None, base: str | None
) -> None:
    # The shortcut for plain absolute URLs (most feed links) gives what urljoin,
    # urlsplit and quote would have made of them.
    url = f"{scheme}://{host}{path or ''}" + ("" if query is None else f"?{query}")
    assume(normalize._SIMPLE_URL.fullmatch(url) is not None)
    assert canonical_url(url, base=base) == normalize._canonical_general(url, base)


# The ASCII fast paths (bytes.translate for control characters, bytes.split for
# whitespace) against the general way they replace, on text full of controls and
# whitespace of every kind.
_ascii_mess = st.text(
    alphabet=st.sampled_from([chr(c) for c in range(0x00, 0x80)] + [" ", "\t", "\n", "\r", "\x0b", "\x1c"]),
    max_size=80,
)


def _fold_general(text: str) -> str:
    return " ".join(normalize._CONTROL.sub("", text).split())


@given(_ascii_mess)
def test_ascii_fold_equals_the_general_fold(text: str) -> None:
    assert normalize._fold(text) == _fold_general(text)


@given(_ascii_mess, st.sampled_from(["", "https://ex.com/", "http://ex.com/a?b=1"]))
def test_ascii_url_controls_removed_as_before(mess: str, prefix: str) -> None:
    url = prefix + mess
    assume(url)  # empty: None before any of this
    general = normalize._CONTROL.sub("", url).strip()
    m = normalize._SIMPLE_URL.fullmatch(general)
    expected = (
        normalize._canonical_simple(*m.groups())
        if m
        else normalize._canonical_general(general, "https://base.example/")
    )
    assert canonical_url(url, base="https://base.example/") == expected


@given(st.text(max_size=40), st.text(max_size=40))
def test_cached_language_and_author_equal_a_fresh_reading(lang: str, author: str) -> None:
    for _ in range(2):  # the second time from the cache
        assert normalize._language(lang) == normalize._read_language(lang)
        assert normalize._author({"author": author}) == (
            (html_to_text(author, max_len=200) or None) if author.strip() else None
        )


@given(st.text(alphabet="abcutm_=&-.~09", max_size=40))
def test_cached_query_equals_a_fresh_reading(query: str) -> None:
    url = "https://ex.com/p?" + query
    if normalize._SIMPLE_URL.fullmatch(url) is None:
        return
    first = canonical_url(url)
    assert canonical_url(url) == first  # the second time from the cache
    assert first == "https://ex.com/p" + (f"?{q}" if (q := normalize._canonical_query(query)) else "")
