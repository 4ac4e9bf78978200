"""The SSRF guard over a table of addresses. Only literal IPs and ``localhost`` are ever resolved."""

from __future__ import annotations

import asyncio

import pytest

from newsdesk.errors import BlockedURLError, FetchError
from newsdesk.fetch.ssrf import blocked_reason, check_address, parse_networks, resolve_checked

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata endpoint
    ("100.64.0.1", "shared"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "private"),  # "this network"
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),  # reserved class E
    ("255.255.255.255", "private"),
    ("192.0.2.10", "private"),  # documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("192.88.99.1", "6to4 relay"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1"),
    ("::8.8.8.8", "reserved"),  # IPv4-compatible addresses are deprecated altogether
    ("2002:7f00:1::", "6to4 form of 127.0.0.1"),
    ("2002:c0a8:101::1", "6to4 form of 192.168.1.1"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo form of 192.0.2.45"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("not-an-ip", "not an IP address"),
]

PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
          "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]  # fmt: skip


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_non_public_addresses_are_blocked_with_a_reason(address: str, reason: str) -> None:
    found = blocked_reason(address)
    assert found is not None and reason in found
    with pytest.raises(BlockedURLError) as caught:
        check_address(address, allow_private=False)
    assert address in caught.value.message


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(address) is None
    check_address(address, allow_private=False)


def test_allow_private_lifts_the_guard() -> None:
    check_address("10.0.0.1", allow_private=True)
    check_address("::1", allow_private=True)


def test_allowed_networks_let_only_those_through() -> None:
    loopback = parse_networks(["127.0.0.0/8", "::1"])
    check_address("127.0.0.1", allow_private=False, allowed=loopback)
    check_address("::1", allow_private=False, allowed=loopback)
    with pytest.raises(BlockedURLError):
        check_address("10.0.0.1", allow_private=False, allowed=loopback)
    with pytest.raises(BlockedURLError):
        check_address("169.254.169.254", allow_private=False, allowed=loopback)


def test_resolving_localhost_is_blocked() -> None:
    with pytest.raises(BlockedURLError) as caught:
        asyncio.run(resolve_checked("localhost", 80, allow_private=False))
    assert "localhost" in caught.value.message and "loopback" in caught.value.message


def test_resolving_literals_needs_no_dns() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"resolver called for {host}")

    found = asyncio.run(resolve_checked("[2606:4700:4700::1111]", 443, allow_private=False, resolver=no_dns))
    assert found == ["2606:4700:4700::1111"]
    with pytest.raises(BlockedURLError):
        asyncio.run(resolve_checked("10.1.1.1", 80, allow_private=False, resolver=no_dns))


def test_one_private_address_among_public_ones_blocks_the_name() -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:4700::1", "10.0.0.7"]

    with pytest.raises(BlockedURLError) as caught:
        asyncio.run(resolve_checked("mixed.test", 80, allow_private=False, resolver=mixed))
    assert "10.0.0.7" in caught.value.message


def test_dns_failure_is_a_connect_error() -> None:
    async def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(FetchError) as caught:
        asyncio.run(resolve_checked("nowhere.test", 80, allow_private=False, resolver=failing))
    assert caught.value.kind == "connect" and not isinstance(caught.value, BlockedURLError)
