"""Fetching against a real HTTP server on 127.0.0.1: conditional GET, redirects,
errors, limits, encodings; each scenario ends with the feed's state recorded."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from feeds.fetch import Fetcher, FetchPolicy
from feeds.poll import PollResult, poll_feed, poll_feeds
from feeds.schedule import SchedulePolicy
from stories.model import FeedState
from tests.fakes.feed_server import FeedServer, Reply, rss_feed

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def feed(n: int = 3, title: str = "Test Outlet") -> bytes:
    return rss_feed(title, [(f"id-{i}", f"Story number {i}") for i in range(n)])


async def poll(
    fetcher: Fetcher, state: FeedState, schedule: SchedulePolicy, rng: random.Random
) -> PollResult:
    return await poll_feed(fetcher, state, schedule=schedule, rng=rng, clock=clock)


async def test_200_then_304_sends_validators(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    lm = "Wed, 25 Nov 2026 10:00:00 GMT"
    server.script("/f.xml", Reply(body=feed(), etag='"v1"', last_modified=lm))
    state = FeedState(url=server.url("/f.xml"))
    async with Fetcher(local_policy) as fetcher:
        first = await poll(fetcher, state, schedule, rng)
        second = await poll(fetcher, first.state, schedule, rng)

    assert first.outcome.kind == "ok"
    assert [i.guid for i in first.items] == ["id-0", "id-1", "id-2"]
    assert first.state.etag == '"v1"' and first.state.last_modified == lm
    assert first.state.title == "Test Outlet"
    assert second.outcome.kind == "not_modified" and second.outcome.status == 304
    assert second.feed is None and second.outcome.body is None
    assert second.state.etag == '"v1"' and second.state.content_hash == first.state.content_hash
    sent = server.requests_for("/f.xml")
    assert "if-none-match" not in sent[0].headers
    assert sent[1].headers["if-none-match"] == '"v1"'
    assert sent[1].headers["if-modified-since"] == lm
    assert sent[0].headers["user-agent"].startswith("newsbot/")
    assert second.state.next_fetch_at is not None
    delay = second.state.next_fetch_at - NOW
    assert timedelta(minutes=13.5) <= delay <= timedelta(minutes=16.5)


async def test_same_body_is_unchanged_and_not_parsed(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/same.xml", Reply(body=feed()))  # no validators: only the hash helps
    state = FeedState(url=server.url("/same.xml"))
    async with Fetcher(local_policy) as fetcher:
        first = await poll(fetcher, state, schedule, rng)
        second = await poll(fetcher, first.state, schedule, rng)
    assert first.outcome.kind == "ok" and len(first.items) == 3
    assert second.outcome.kind == "unchanged"
    assert second.feed is None and second.outcome.body is None
    assert second.state.content_hash == first.state.content_hash is not None


async def test_permanent_redirect_updates_url(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    new_url = server.url("/new.xml")
    server.script("/old.xml", Reply(status=301, headers={"Location": "/new.xml"}))
    server.script("/new.xml", Reply(body=feed()))
    state = FeedState(url=server.url("/old.xml"))
    async with Fetcher(local_policy) as fetcher:
        first = await poll(fetcher, state, schedule, rng)
        second = await poll(fetcher, replace(first.state, content_hash=None), schedule, rng)
    assert first.outcome.permanent_url == new_url
    assert first.state.url == new_url and len(first.items) == 3
    assert second.outcome.kind == "ok" and second.outcome.url == new_url
    assert len(server.requests_for("/old.xml")) == 1
    assert len(server.requests_for("/new.xml")) == 2


async def test_temporary_redirect_keeps_url(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/t.xml", Reply(status=302, headers={"Location": "/moved.xml"}))
    server.script("/moved.xml", Reply(status=308, headers={"Location": "/final.xml"}))
    server.script("/final.xml", Reply(body=feed()))
    state = FeedState(url=server.url("/t.xml"))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, state, schedule, rng)
    assert result.outcome.kind == "ok" and result.outcome.url == server.url("/final.xml")
    assert result.outcome.permanent_url is None
    assert result.state.url == state.url


async def test_410_disables(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/gone.xml", Reply(status=410, body=b"gone"))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/gone.xml")), schedule, rng)
    assert result.outcome.kind == "gone"
    assert result.state.disabled and result.newly_disabled
    assert result.state.disabled_reason is not None and "410" in result.state.disabled_reason
    assert result.state.next_fetch_at is None


async def test_429_retry_after_seconds_delays_next_fetch(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/busy.xml", Reply(status=429, headers={"Retry-After": "3000"}))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/busy.xml")), schedule, rng)
    assert result.outcome.retry_after == 3000
    assert result.state.next_fetch_at == NOW + timedelta(seconds=3000)
    assert result.state.consecutive_errors == 0  # being asked to slow down is not a failure
    assert result.state.last_error is not None and "429" in result.state.last_error


async def test_503_retry_after_http_date_is_capped(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    far = format_datetime(datetime.now(UTC) + timedelta(days=30), usegmt=True)
    server.script("/down.xml", Reply(status=503, headers={"Retry-After": far}))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/down.xml")), schedule, rng)
    assert result.outcome.retry_after == local_policy.retry_after_max  # fetch policy cap
    # the schedule's own cap (1 h here) bounds the delay too
    assert result.state.next_fetch_at == NOW + timedelta(hours=1)
    assert result.state.consecutive_errors == 1


async def test_500_backs_off_then_disables(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/err.xml", Reply(status=500, body=b"oops"))
    state = FeedState(url=server.url("/err.xml"))
    delays = []
    async with Fetcher(local_policy) as fetcher:
        for _ in range(schedule.max_consecutive_errors):
            result = await poll(fetcher, state, schedule, rng)
            state = result.state
            if state.next_fetch_at is not None:
                delays.append(state.next_fetch_at - NOW)
    assert result.outcome.kind == "error" and result.outcome.status == 500
    assert len(delays) == schedule.max_consecutive_errors - 1
    # exponential: roughly 15 min, 30 min (+-10 % jitter)
    assert timedelta(minutes=13.5) <= delays[0] <= timedelta(minutes=16.5)
    assert timedelta(minutes=27) <= delays[1] <= timedelta(minutes=33)
    assert state.disabled and result.newly_disabled
    assert state.disabled_reason == "3 consecutive errors; last: HTTP 500 Internal Server Error"


async def test_timeout_is_an_error_with_backoff(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/slow.xml", Reply(body=feed(), delay=3.0))
    policy = replace(local_policy, timeout=0.5)
    started = time.monotonic()
    async with Fetcher(policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/slow.xml")), schedule, rng)
    assert time.monotonic() - started < 2.0
    assert result.outcome.kind == "error"
    assert result.outcome.error is not None and "time" in result.outcome.error
    assert result.state.consecutive_errors == 1 and result.state.next_fetch_at is not None


async def test_slow_loris_body_is_cut_off(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    # 20 bytes every 0.1 s never trips a read timeout; the wall-clock budget does.
    server.script("/loris.xml", Reply(body=feed(200), trickle=(20, 0.1)))
    policy = replace(local_policy, timeout=1.0)
    started = time.monotonic()
    async with Fetcher(policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/loris.xml")), schedule, rng)
    assert time.monotonic() - started < 2.5
    assert result.outcome.kind == "error" and "timed out" in (result.outcome.error or "")
    assert result.state.last_error == result.outcome.error


async def test_oversized_body_is_cut_off_with_and_without_length(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    big = feed(2000)
    assert len(big) > local_policy.max_body_bytes
    server.script("/big.xml", Reply(body=big))
    server.script("/big-stream.xml", Reply(body=big, send_length=False))
    server.script("/bomb.xml", Reply(body=b"<rss>" + b" " * 5_000_000 + b"</rss>", gzip=True))
    async with Fetcher(local_policy) as fetcher:
        results = [
            await poll(fetcher, FeedState(url=server.url(p)), schedule, rng)
            for p in ("/big.xml", "/big-stream.xml", "/bomb.xml")
        ]
    for result in results:
        assert result.outcome.kind == "too_large", result.outcome
        assert result.state.consecutive_errors == 1
        assert "larger than 100000" in (result.state.last_error or "")


async def test_redirect_loop_is_detected(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/a.xml", Reply(status=302, headers={"Location": "/b.xml"}))
    server.script("/b.xml", Reply(status=301, headers={"Location": "/a.xml"}))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/a.xml")), schedule, rng)
    assert result.outcome.kind == "error"
    assert result.outcome.error == f"redirect loop at {server.url('/a.xml')}"
    assert result.state.url == server.url("/a.xml")
    assert len(server.requests) == 2


async def test_too_many_redirects(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    for n in range(10):
        server.script(f"/r{n}", Reply(status=307, headers={"Location": f"/r{n + 1}"}))
    async with Fetcher(replace(local_policy, max_redirects=3)) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/r0")), schedule, rng)
    assert result.outcome.error == "too many redirects (more than 3)"
    assert len(server.requests) == 4


async def test_gzip_body(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script("/gz.xml", Reply(body=feed(5), gzip=True))
    async with Fetcher(local_policy) as fetcher:
        result = await poll(fetcher, FeedState(url=server.url("/gz.xml")), schedule, rng)
    assert result.outcome.kind == "ok" and len(result.items) == 5
    accept = server.requests_for("/gz.xml")[0].headers["accept-encoding"]
    assert {"gzip", "deflate", "br"} <= {p.strip() for p in accept.split(",")}
    assert result.outcome.body is None  # parsed, so not kept
    async with Fetcher(local_policy) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=server.url("/gz.xml")))
    assert outcome.body == feed(5)  # decoded on the way in


async def test_windows_1251_feed(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    body = rss_feed("Новости", [("r1", "Вагнер уходит из Мали")], encoding="windows-1251")
    server.script("/ru.xml", Reply(body=body, content_type="application/rss+xml; charset=windows-1251"))
    server.script("/ru-noheader.xml", Reply(body=body, content_type="application/rss+xml"))
    async with Fetcher(local_policy) as fetcher:
        with_header = await poll(fetcher, FeedState(url=server.url("/ru.xml")), schedule, rng)
        declared = await poll(fetcher, FeedState(url=server.url("/ru-noheader.xml")), schedule, rng)
    for result in (with_header, declared):
        assert result.state.title == "Новости"
        assert [i.title for i in result.items] == ["Вагнер уходит из Мали"]


async def test_feed_declaring_the_wrong_encoding(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    # Bytes are windows-1251 but the XML declaration claims UTF-8.
    body = rss_feed(
        "Новости",
        [("r1", "Вагнер"), ("r2", "Судан")],
        encoding="windows-1251",
        declared_encoding="utf-8",
    )
    # With the right charset in HTTP, the header wins (RFC 7303) and text is right.
    server.script("/lie-hdr.xml", Reply(body=body, content_type="text/xml; charset=windows-1251"))
    # Without it the bytes are not UTF-8: the feed is still used, with a warning.
    server.script("/lie.xml", Reply(body=body, content_type="application/rss+xml"))
    async with Fetcher(local_policy) as fetcher:
        fixed = await poll(fetcher, FeedState(url=server.url("/lie-hdr.xml")), schedule, rng)
        lying = await poll(fetcher, FeedState(url=server.url("/lie.xml")), schedule, rng)
    assert [i.title for i in fixed.items] == ["Вагнер", "Судан"]
    assert lying.outcome.kind == "ok" and len(lying.items) == 2
    assert lying.feed is not None and lying.feed.warnings
    assert [i.guid for i in lying.items] == ["r1", "r2"]


async def test_not_a_feed_is_recorded_as_parse_error(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    server.script(
        "/page.html",
        Reply(body=b"<html><body><p>Hello</p></body></html>", content_type="text/html"),
    )
    async with Fetcher(local_policy) as fetcher:
        first = await poll(fetcher, FeedState(url=server.url("/page.html")), schedule, rng)
        second = await poll(fetcher, first.state, schedule, rng)
    assert first.outcome.kind == "error"
    assert (first.state.last_error or "").startswith("parse error: not a feed")
    # the same broken body is parsed again, not taken as "unchanged"
    assert second.outcome.kind == "error" and second.state.consecutive_errors == 2


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title>
<item><guid>x1</guid><title>&lol9;</title><description>d</description></item>
</channel></rss>"""


