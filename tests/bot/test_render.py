"""Telegram HTML rendering: escaping, links, layout, splitting, and untrusted text.

Every rendered message is checked with the strict Telegram HTML checker (stricter than Telegram
itself) and against the visible-length limit.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import (
    MESSAGE_LIMIT,
    escape,
    render_digest,
    render_digest_parts,
    render_plain,
    render_search_results,
    render_story,
    safe_url,
)
from stories.digest import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Digest,
    DigestDevelopment,
    DigestItem,
    DigestSection,
    SearchHit,
)
from tests.fakes.telegram_html import TelegramHTMLError, check_html, visible_length

HOSTILE_FEED = Path(__file__).parent.parent / "data" / "hostile_feed.xml"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
MADRID = ZoneInfo("Europe/Madrid")
HREF = re.compile(r'<a href="([^"]*)">')


def item(
    title: str = "Headline",
    url: str | None = "https://example.org/a",
    outlet: str = "Reuters",
    hours_ago: float = 1.0,
    **kw: object,
) -> DigestItem:
    return DigestItem(title, url, outlet, NOW - timedelta(hours=hours_ago), **kw)  # type: ignore[arg-type]


def dev(
    dev_id: int,
    title: str,
    items: tuple[DigestItem, ...],
    outlets: int = 1,
    is_update: bool = False,
) -> DigestDevelopment:
    times = [i.published for i in items] or [NOW]
    return DigestDevelopment(dev_id, title, items, outlets, min(times), max(times), is_update)


def assert_valid(messages: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Each message passes the strict checker and fits; returns the visible texts."""
    visible = []
    for message in messages:
        text = check_html(message)
        assert 0 < visible_length(text) <= limit, visible_length(text)
        assert text.strip(), "a message must not be blank"
        for href in HREF.findall(message):
            assert href.startswith(("http://", "https://")), href
        visible.append(text)
    return visible


# -- escape / safe_url / render_plain ---------------------------------------------------------


