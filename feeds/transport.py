"""The fetcher's HTTP transport: httpx over httpcore pools, one per origin, every connection
made through the SSRF guard, on asyncio's own transports.

:class:`PerOriginTransport` is what :class:`feeds.fetch.Fetcher` sends through (without a
proxy); :class:`GuardedTransport` is one origin's pool (or, with a proxy, the only one).
:class:`AsyncioBackend` is the network backend under the guard: a connection is an asyncio
transport whose protocol buffers what arrives, so a read that finds data returns it
without a trip through the event loop, and an idle connection's "is it readable?" (asked
by httpcore of every idle connection on each request and each release) is a look at that
buffer, not a system call.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import typing
from typing import Any

import httpcore
import httpx

from feeds.ssrf import Guard, GuardedNetworkBackend

__all__ = ["AsyncioBackend", "GuardedTransport", "PerOriginTransport"]

_READ_AHEAD = 1 << 20  # bytes buffered before the socket is no longer read


class _Protocol(asyncio.Protocol):
    """Buffers a connection's incoming bytes and its end, and wakes one waiting reader
    or writer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _READ_AHEAD and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.writing_paused = False
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Stream(httpcore.AsyncNetworkStream):
    """One connection (plain or TLS) as httpcore's network stream, on an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        protocol.transport = transport

    async def _wait(self, timeout: float | None) -> None:
        """Until the protocol has news (data, end, room to write); TimeoutError after ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter = self._protocol.waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._protocol.waiter = None
            if timer is not None:
                timer.cancel()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks:
            if not protocol.eof:
                try:
                    await self._wait(timeout)
                except TimeoutError:
                    raise httpcore.ReadTimeout("timed out reading") from None
            if not protocol.chunks:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
                return b""  # the end: httpcore reads b"" as the server closing
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            protocol.chunks.appendleft(rest)
        protocol.buffered -= len(chunk)
        if protocol.reading_paused and protocol.buffered <= _READ_AHEAD // 2:
            protocol.reading_paused = False
            self._transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        transport = self._transport
        if transport.is_closing() or protocol.error is not None:
            raise httpcore.WriteError(f"connection closed: {protocol.error or 'closing'}")
        try:
            transport.write(buffer)
        except (OSError, RuntimeError) as exc:
            raise httpcore.WriteError(str(exc)) from exc
        while protocol.writing_paused:
            try:
                await self._wait(timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out writing") from None
            if transport.is_closing() or protocol.error is not None:
                raise httpcore.WriteError(f"connection closed: {protocol.error or 'closing'}")

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError, RuntimeError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the connection ended during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        return _Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Something arrived on an idle connection: it can only be its end.
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's transports (what the SSRF guard connects
    through): the same errors as httpcore's anyio backend, without its layers."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the SSRF guard as its network backend.

    ``AsyncHTTPTransport`` has no parameter for the network backend, so we build the
    same httpcore pool it would, with ours. With a proxy the pool connects to the
    proxy (trusted config), so the connect-level guard does not apply; the per-hop
    URL check still does.
    """

    def __init__(
        self, guard: Guard, *, limits: httpx.Limits, proxy: str | None, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, proxy=proxy or None, retries=0)
        if proxy:
            return
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedNetworkBackend(guard, AsyncioBackend()),
        )


class PerOriginTransport(httpx.AsyncBaseTransport):
    """One small connection pool per origin (scheme, host, port).

    httpcore's pool scans every connection it holds on each request, so one shared
    pool big enough for hundreds of hosts costs more CPU per request than the
    request itself. Per-origin pools hold at most ``per_host`` connections each,
    which is also the politeness limit, so each scan is tiny.
    """

    def __init__(
        self,
        guard: Guard,
        *,
        per_host: int,
        keepalive_expiry: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._guard = guard
        self._limits = httpx.Limits(
            max_connections=per_host,
            max_keepalive_connections=per_host,
            keepalive_expiry=keepalive_expiry,
        )
        # Loading CA certificates is slow: once (``ssl_context``: other CAs, for tests).
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._pools: dict[tuple[bytes, bytes, int | None], GuardedTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its origin's pool, creating the pool on first use."""
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = GuardedTransport(
                self._guard, limits=self._limits, proxy=None, ssl_context=self._ssl_context
            )
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
