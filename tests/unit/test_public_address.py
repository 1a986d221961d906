"""Which addresses and URLs a webhook may reach: pure checks, no traffic."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from notifier.delivery.public_address import parse_and_refuse, refusal
from notifier.delivery.webhook import (
    BadWebhookUrlError,
    PublicAddressResolver,
    RefusedAddressError,
    check_url,
)

# (address, the words its reason must contain)
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared address space"),
    ("100.127.255.254", "shared address space"),
    ("169.254.0.1", "link-local"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.0.0.1", "protocol assignment"),
    ("192.0.0.170", "protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::10.0.0.1", "private"),
    ("64:ff9b::169.254.169.254", "link-local"),
    ("64:ff9b:1::1", "NAT64"),
    ("2002:7f00:1::1", "loopback"),
    ("2002:a00:1::1", "private"),
    ("2002:c0a8:101::1", "private"),
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:10::1", "protocol assignment"),
    ("100::1", "discard-only"),
    ("4000::1", "non-public"),
    ("::ffff:0:8.8.8.8", "non-public"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.15.255.255",
    "172.32.0.1",
    "100.63.255.255",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("text", "words"), REFUSED)
def test_non_public_addresses_are_refused_with_a_reason(text: str, words: str) -> None:
    reason = refusal(ipaddress.ip_address(text))
    assert reason is not None
    assert words in reason
    assert parse_and_refuse(text) == reason


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert refusal(ipaddress.ip_address(text)) is None


def test_text_that_is_no_address_is_refused() -> None:
    assert parse_and_refuse("example.com") == "not an IP address"


# (URL, the words the error must contain); each is refused when private addresses are not allowed
BAD_URLS: list[tuple[object, str]] = [
    (None, "not a string"),
    (42, "not a string"),
    ("", "empty"),
    ("https://example.com/" + "a" * 2029, "longer than 2048"),
    ("not a url", "whitespace"),
    ("notaurl", "https"),
    ("https://exa mple.com/", "whitespace"),
    ("https://example.com/\x00", "control"),
    ("https://example.com/\u200b", "control"),
    ("http://example.com/hook", "https"),
    ("ftp://example.com/hook", "https"),
    ("https:///x", "no host"),
    ("https://exämple.com/x", "non-ASCII"),
    ("https://user:pw@example.com/x", "user information"),
    ("https://user@example.com/x", "user information"),
    ("https://@example.com/x", "user information"),
    ("https://example.com\\@evil.example/", "cannot be parsed"),
    ("https://example.com:99999/", "cannot be parsed"),
    ("https://%31%32%37.0.0.1/", "invalid host"),
    ("https://127.1/", "not a valid IP address"),
    ("https://2130706433/", "not a valid IP address"),
    ("https://0x7f.0.0.1/", "not a valid IP address"),
    ("https://127.0.0.1/x", "loopback"),
    ("https://127.0.0.1./x", "loopback"),
    ("https://[::1]/x", "loopback"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fe80::1%25eth0]/", "link-local"),
    ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),
]


@pytest.mark.parametrize(("url", "words"), BAD_URLS)
def test_bad_webhook_urls_are_refused_without_echoing_them(url: object, words: str) -> None:
    with pytest.raises(BadWebhookUrlError) as caught:
        check_url(url, allow_private=False)
    message = str(caught.value)
    assert words in message
    assert "example" not in message and "127.0.0.1" not in message


def test_exactly_2048_characters_is_allowed() -> None:
    url = "https://example.com/" + "a" * 2028
    assert len(url) == 2048
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook?token=abc",
        "https://xn--exmple-cua.com/x",
        "https://hooks.example.com:8443/services/T0/B0/x",
        "https://8.8.8.8/x",
        "https://[2606:4700:4700::1111]/x",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/x", "https://[::1]/x", "http://localhost/x", "http://10.0.0.1/"]
)
def test_allow_private_admits_http_and_private_hosts(url: str) -> None:
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://127.0.0.1/", "https"),
        ("http://u:p@127.0.0.1/", "user information"),
        ("http://127.1/", "not a valid IP address"),
    ],
)
def test_allow_private_keeps_the_shape_rules(url: str, words: str) -> None:
    with pytest.raises(BadWebhookUrlError, match=words):
        check_url(url, allow_private=True)


class FixedResolver(AbstractResolver):
    """Answers every name with the same addresses, as a rebinding DNS server might."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=h, port=port, family=0, proto=0, flags=0)
            for h in self.hosts
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_drops_refused_addresses_and_keeps_public_ones() -> None:
    resolver = PublicAddressResolver(FixedResolver("127.0.0.1", "8.8.8.8", "::1", "10.1.2.3"))
    got = await resolver.resolve("hooks.example.com", 443)
    assert [r["host"] for r in got] == ["8.8.8.8"]


async def test_the_resolver_refuses_a_name_with_only_refused_addresses() -> None:
    resolver = PublicAddressResolver(FixedResolver("169.254.169.254", "::1"))
    with pytest.raises(RefusedAddressError) as caught:
        await resolver.resolve("hooks.example.com", 443)
    assert caught.value.reason == "webhook host resolves to a link-local address"
    assert "example" not in str(caught.value)
