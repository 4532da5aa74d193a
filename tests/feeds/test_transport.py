"""The fetcher's network stream on asyncio's transports (feeds.transport.AsyncioBackend),
against real servers on 127.0.0.1: TLS with SNI and certificate checks, kept-alive
connections the server closed while idle, connections reset mid-response, bodies larger
than the stream's read-ahead, read timeouts."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from feeds.fetch import Fetcher, FetchPolicy
from feeds.ssrf import AddressPolicy, Guard, StubResolver
from feeds.transport import _READ_AHEAD, AsyncioBackend, PerOriginTransport
from stories.model import FeedState
from tests.fakes.feed_server import FeedServer, Reply, rss_feed

HOST = "feeds.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for feeds.test (openssl's command line makes it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}"),
            *("-addext", f"subjectAltName=DNS:{HOST}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[FeedServer]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with FeedServer(tls=context) as server:
        yield server


def fetcher_for(trusted: Path | None, policy: FetchPolicy) -> Fetcher:
    """A fetcher whose guard lets only 127.0.0.1 through, resolving feeds.test there, and
    whose TLS trusts ``trusted`` (or the system's CAs)."""
    guard = Guard(AddressPolicy.build(allowed_networks=["127.0.0.1/32"]), StubResolver({HOST: ["127.0.0.1"]}))
    context = ssl.create_default_context(cafile=str(trusted)) if trusted is not None else None
    transport = PerOriginTransport(guard, per_host=2, keepalive_expiry=30.0, ssl_context=context)
    return Fetcher(policy, transport=transport)


async def test_https_conditional_gets_over_one_verified_connection(
    tls_server: FeedServer, certificate: tuple[Path, Path], local_policy: FetchPolicy
) -> None:
    body = rss_feed("TLS Outlet", [("a", "Story A")])
    tls_server.script("/t.xml", Reply(body=body, etag='"t1"'))
    state = FeedState(url=tls_server.url("/t.xml", host=HOST))
    assert state.url.startswith("https://feeds.test:")
    async with fetcher_for(certificate[0], local_policy) as fetcher:
        first = await fetcher.fetch(state)
        second = await fetcher.fetch(FeedState(url=state.url, etag=first.etag))
        third = await fetcher.fetch(FeedState(url=state.url, etag=first.etag))
    assert first.kind == "ok" and first.body == body and first.etag == '"t1"'
    assert second.kind == "not_modified" and third.kind == "not_modified"
    sent = tls_server.requests_for("/t.xml")
    assert len(sent) == 3 and len({r.client_port for r in sent}) == 1
    assert sent[0].headers["host"] == f"{HOST}:{tls_server.port}"


async def test_https_refuses_an_untrusted_certificate_and_a_wrong_name(
    tls_server: FeedServer, certificate: tuple[Path, Path], local_policy: FetchPolicy
) -> None:
    tls_server.script("/t.xml", Reply(body=rss_feed("TLS Outlet", [("a", "Story A")])))
    async with fetcher_for(None, local_policy) as fetcher:  # the system's CAs only
        untrusted = await fetcher.fetch(FeedState(url=tls_server.url("/t.xml", host=HOST)))
    async with fetcher_for(certificate[0], local_policy) as fetcher:  # trusted, other name
        wrong_name = await fetcher.fetch(FeedState(url=tls_server.url("/t.xml")))
    assert untrusted.kind == "error" and "CERTIFICATE_VERIFY_FAILED" in (untrusted.error or "")
    assert wrong_name.kind == "error" and "127.0.0.1" in (wrong_name.error or "")
    assert tls_server.requests_for("/t.xml") == []


class RawServer:
    """An HTTP server on asyncio streams that misbehaves on purpose: ``mode`` is "close-idle"
    (answers one 304, then closes the connection while it is idle), "reset" (resets the
    connection after reading the request) or "silent" (never answers)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            if self.mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if self.mode == "silent":
                await reader.read()  # until the client gives up and closes
                return
            writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "r1"\r\nContent-Length: 0\r\n\r\n')
            await writer.drain()
            await asyncio.sleep(0.05)  # idle, kept alive as far as the client knows
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/r.xml"


@pytest.fixture
async def close_idle() -> AsyncIterator[RawServer]:
    async with RawServer("close-idle") as server:
        yield server


async def test_a_connection_closed_while_idle_is_not_reused(
    close_idle: RawServer, local_policy: FetchPolicy
) -> None:
    """The server closes a kept-alive connection between two polls: the second poll sees it
    closed before sending (the stream reads its end as it arrives) and connects again."""
    state = FeedState(url=close_idle.url, etag='"r1"')
    async with Fetcher(local_policy) as fetcher:
        first = await fetcher.fetch(state)
        await asyncio.sleep(0.3)  # the server has closed its end by now
        second = await fetcher.fetch(state)
    assert first.kind == "not_modified" and second.kind == "not_modified", second.error
    assert close_idle.connections == 2 and close_idle.requests == 2


async def test_a_reset_connection_is_an_error_outcome(local_policy: FetchPolicy) -> None:
    async with RawServer("reset") as server, Fetcher(local_policy) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=server.url))
    assert outcome.kind == "error"
    assert outcome.error is not None
    assert "ReadError" in outcome.error or "RemoteProtocolError" in outcome.error


async def test_a_silent_server_times_out(local_policy: FetchPolicy) -> None:
    async with RawServer("silent") as server, Fetcher(local_policy) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=server.url))
    assert outcome.kind == "error" and outcome.error is not None and "timed out" in outcome.error


async def test_a_body_larger_than_the_read_ahead_arrives_whole(server: FeedServer) -> None:
    items = [(f"id-{i}", f"Story {i} " + "x" * 2_000) for i in range(1_500)]
    body = rss_feed("Big Outlet", items)
    assert len(body) > 3_000_000
    server.script("/big.xml", Reply(body=body))
    policy = FetchPolicy(allow_private_networks=True, timeout=10.0, max_body_bytes=20_000_000)
    async with Fetcher(policy) as fetcher:
        outcome = await fetcher.fetch(FeedState(url=server.url("/big.xml")))
    assert outcome.kind == "ok" and outcome.body == body
    assert outcome.content_hash == hashlib.sha256(body).hexdigest()


async def test_the_stream_stops_reading_past_its_read_ahead_and_loses_nothing() -> None:
    """A reader slower than the network: the stream buffers up to about 1 MB, stops
    reading the socket, and resumes as it is read; every byte arrives, in order."""
    data = bytes(range(256)) * 16_384  # 4 MiB

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(send, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await asyncio.sleep(0.3)  # the server has sent all it can meanwhile
        protocol = stream._protocol  # type: ignore[attr-defined]
        assert protocol.reading_paused and protocol.buffered <= 2 * _READ_AHEAD
        received = bytearray()
        while chunk := await stream.read(65_536, timeout=5):
            assert len(chunk) <= 65_536
            received += chunk
        await stream.aclose()
    finally:
        server.close()
    assert bytes(received) == data
