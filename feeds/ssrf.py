"""SSRF guard: which URLs and addresses the fetcher may reach.

Feeds are URLs typed by users, and redirects are chosen by remote servers, so a
feed URL must not become a way to read the bot's own network (cloud metadata at
169.254.169.254, an admin panel on 10.x, a database on localhost). The guard works
at two levels:

* every URL (the feed URL and each redirect hop) is checked before it is requested:
  its scheme, and its host if that is an IP address;
* the connection itself goes through :class:`GuardedNetworkBackend`, which resolves
  the host, checks every address and connects to the checked address. One lookup,
  checked and used, so DNS rebinding has no gap to slip through;
* with a proxy the connection goes to the (trusted) proxy, so each hop's host is
  resolved and checked before the request instead.

Both levels use one :class:`AddressPolicy` and one pluggable :data:`Resolver`, so
tests can map "news.example.com" to 10.0.0.5 without touching real DNS.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves (host, port) to IP address strings. Raises :class:`OSError` on failure."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddressError(httpcore.ConnectError):
    """A URL or connection was refused by the SSRF guard.

    Subclasses httpcore's ``ConnectError`` so that, raised inside the connection
    pool, httpx maps it to ``httpx.ConnectError`` like any failed connect; the
    fetcher recognises it by the message prefix and its ``__cause__``/context.
    """


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Resolve with the operating system's resolver (``getaddrinfo``), off the loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


@dataclass(frozen=True)
class StubResolver:
    """A fixed host -> addresses table, for tests and benchmarks.

    Hosts not in the table fail like an unknown name, unless ``fallback`` is given.
    """

    table: Mapping[str, Sequence[str]]
    fallback: Resolver | None = None

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        """Look ``host`` up in the table (case-insensitive)."""
        found = self.table.get(host.lower().rstrip("."))
        if found is not None:
            return list(found)
        if self.fallback is not None:
            return await self.fallback(host, port)
        raise socket.gaierror(socket.EAI_NONAME, f"stub resolver: unknown host {host!r}")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    Refuses loopback, private, link-local, multicast, reserved, unspecified and
    shared (CGNAT) space, for IPv4 and IPv6, including IPv4 addresses carried
    inside IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public_address(inner):
            return False
        if ip.scope_id or ip.is_site_local:
            return False
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return False
    return ip.is_global


@functools.lru_cache(maxsize=4_096)  # every fetch asks it of its host, often the same
def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0] if "%" in text else text)
    except ValueError:
        pass
    # Legacy IPv4 spellings ("2130706433", "0x7f.1", "127.1") that getaddrinfo and
    # browsers accept as addresses: treat them as the address they denote.
    if re.fullmatch(r"[0-9a-fA-FxX.]+", text) and any(c.isdigit() for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be connected to.

    ``allow_private_networks`` lifts the guard entirely (tests against 127.0.0.1,
    intranet deployments). ``allowed_networks`` lets specific networks through while
    the guard stays on for everything else: an intranet feed host, or the test
    server in a test that checks the guard still refuses everything else.
    """

    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls, *, allow_private_networks: bool = False, allowed_networks: Iterable[str] = ()
    ) -> AddressPolicy:
        """Build from config strings such as ``"127.0.0.1/32"`` (raises ValueError if bad)."""
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_private_networks=allow_private_networks, allowed_networks=nets)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be connected to, or None if it may."""
        ip = _parse_ip(address)
        if ip is None:
            return f"not an IP address: {address!r}"
        if self.allow_private_networks:
            return None
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        if not is_public_address(ip):
            return f"address {ip} is not public (loopback/private/link-local/reserved)"
        return None


@dataclass
class Guard:
    """Checks URLs and resolved addresses against an :class:`AddressPolicy`."""

    policy: AddressPolicy = field(default_factory=AddressPolicy)
    resolver: Resolver = system_resolver

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its addresses if all are allowed.

        Raises :class:`BlockedAddressError` if any address is refused: a name that
        resolves to one public and one private address is refused as a whole, since
        we cannot know which one a later resolution would pick.
        Raises :class:`OSError` if the name does not resolve.
        """
        host = host.strip("[]")
        literal = _parse_ip(host)
        addresses = [str(literal)] if literal is not None else list(await self.resolver(host, port))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"no addresses for {host!r}")
        for address in addresses:
            why = self.policy.refusal(address)
            if why is not None:
                shown = host if literal is not None else f"{host} -> {address}"
                raise BlockedAddressError(f"blocked by SSRF guard: {shown}: {why}")
        return addresses

    async def check_url(self, url: str, *, resolve: bool = True) -> None:
        """Refuse non-http(s) URLs and hosts that are, or resolve to, refused addresses.

        With ``resolve=False`` only IP-literal hosts are checked here: the caller
        connects through :class:`GuardedNetworkBackend`, which resolves once, checks,
        and connects to the checked address, so a second lookup would only cost time.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedAddressError(f"blocked by SSRF guard: scheme {parts.scheme!r} not allowed")
        host = parts.hostname
        if not host:
            raise BlockedAddressError(f"blocked by SSRF guard: no host in {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise BlockedAddressError(f"blocked by SSRF guard: bad port in {url!r}") from exc
        if resolve or _parse_ip(host.strip("[]")) is not None:
            await self.checked_addresses(host, port)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses the guard allows.

    httpcore hands ``connect_tcp`` the URL's host name; we resolve it ourselves,
    check every address, and connect to the checked IP. TLS still uses the host
    name for SNI and certificate checks, since httpcore passes ``server_hostname``
    from the request origin, not from the address we connected to.
    """

    def __init__(self, guard: Guard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check, then connect to the first checked address that answers."""
        try:
            addresses = await self._guard.checked_addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never a feed's address."""
        raise BlockedAddressError("blocked by SSRF guard: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the wrapped backend."""
        await self._inner.sleep(seconds)