async def test_many_feeds_concurrently_each_state_recorded(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    """Every bad feed at once through one Fetcher: each gets its state, good feeds their items."""
    server.script("/good1.xml", Reply(body=feed(4, "Good One")))
    server.script("/good2.xml", Reply(body=feed(2, "Good Two"), gzip=True))
    server.script("/gone.xml", Reply(status=410))
    server.script("/err.xml", Reply(status=500))
    server.script("/busy.xml", Reply(status=429, headers={"Retry-After": "120"}))
    server.script("/slow.xml", Reply(body=feed(), delay=3))
    server.script("/loris.xml", Reply(body=feed(100), trickle=(10, 0.1)))
    server.script("/big.xml", Reply(body=feed(2000)))
    server.script("/loop.xml", Reply(status=301, headers={"Location": "/loop.xml"}))
    server.script("/moved.xml", Reply(status=308, headers={"Location": "/good1.xml"}))
    server.script("/laughs.xml", Reply(body=BILLION_LAUGHS))
    server.script("/html.xml", Reply(body=b"<html>nope</html>", content_type="text/html"))
    paths = [
        "/good1.xml",
        "/good2.xml",
        "/gone.xml",
        "/err.xml",
        "/busy.xml",
        "/slow.xml",
        "/loris.xml",
        "/big.xml",
        "/loop.xml",
        "/moved.xml",
        "/laughs.xml",
        "/html.xml",
        "/missing.xml",
    ]
    states = [FeedState(url=server.url(p), id=n) for n, p in enumerate(paths)]
    policy = replace(local_policy, timeout=1.0)
    started = time.monotonic()
    async with Fetcher(policy) as fetcher:
        results = {
            r.previous.url.rsplit("/", 1)[1]: r
            async for r in poll_feeds(fetcher, states, schedule=schedule, rng=rng, clock=clock)
        }
    # all ran concurrently: the two 1-second timeouts did not add up
    assert time.monotonic() - started < 3.5
    assert len(results) == len(paths)
    for result in results.values():
        assert result.state.last_fetched_at == NOW
        assert result.state.id == result.previous.id
    kinds = {name: r.outcome.kind for name, r in results.items()}
    assert kinds == {
        "good1.xml": "ok",
        "good2.xml": "ok",
        "gone.xml": "gone",
        "err.xml": "error",
        "busy.xml": "error",
        "slow.xml": "error",
        "loris.xml": "error",
        "big.xml": "too_large",
        "loop.xml": "error",
        "moved.xml": "ok",
        "laughs.xml": "ok",
        "html.xml": "error",
        "missing.xml": "error",
    }
    assert len(results["good1.xml"].items) == 4 and len(results["good2.xml"].items) == 2
    assert results["moved.xml"].state.url == server.url("/good1.xml")
    assert results["gone.xml"].state.disabled
    assert results["missing.xml"].state.last_error == "HTTP 404 Not Found"
    laughs = results["laughs.xml"].items
    assert len(laughs) == 1 and "lollol" not in laughs[0].title
    for name in ("err.xml", "slow.xml", "loris.xml", "big.xml", "loop.xml", "html.xml"):
        state = results[name].state
        assert state.consecutive_errors == 1 and state.last_error, name
        assert state.next_fetch_at is not None and state.next_fetch_at > NOW


async def test_content_encodings_decoded_with_a_cap(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    body = feed(5)
    for enc in ("deflate", "deflate-raw", "br"):
        server.script(f"/{enc}.xml", Reply(body=body, encoding=enc))
    # a brotli bomb: tiny on the wire, far over the limit once decoded
    server.script("/br-bomb.xml", Reply(body=b"<rss>" + b"a" * 5_000_000, encoding="br"))
    server.script("/corrupt.xml", Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    server.script("/zstd.xml", Reply(body=body, headers={"Content-Encoding": "compress"}))
    async with Fetcher(local_policy) as fetcher:
        results = {
            p: await poll(fetcher, FeedState(url=server.url(f"/{p}.xml")), schedule, rng)
            for p in ("deflate", "deflate-raw", "br", "br-bomb", "corrupt", "zstd")
        }
        bodies = {
            p: (await fetcher.fetch(FeedState(url=server.url(f"/{p}.xml")))).body
            for p in ("deflate", "deflate-raw", "br")
        }
    for enc in ("deflate", "deflate-raw", "br"):
        assert bodies[enc] == body, enc
        assert len(results[enc].items) == 5
    assert results["br-bomb"].outcome.kind == "too_large"
    assert "DecodingError" in (results["corrupt"].outcome.error or "")
    assert "unsupported Content-Encoding" in (results["zstd"].outcome.error or "")
    for result in results.values():
        assert result.state.last_fetched_at == NOW


def test_polls_start_one_host_at_a_time() -> None:
    from feeds.poll import _host_order

    states = [FeedState(url=f"https://{host}.example/{n}") for host in "aab" for n in range(2)]
    assert [s.url for s in _host_order(states)] == [
        "https://a.example/0", "https://b.example/0", "https://a.example/1",
        "https://b.example/1", "https://a.example/0", "https://a.example/1",
    ]


async def test_poll_window_bounds_what_waits_for_the_consumer() -> None:
    """No more than ``window`` feeds are polled ahead of a slow consumer; none is lost."""
    import asyncio
    from datetime import UTC, datetime

    from feeds.fetch import FetchOutcome, FetchPolicy
    from feeds.poll import poll_feeds

    class Counting:
        policy = FetchPolicy()
        started = 0

        def host_key(self, url: str) -> str:
            return url.split("/")[2]

        async def fetch(self, state: FeedState) -> FetchOutcome:
            self.started += 1
            await asyncio.sleep(0)
            return FetchOutcome(kind="not_modified", url=state.url, fetched_at=datetime.now(UTC), status=304)

    fetcher = Counting()
    states = [FeedState(url=f"https://h{n % 3}.example/{n}") for n in range(50)]
    seen = []
    async for result in poll_feeds(fetcher, states, window=4):  # type: ignore[arg-type]
        assert fetcher.started - len(seen) <= 4
        await asyncio.sleep(0.001)  # a slow consumer
        seen.append(result.previous.url)
    assert sorted(seen) == sorted(s.url for s in states)


async def test_conditional_gets_reuse_one_connection_and_send_the_same_headers(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    """The 304s of a feed polled again and again go over one kept-alive connection (an
    idle connection is checked before reuse, see feeds.transport._Stream), with the client's
    headers on every request."""
    server.script("/k.xml", Reply(body=feed(), etag='"k1"'))
    state = FeedState(url=server.url("/k.xml"))
    async with Fetcher(local_policy) as fetcher:
        kinds = []
        for _ in range(5):
            result = await poll(fetcher, state, schedule, rng)
            kinds.append(result.outcome.kind)
            state = result.state
    assert kinds == ["ok"] + ["not_modified"] * 4
    sent = server.requests_for("/k.xml")
    assert len({r.client_port for r in sent}) == 1
    for request in sent:
        assert request.headers["user-agent"] == local_policy.user_agent
        assert request.headers["accept"].startswith("application/atom+xml")
        assert "gzip" in request.headers["accept-encoding"]
    assert [r.headers.get("if-none-match") for r in sent] == [None] + ['"k1"'] * 4


async def test_a_cookie_set_by_a_feed_is_sent_back(
    server: FeedServer, local_policy: FetchPolicy, schedule: SchedulePolicy, rng: random.Random
) -> None:
    """Cookies behave as in an httpx client: what a server sets comes back to it."""
    server.script("/c.xml", Reply(body=feed(), headers={"Set-Cookie": "visitor=v42; Path=/"}))
    state = FeedState(url=server.url("/c.xml"))
    async with Fetcher(local_policy) as fetcher:
        first = await poll(fetcher, state, schedule, rng)
        await poll(fetcher, first.state, schedule, rng)
    sent = server.requests_for("/c.xml")
    assert "cookie" not in sent[0].headers
    assert sent[1].headers["cookie"] == "visitor=v42"
