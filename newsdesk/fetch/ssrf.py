"""The SSRF guard: newsdesk only talks to public internet addresses unless told otherwise.

Sources are user input (a feed URL, a link inside a feed, a redirect target), so a hostile or mistaken
source could point the fetcher at the machine itself, the LAN, or a cloud metadata endpoint
(169.254.169.254). The contract:

* every address a host name resolves to is checked (not just the first): a name with one public and one
  private address is refused, since the connection could land on either;
* an address is refused when it is not globally routable — private, loopback, link-local, multicast,
  reserved, unspecified, shared (100.64.0.0/10, RFC 6598), benchmarking, documentation — including IPv6
  forms that embed such an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``,
  6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64 ``64:ff9b::/96``);
* ``allow_private=True`` lifts the guard (a source explicitly marked as internal); ``allowed`` lists
  networks let through without lifting the rest (tests allow ``127.0.0.0/8`` and nothing else).

The fetcher runs this before every request and every redirect hop, and again inside the connection
itself on the addresses actually dialled, so DNS rebinding between check and connect gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeAlias

from newsdesk.errors import BlockedURLError, FetchError

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Awaitable[list[str]]]
"""An async ``(host, port) -> [address, ...]`` lookup; injectable so tests need no DNS."""

# Ranges that the stdlib's is_global/is_private flags do not catch on every supported Python version.
_EXTRA_BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("100.64.0.0/10"), "shared address space (RFC 6598)"),
    (ipaddress.ip_network("192.88.99.0/24"), "6to4 relay anycast (RFC 7526)"),
    (ipaddress.ip_network("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"),
    (ipaddress.ip_network("fec0::/10"), "site-local IPv6 (deprecated, RFC 3879)"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Forms whose packets really go to the embedded IPv4 address (DNS64 on IPv6-only hosts hands out
# 64:ff9b::/96 names for ordinary public sites), so they are as safe as that address.
_TRANSLATED_FORMS = frozenset({"IPv4-mapped", "NAT64"})


def parse_networks(specs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings such as ``"127.0.0.0/8"`` (a bare address means a single-host network)."""
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _flag_reason(ip: IPAddress) -> str | None:
    """The first stdlib flag that makes ``ip`` non-public, named for the error message."""
    flags = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for name, hit in flags:
        if hit:
            return name
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 transition form carries, and the form's name, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip)), "IPv4-compatible"
    return None


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why ``address`` is not a public internet address, or ``None`` when it is.

    Pure and total: an unparseable address is itself a reason to refuse.
    """
    try:
        # A zone index ("fe80::1%eth0") says which interface, not which address: drop it.
        ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    except ValueError:
        return f"not an IP address: {address!r}"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = blocked_reason(embedded[0])
            if inner is not None:
                return f"{embedded[1]} form of {embedded[0]} ({inner})"
            if embedded[1] in _TRANSLATED_FORMS:
                return None
    for network, name in _EXTRA_BLOCKED:
        if ip.version == network.version and ip in network:
            return name
    reason = _flag_reason(ip)
    if reason is None and not ip.is_global:
        reason = "not globally routable"
    return reason


def _in_networks(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def check_address(address: str, *, allow_private: bool, allowed: tuple[IPNetwork, ...] = ()) -> None:
    """Raise :class:`BlockedURLError` unless ``address`` may be contacted under this policy."""
    if allow_private:
        return
    reason = blocked_reason(address)
    if reason is None:
        return
    if _in_networks(address, allowed):
        return
    raise BlockedURLError(f"refusing to connect to {address}: {reason}", kind="blocked")


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host`` (IPv4 and IPv6), in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    return list(dict.fromkeys(addresses))


def _literal_ip(host: str) -> str | None:
    """``host`` itself when it is an IP literal (brackets stripped), else ``None``."""
    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return None


async def resolve_checked(
    host: str,
    port: int,
    *,
    allow_private: bool,
    allowed: tuple[IPNetwork, ...] = (),
    resolver: Resolver = system_resolver,
) -> list[str]:
    """Resolve ``host`` and return its addresses, all of which passed :func:`check_address`.

    Raises :class:`BlockedURLError` if any address is refused, and ``FetchError(kind="connect")`` when
    the name does not resolve.
    """
    literal = _literal_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolver(host, port)
        except OSError as e:
            raise FetchError(f"DNS lookup failed for {host}: {e}", kind="connect") from e
    if not addresses:
        raise FetchError(f"DNS lookup returned no address for {host}", kind="connect")
    for address in addresses:
        try:
            check_address(address, allow_private=allow_private, allowed=allowed)
        except BlockedURLError as e:
            raise BlockedURLError(f"{host}: {e.message}", kind="blocked") from e
    return addresses
