"""The SSRF guard with allow_private_networks=False, against a real server on 127.0.0.1.

Where a test needs the first hop to succeed, 127.0.0.1 is let through with the
explicit ``allowed_networks`` knob while the guard stays on for everything else;
names are mapped with a stub resolver so no real DNS is used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace

import pytest

from feeds.fetch import Fetcher, FetchPolicy
from feeds.ssrf import StubResolver, is_public_address
from stories.model import FeedState
from tests.fakes.feed_server import FeedServer, Reply, rss_feed

BODY = rss_feed("Outlet", [("g1", "One")])


@pytest.fixture
def guarded(local_policy: FetchPolicy) -> FetchPolicy:
    return replace(local_policy, allow_private_networks=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/f.xml",
        "http://10.0.0.1/f.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/f.xml",
        "http://[::ffff:127.0.0.1]:{port}/f.xml",
        "http://0.0.0.0:{port}/f.xml",
        "http://2130706433:{port}/f.xml",  # 127.0.0.1 as one decimal number
    ],
)
async def test_refuses_private_addresses(server: FeedServer, guarded: FetchPolicy, url: str) -> None:
    server.script("/f.xml", Reply(body=BODY))
    resolver = StubResolver({})  # any name lookup would fail the test loudly
    async with Fetcher(guarded, resolver=resolver) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=url.format(port=server.port)))
        again = await fetcher.fetch(FeedState(url=url.format(port=server.port)))  # no "checked" kept
    assert outcome.kind == "refused", outcome
    assert outcome.error is not None and outcome.error.startswith("blocked by SSRF guard")
    assert again == replace(outcome, fetched_at=again.fetched_at, elapsed=again.elapsed)
    assert server.requests == []


async def test_refuses_public_looking_name_resolving_to_private(
    server: FeedServer, guarded: FetchPolicy
) -> None:
    resolver = StubResolver({"news.example.com": ["10.0.0.5"]})
    async with Fetcher(guarded, resolver=resolver) as fetcher:
        outcome = await fetcher.fetch(FeedState(url="http://news.example.com/rss"))
    assert outcome.kind == "refused"
    assert outcome.error == (
        "blocked by SSRF guard: news.example.com -> 10.0.0.5: "
        "address 10.0.0.5 is not public (loopback/private/link-local/reserved)"
    )


async def test_refuses_name_with_one_private_address_among_public(guarded: FetchPolicy) -> None:
    resolver = StubResolver({"mixed.example": ["93.184.216.34", "192.168.1.1"]})
    async with Fetcher(guarded, resolver=resolver) as fetcher:
        outcome = await fetcher.fetch(FeedState(url="https://mixed.example/feed"))
    assert outcome.kind == "refused" and "192.168.1.1" in (outcome.error or "")


async def test_allowlisted_name_connects_to_the_checked_address(
    server: FeedServer, guarded: FetchPolicy
) -> None:
    """The connection goes to the address the guard checked, with the name as Host."""
    server.script("/f.xml", Reply(body=BODY))
    policy = replace(guarded, allowed_networks=("127.0.0.1/32",))
    resolver = StubResolver({"feeds.example.org": ["127.0.0.1"]})
    async with Fetcher(policy, resolver=resolver) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=server.url("/f.xml", host="feeds.example.org")))
    assert outcome.kind == "ok"
    assert server.requests[0].headers["host"] == f"feeds.example.org:{server.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://internal.example/admin",  # stub-resolves to 10.0.0.5
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "gopher://127.0.0.1:70/",
        "file:///etc/passwd",
    ],
)
async def test_refuses_redirect_from_allowed_to_private(
    server: FeedServer, guarded: FetchPolicy, location: str
) -> None:
    server.script("/start.xml", Reply(status=302, headers={"Location": location}))
    policy = replace(guarded, allowed_networks=("127.0.0.1/32",), allow_local_files=True)
    resolver = StubResolver({"internal.example": ["10.0.0.5"]})
    async with Fetcher(policy, resolver=resolver) as fetcher:
        for _ in range(2):  # the second time too: a refused hop is checked every time
            outcome = await fetcher.fetch(FeedState(url=server.url("/start.xml")))
            assert outcome.kind == "refused", outcome
    assert len(server.requests_for("/start.xml")) == 2  # first hop was allowed and made
    assert outcome.url == location or outcome.url.startswith(location.split("/")[0])
    assert outcome.body is None


class CountingResolver:
    """Answers one address and counts lookups."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        return [self.answer]


async def test_the_address_checked_is_the_address_connected(server: FeedServer, guarded: FetchPolicy) -> None:
    """One lookup per connection, checked at connect: no second lookup to rebind."""
    server.script("/f.xml", Reply(body=BODY))
    policy = replace(guarded, allowed_networks=("127.0.0.1/32",))
    private = CountingResolver("10.0.0.5")
    allowed = CountingResolver("127.0.0.1")
    async with Fetcher(policy, resolver=private) as fetcher:
        refused = await fetcher.fetch(FeedState(url=server.url("/f.xml", host="rebind.example")))
    async with Fetcher(policy, resolver=allowed) as fetcher:
        ok = await fetcher.fetch(FeedState(url=server.url("/f.xml", host="rebind.example")))
    assert refused.kind == "refused" and "10.0.0.5" in (refused.error or "")
    assert ok.kind == "ok"
    assert private.calls == allowed.calls == 1
    assert len(server.requests) == 1  # only the allowed fetch reached the server


async def test_file_urls_need_allow_local_files(tmp_path: object, guarded: FetchPolicy) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "f.xml"
    path.write_bytes(BODY)
    async with Fetcher(guarded) as fetcher:
        refused = await fetcher.fetch(FeedState(url=path.as_uri()))
    async with Fetcher(replace(guarded, allow_local_files=True)) as fetcher:
        allowed = await fetcher.fetch(FeedState(url=path.as_uri()))
        again = await fetcher.fetch(FeedState(url=path.as_uri(), content_hash=allowed.content_hash))
    assert refused.kind == "refused" and "allow_local_files" in (refused.error or "")
    assert allowed.kind == "ok" and allowed.body == BODY
    assert again.kind == "unchanged"


async def test_other_schemes_refused(guarded: FetchPolicy) -> None:
    async with Fetcher(guarded) as fetcher:
        outcome = await fetcher.fetch(FeedState(url="ftp://example.com/feed.xml"))
    assert outcome.kind == "refused" and "scheme 'ftp'" in (outcome.error or "")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::", False),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 wrapping 127.0.0.1
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_proxy_is_used_and_hops_still_checked(server: FeedServer, guarded: FetchPolicy) -> None:
    """With a proxy the request goes to it in absolute form; the URL check still applies."""
    target = "http://feeds.example.org/world.xml"
    server.script(target, Reply(body=BODY))
    policy = replace(guarded, proxy=server.url(""))
    resolver = StubResolver({"feeds.example.org": ["93.184.216.34"], "intranet.example": ["10.1.1.1"]})
    async with Fetcher(policy, resolver=resolver) as fetcher:
        ok = await fetcher.fetch(FeedState(url=target))
        blocked = await fetcher.fetch(FeedState(url="http://intranet.example/feed"))
    assert ok.kind == "ok" and ok.body == BODY
    assert [r.path for r in server.requests] == [target]  # the proxy saw the absolute URL
    assert blocked.kind == "refused" and "10.1.1.1" in (blocked.error or "")
