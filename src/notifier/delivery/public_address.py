"""Which IP addresses a webhook may reach: public unicast internet addresses, nothing else.

A webhook URL is written by a user, so without this rule it is a way to make the worker call
its own loopback services, the cloud metadata endpoint or anything on the private network
(server-side request forgery). ``ipaddress``'s ``is_global`` is the base, but it lets some
ranges through (multicast, parts of 192.0.0.0/24 on older Pythons) and judges IPv6 addresses
that carry an IPv4 address by their IPv6 prefix; the tables below name each range explicitly
so that the reasons are readable and the verdict does not drift between Python versions.

Pure functions, no I/O: the resolver and the URL check both call them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

_V4_RULES: Sequence[tuple[IPv4Network, str]] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified address"),
        ("127.0.0.0/8", "loopback address"),
        ("10.0.0.0/8", "private address"),
        ("172.16.0.0/12", "private address"),
        ("192.168.0.0/16", "private address"),
        ("100.64.0.0/10", "shared address space"),
        ("169.254.0.0/16", "link-local address"),
        ("192.0.0.0/24", "protocol assignment address"),
        ("192.0.2.0/24", "documentation address"),
        ("198.51.100.0/24", "documentation address"),
        ("203.0.113.0/24", "documentation address"),
        ("198.18.0.0/15", "benchmarking address"),
        ("192.88.99.0/24", "6to4 relay address"),
        ("224.0.0.0/4", "multicast address"),
        ("255.255.255.255/32", "broadcast address"),
        ("240.0.0.0/4", "reserved address"),
    )
)

# First match wins: the single addresses come before the ranges that contain them.
_V6_RULES: Sequence[tuple[IPv6Network, str]] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified address"),
        ("::1/128", "loopback address"),
        ("::/96", "IPv4-compatible address"),
        ("64:ff9b:1::/48", "local-use NAT64 address"),
        ("100::/64", "discard-only address"),
        ("2001::/32", "Teredo address"),
        ("2001:db8::/32", "documentation address"),
        ("2001::/23", "protocol assignment address"),
        ("fc00::/7", "private address"),
        ("fe80::/10", "link-local address"),
        ("fec0::/10", "site-local address"),
        ("ff00::/8", "multicast address"),
    )
)

# Packets to these go to the IPv4 address inside them, so that address is the one to judge.
_NAT64 = IPv6Network("64:ff9b::/96")
# All unicast IPv6 addresses handed out for the internet are in 2000::/3 (RFC 4291, 2.4).
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NON_PUBLIC = "non-public address"


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be contacted, or None for a public unicast address."""
    if isinstance(address, IPv4Address):
        return _v4_refusal(address)
    return _v6_refusal(address)


def parse_and_refuse(text: str) -> str | None:
    """``refusal`` for an address written as text; text that is no address is refused too."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "not an IP address"
    return refusal(address)


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address actually delivers to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def _v4_refusal(address: IPv4Address) -> str | None:
    reason = _first_match(address, _V4_RULES)
    if reason is None and not address.is_global:
        return _NON_PUBLIC
    return reason


def _v6_refusal(address: IPv6Address) -> str | None:
    inner = embedded_ipv4(address)
    if inner is not None:
        return _v4_refusal(inner)
    reason = _first_match(address, _V6_RULES)
    if reason is None and (address not in _GLOBAL_UNICAST or not address.is_global):
        return _NON_PUBLIC
    return reason


def _first_match(
    address: IPAddress, rules: Sequence[tuple[IPv4Network | IPv6Network, str]]
) -> str | None:
    return next((reason for net, reason in rules if address in net), None)