def test_escape_covers_html_specials_and_drops_controls() -> None:
    assert escape("""<b>"Q&A" it's</b>""") == "&lt;b&gt;&quot;Q&amp;A&quot; it&#x27;s&lt;/b&gt;"
    assert escape("a\x00b\x07c\u202ed\ud800e") == "abcde"
    assert escape("line\nbreak\ttab") == "line\nbreak\ttab"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?x=1&y=2", "https://example.org/a?x=1&y=2"),
        ("  http://example.org/  ", "http://example.org/"),
        ("HTTPS://EXAMPLE.ORG/", "HTTPS://EXAMPLE.ORG/"),
        ("https://пример.рф/новости", "https://пример.рф/новости"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        (" javascript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("vbscript:x", None),
        ("tg://resolve?domain=x", None),
        ("//evil.example/x", None),
        ("/relative", None),
        ("http://", None),
        ("https://exa mple.org/", None),
        ("https://example.org:99999999/", None),
        ("https://bank.example@evil.example/", None),
        ("https://example.org/\u202ecod.exe", None),
        ("https://example.org/" + "a" * 3000, None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_render_plain_is_the_visible_text() -> None:
    html = '<b>A &amp; B</b> <a href="https://x.org/?a=1&amp;b=2">&lt;link&gt;</a> &#x27;q&#x27;'
    assert render_plain(html) == check_html(html) == "A & B <link> 'q'"


# -- digest layout ----------------------------------------------------------------------------


def sample_digest() -> Digest:
    new = dev(
        1,
        "Maduro meets opposition in Barbados",
        (
            item(
                "Maduro meets opposition in Barbados",
                "https://example.org/barbados",
                "Reuters",
                hours_ago=2,
                extra_sources=3,
                extra_outlets=("AP", "BBC", "DW", "AFP"),
            ),
            item("Talks to resume on Friday", "javascript:alert(1)", "El País", 1, kind="update"),
        ),
        outlets=5,
    )
    update = dev(
        2,
        "Oil sanctions eased",
        (item("US extends licence", "https://example.org/licence", "Bloomberg", 30),),
        is_update=True,
    )
    return Digest((DigestSection("Venezuela", (new, update)),), NOW)


def test_digest_layout() -> None:
    [message] = render_digest(sample_digest(), MADRID)
    visible = assert_valid([message])[0]
    assert message.startswith("🗞 <b>Digest</b> · 26 Nov 09:00")  # 08:00 UTC in Madrid
    assert "📰 <b>Venezuela</b>" in message
    assert (
        '🆕 <b><a href="https://example.org/barbados">Maduro meets opposition in Barbados</a></b>' in message
    )
    # lead report: outlet, local time (07:00 Madrid), folded copies with their outlets
    assert "Reuters · 07:00 · +3 more sources (AP, BBC, DW, …) · 5 outlets" in visible
    # a report with a javascript: link is shown without a link, marked as an update
    assert "↳ 🔄 Talks to resume on Friday — El País · 08:00" in visible
    assert "javascript" not in message
    # an update to a development seen before; a time on another day carries the date
    assert "🔄 update · <b>Oil sanctions eased</b>" in message
    assert '↳ <a href="https://example.org/licence">US extends licence</a>' in message
    assert "Bloomberg · 25 Nov 03:00" in visible


def test_empty_digest_renders_nothing() -> None:
    assert render_digest(Digest((), NOW), MADRID) == []
    assert render_digest(Digest((DigestSection("Sudan", ()),), NOW), MADRID) == []


def test_one_extra_source_is_singular() -> None:
    digest = Digest(
        (DigestSection("S", (dev(1, "T", (item(extra_sources=1, extra_outlets=("AP",)),)),)),),
        NOW,
    )
    [message] = render_digest(digest, UTC_ZONE)
    assert "+1 more source (AP)" in message


UTC_ZONE = ZoneInfo("UTC")


def test_an_update_line_says_what_it_adds_escaped() -> None:
    lead = item("Wagner column halts", extra_sources=3, extra_outlets=("AP", "EFE"))
    update = item("Deal details", "https://example.org/b", kind="update", adds=("400", "Il-96 <RA-96019>"))
    digest = Digest((DigestSection("Wagner", (dev(1, "Wagner column halts", (lead, update)),)),), NOW)
    [text] = assert_valid(render_digest(digest, UTC_ZONE))
    assert "+3 more sources (AP, EFE)" in text
    assert "+ 400, Il-96 <RA-96019>" in text  # escaped in the HTML, plain once parsed


# -- splitting --------------------------------------------------------------------------------


def big_digest(stories: int = 3, devs: int = 40) -> Digest:
    sections = []
    for s in range(stories):
        developments = tuple(
            dev(
                s * 1000 + d,
                f"Story {s} development {d} & <more> " + "x" * 60,
                (
                    item(f"Story {s} development {d} & <more> " + "x" * 60, f"https://e.org/{s}/{d}"),
                    item(f"S{s}D{d} follow-up", f"https://e.org/{s}/{d}/f", "AP", kind="update"),
                ),
                outlets=3,
            )
            for d in range(devs)
        )
        sections.append(DigestSection(f"Story {s}", developments))
    return Digest(tuple(sections), NOW)


@pytest.mark.parametrize("limit", [MESSAGE_LIMIT, 1000, 300])
def test_long_digest_splits_on_unit_boundaries(limit: int) -> None:
    digest = big_digest()
    messages = render_digest(digest, MADRID, limit=limit)
    assert len(messages) > 1
    visible = assert_valid(messages, limit)
    whole = "\n".join(visible)
    for section in digest.sections:
        for d in section.developments:
            # every development and report shown once, whole, never cut by a split
            assert whole.count(f"🆕 {d.title}\n") == 1
            assert whole.count(f"↳ 🔄 {d.items[1].title} — ") == 1
    for text in visible[1:]:
        # a message that starts mid-story repeats the heading
        assert text.startswith("📰 Story ")
    assert sum("(continued)" in t for t in visible) >= 1
    # no message ends with a bare heading
    for text in visible:
        assert not text.rstrip().split("\n")[-1].startswith("📰 ")


def test_story_order_is_kept_across_messages() -> None:
    messages = render_digest(big_digest(stories=3, devs=30), MADRID)
    whole = "\n".join(render_plain(m) for m in messages)
    positions = [whole.index(f"📰 Story {s}") for s in range(3)]
    assert positions == sorted(positions)


def test_single_overlong_item_is_truncated_safely() -> None:
    long_title = "Ünïcödé 😀 & <b> " * 500
    digest = Digest(
        (
            DigestSection(
                "S",
                (dev(1, long_title, (item(long_title, outlet="<i>" * 40, extra_sources=2),)),),
            ),
        ),
        NOW,
    )
    for limit in (200, 250, 4096):
        messages = render_digest(digest, MADRID, limit=limit)
        visible = assert_valid(messages, limit)
        assert any("…" in v for v in visible)


def test_many_reports_in_one_development_split_between_report_lines() -> None:
    reports = tuple(item(f"Report {n} " + "y" * 80, f"https://e.org/{n}") for n in range(120))
    digest = Digest((DigestSection("Wagner", (dev(7, "Big one", reports, 40),)),), NOW)
    messages = render_digest(digest, MADRID)
    visible = assert_valid(messages)
    assert len(messages) >= 3
    whole = "\n".join(visible)
    for n in range(1, 120):
        assert whole.count(f"↳ Report {n} ") == 1


def test_limit_must_be_sane() -> None:
    with pytest.raises(ValueError, match="limit"):
        render_digest(sample_digest(), MADRID, limit=10)


# -- /story and /search -----------------------------------------------------------------------


def test_render_story_newest_first() -> None:
    devs = [
        dev(1, "Oldest", (item("Oldest", hours_ago=30),)),
        dev(2, "Newest", (item("Newest", hours_ago=1),), outlets=4),
        dev(3, "Middle", (item("Middle", hours_ago=5),)),
    ]
    [message] = render_story("Sudan", devs, MADRID, now=NOW)
    visible = assert_valid([message])[0]
    assert visible.startswith("📰 Sudan")
    assert visible.index("Newest") < visible.index("Middle") < visible.index("Oldest")
    assert "• Newest" in visible


def test_render_story_without_developments() -> None:
    [message] = render_story("<Nothing & nobody>", [], MADRID, now=NOW)
    assert assert_valid([message])[0] == "📰 <Nothing & nobody>\nNo developments yet."


def test_search_results_highlight_and_escape() -> None:
    hits = [
        SearchHit(
            "Wagner <leaves> Mali",
            "https://example.org/mali",
            "AFP",
            NOW - timedelta(hours=3),
            f"… the {HIGHLIGHT_START}Wagner{HIGHLIGHT_END} group & "
            f"{HIGHLIGHT_START}Mali{HIGHLIGHT_END} <script>",
        ),
        SearchHit(
            "Unbalanced",
            "javascript:void(0)",
            "AP",
            NOW - timedelta(days=3),
            f"{HIGHLIGHT_END}stray end, {HIGHLIGHT_START}open to the end",
        ),
    ]
    message = render_search_results("wagner AND mali", hits, MADRID, now=NOW, offset=10, total=42)
    visible = assert_valid([message])[0]
    assert "🔎 <code>wagner AND mali</code> · 11–12 of 42" in message
    assert "the <b>Wagner</b> group &amp; <b>Mali</b> &lt;script&gt;" in message
    assert "11. " in visible and "12. Unbalanced" in visible
    assert "stray end, <b>open to the end</b>" in message
    assert "javascript" not in message


def test_search_without_results() -> None:
    message = render_search_results('"x" & y', [], MADRID, now=NOW)
    assert assert_valid([message])[0].startswith('🔎 No results for "x" & y')


def test_search_page_always_fits_one_message() -> None:
    hits = [
        SearchHit("T" * 5000, "https://e.org/" + "p" * 1000, "O" * 500, NOW, "s" * 5000) for _ in range(10)
    ]
    message = render_search_results("q" * 5000, hits, MADRID, now=NOW)
    visible = assert_valid([message])[0]
    assert all(f"{n}. " in visible for n in range(1, 11))


# -- untrusted text ---------------------------------------------------------------------------


def hostile_items() -> list[DigestItem]:
    parsed = feedparser.parse(str(HOSTILE_FEED))
    assert not parsed.bozo, parsed.get("bozo_exception")
    feed_title = parsed.feed.get("title", "")
    items = []
    for n, entry in enumerate(parsed.entries):
        source = entry.get("source") or {}
        items.append(
            DigestItem(
                title=entry.get("title", ""),
                url=entry.get("link"),
                outlet=source.get("title") or feed_title,
                published=NOW - timedelta(minutes=n),
                extra_sources=n % 3,
                extra_outlets=(feed_title, "<b>AP") if n % 3 else (),
            )
        )
    return items


def test_hostile_feed_renders_valid_html() -> None:
    items = hostile_items()
    assert len(items) >= 20
    devs = tuple(dev(n, it.title, (it,), outlets=n % 4, is_update=n % 5 == 0) for n, it in enumerate(items))
    digest = Digest((DigestSection("<script>alert(1)</script> & Co", devs),), NOW)
    for limit in (MESSAGE_LIMIT, 500):
        messages = render_digest(digest, MADRID, limit=limit)
        visible = "\n".join(assert_valid(messages, limit))
        assert '<script>alert("pwned")</script> Breaking: <b>Maduro & allies meet' in visible
        assert "Wagner &lt;b&gt;double-escaped&lt;/b&gt; &amp; friends" in visible
        assert "\u202e" not in visible
        assert "\u200fالخرطوم\u200f" in visible  # plain RTL marks are kept
    story = render_story("hostile", devs, MADRID, now=NOW)
    assert_valid(story)
    hits = [SearchHit(it.title, it.url, it.outlet, it.published, it.title) for it in items]
    for page in range(0, len(hits), 10):
        assert_valid([render_search_results("<b>", hits[page : page + 10], MADRID, now=NOW)])
    # only http(s) links survive, and the hostile ones are not even shown as text in a link
    all_html = "".join(render_digest(digest, MADRID))
    hrefs = [html.unescape(h) for h in HREF.findall(all_html)]
    assert hrefs and all(safe_url(h) == h for h in hrefs)
    for scheme in ("javascript:", "JaVaScRiPt:", "data:", "vbscript:", "//evil"):
        assert all(not h.startswith(scheme) for h in hrefs)
    assert "user:pass@" not in all_html


def test_strict_checker_rejects_what_telegram_rejects() -> None:
    bad = [
        "<script>x</script>",
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "a & b",
        "a < b",
        "a > b",
        "&nbsp;",
        "&#0;",
        "&#xD800;",
        '<a href="javascript:alert(1)">x</a>',
        "<a href='https://x.org'>single quotes</a>",
        "<a>no href</a>",
        '<span class="other">x</span>',
        "<code><b>x</b></code>",
        '<b class="x">x</b>',
        "<br/>",
        "</b>",
        "<blockquote><blockquote>x</blockquote></blockquote>",
    ]
    for text in bad:
        with pytest.raises(TelegramHTMLError):
            check_html(text)
    good = {
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>": "bsieuns",
        '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>': "xy",
        '<pre><code class="language-python">p &lt; 1</code></pre>': "p < 1",
        "<blockquote expandable>q</blockquote>": "q",
        '<a href="tg://user?id=1">u</a> &#128512; &#x1F600;': "u 😀 😀",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>': "👍",
    }
    for text, visible in good.items():
        assert check_html(text) == visible


# Text with everything that can go wrong: HTML specials, entities, controls, surrogates,
# bidi controls, highlight markers, astral characters.
nasty_text = st.lists(
    st.one_of(
        st.sampled_from([*list("<>&\"'; /=#x\n\t"), "&amp;", "&lt;", "<b>", "</b>", "&#0;"]),
        st.sampled_from(
            ["\u202e", "\u2067", "\u200f", HIGHLIGHT_START, HIGHLIGHT_END, "😀", "\x00", "\ud800"]
        ),
        st.characters(),
    ),
    max_size=120,
).map("".join)
nasty_url = st.one_of(
    st.none(),
    nasty_text,
    st.builds(lambda s: "https://example.org/" + s, nasty_text),
    st.builds(lambda s: "javascript:" + s, nasty_text),
)


@st.composite
def digests(draw: st.DrawFn) -> Digest:
    sections = []
    next_id = iter(range(10_000))
    for _ in range(draw(st.integers(1, 3))):
        devs = []
        for _ in range(draw(st.integers(1, 6))):
            reports = tuple(
                DigestItem(
                    draw(nasty_text),
                    draw(nasty_url),
                    draw(nasty_text),
                    NOW - timedelta(minutes=draw(st.integers(0, 5000))),
                    draw(st.sampled_from(["new", "update", "rereport"])),
                    draw(st.integers(0, 50)),
                    tuple(draw(st.lists(nasty_text, max_size=5))),
                )
                for _ in range(draw(st.integers(1, 4)))
            )
            devs.append(
                dev(next(next_id), draw(nasty_text), reports, draw(st.integers(0, 30)), draw(st.booleans()))
            )
        sections.append(DigestSection(draw(nasty_text), tuple(devs)))
    return Digest(tuple(sections), NOW)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    digests(),
    st.sampled_from([200, 333, 1000, MESSAGE_LIMIT]),
    st.sampled_from(["UTC", "Asia/Kolkata", "America/Caracas"]),
)
def test_any_untrusted_text_renders_valid_html_under_the_limit(digest: Digest, limit: int, zone: str) -> None:
    messages = render_digest(digest, ZoneInfo(zone), limit=limit)
    assert messages
    visible = assert_valid(messages, limit)
    for message, text in zip(messages, visible, strict=True):
        assert render_plain(message) == text


@settings(max_examples=100, deadline=None)
@given(nasty_text, st.lists(st.tuples(nasty_text, nasty_url, nasty_text, nasty_text), max_size=10))
def test_any_search_page_renders_valid_html(query: str, rows: list[tuple[str, str | None, str, str]]) -> None:
    hits = [SearchHit(t, u, o, NOW, s) for t, u, o, s in rows]
    message = render_search_results(query, hits, UTC_ZONE, now=NOW, total=len(hits))
    assert_valid([message])


@settings(max_examples=100, deadline=None)
@given(nasty_text)
def test_escape_always_yields_valid_text(text: str) -> None:
    escaped = escape(text)
    if escaped.strip():
        check_html(escaped)


# -- languages ---------------------------------------------------------------------------------


def test_digest_in_spanish_and_russian() -> None:
    """The fixed texts and dates follow the translator; untrusted text is left as it is."""
    from bot.i18n import translator

    es = assert_valid(render_digest(sample_digest(), MADRID, tr=translator("es")))[0]
    assert es.startswith("🗞 Resumen · 26 nov 09:00")
    assert "Reuters · 07:00 · +3 fuentes más (AP, BBC, DW, …) · 5 medios" in es
    assert "🔄 actualización · Oil sanctions eased" in es and "Bloomberg · 25 nov 03:00" in es
    ru = assert_valid(render_digest(sample_digest(), MADRID, tr=translator("ru")))[0]
    assert ru.startswith("🗞 Дайджест · 26 нояб. 09:00")
    assert "+3 источника (AP, BBC, DW, …) · 5 изданий" in ru and "🔄 обновление · " in ru
    for text in (es, ru):
        assert "Digest" not in text and "more source" not in text and "update" not in text
    # a breaking alert is retitled in the language, only its intro changes
    [alert] = render_digest_parts(sample_digest(), MADRID, tr=translator("es"), breaking=True)
    assert alert.text.startswith("🚨 <b>Última hora</b> · 26 nov 09:00")


def test_continued_headings_and_story_and_search_in_russian() -> None:
    from bot.i18n import translator

    ru = translator("ru")
    messages = assert_valid(render_digest(big_digest(stories=1, devs=30), MADRID, tr=ru, limit=600))
    assert len(messages) > 1 and all("(продолжение)" in m for m in messages[1:])
    [empty] = render_story("sudan", [], MADRID, now=NOW, tr=ru)
    assert assert_valid([empty])[0] == "📰 sudan\nСобытий пока нет."
    [none] = assert_valid([render_search_results("<x>", [], MADRID, now=NOW, tr=ru)])
    assert none.startswith("🔎 По запросу <x> ничего не найдено.")
    hit = SearchHit("Заголовок", "https://example.org/r", "", NOW - timedelta(days=400), "")
    [page] = assert_valid([render_search_results("q", [hit], MADRID, now=NOW, total=1234, tr=ru)])
    assert "1–1 из 1\xa0234" in page and "неизвестное издание · " in page and "2025" in page
