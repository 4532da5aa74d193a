"""The fetcher's HTTP transport: httpx over httpcore pools, one per origin, every connection
made through the SSRF guard, idle connections checked cheaply before reuse.

:class:`PerOriginTransport` is what :class:`feeds.fetch.Fetcher` sends through (without a
proxy); :class:`GuardedTransport` is one origin's pool (or, with a proxy, the only one).
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any

import httpcore
import httpx

from feeds.ssrf import Guard, GuardedNetworkBackend

__all__ = ["GuardedTransport", "PerOriginTransport"]


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection's socket has something to read (then it can only be
    the server closing it, so it is not reused)."""
    if sock.fileno() < 0:
        return True
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection's stream with a cheap "is_readable".

    httpcore asks it of every idle connection of a pool on each request and each
    release; anyio answers by building its table of socket attributes, which calls
    ``getpeername()`` every time. The raw socket is looked up once here instead.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._socket is not None and _readable(self._socket)
        return self._inner.get_extra_info(info)


class _StreamBackend(httpcore.AnyIOBackend):
    """httpcore's own asyncio backend (anyio), its connections wrapped in :class:`_Stream`.
    The SSRF guard's backend connects through it."""

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await super().connect_tcp(*args, **kwargs))


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
            network_backend=GuardedNetworkBackend(guard, _StreamBackend()),
        )


class PerOriginTransport(httpx.AsyncBaseTransport):
    """One small connection pool per origin (scheme, host, port).

    httpcore's pool scans every connection it holds on each request, so one shared
    pool big enough for hundreds of hosts costs more CPU per request than the
    request itself. Per-origin pools hold at most ``per_host`` connections each,
    which is also the politeness limit, so each scan is tiny.
    """

    def __init__(self, guard: Guard, *, per_host: int, keepalive_expiry: float) -> None:
        self._guard = guard
        self._limits = httpx.Limits(
            max_connections=per_host,
            max_keepalive_connections=per_host,
            keepalive_expiry=keepalive_expiry,
        )
        self._ssl_context = httpx.create_ssl_context()  # loading CA certificates is slow: once
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
