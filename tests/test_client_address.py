"""Which address is the client's: `X-Forwarded-For` is believed only from a trusted proxy,
and then its right-most address that is not a trusted proxy itself."""

from __future__ import annotations

import pytest

from tracer.client_address import ClientAddress
from tracer.errors import ConfigurationError

PROXIES = ClientAddress("127.0.0.0/8, 10.0.0.0/8, fd00::/8")


def client(peer: str, forwarded: str | None = None, address: ClientAddress = PROXIES) -> str:
    raw = b"" if forwarded is None else forwarded.encode("latin-1")
    return address([peer, 40000], raw)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),  # the peer is no proxy: header ignored
        ("127.0.0.1", None, "127.0.0.1"),  # a proxy that says nothing
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "203.0.113.5, 10.0.0.2", "203.0.113.5"),  # through two proxies
        ("127.0.0.1", "192.0.2.1, 203.0.113.5, 10.0.0.2", "203.0.113.5"),  # left part: forgeable
        ("127.0.0.1", "2001:db8::1, fd00::2", "2001:db8::1"),
        ("127.0.0.1", "garbage, 10.0.0.2", "127.0.0.1"),  # not an address: not believed
        ("127.0.0.1", "203.0.113.5, garbage", "127.0.0.1"),
        ("127.0.0.1", " , ", "127.0.0.1"),
        ("127.0.0.1", "10.0.0.3, 10.0.0.2", "127.0.0.1"),  # nothing but proxies
        ("::1", "203.0.113.5", "::1"),  # ::1 is not in the trusted list
    ],
)
def test_the_client_is_the_right_most_untrusted_address(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client(peer, forwarded) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client("127.0.0.1", "203.0.113.5", ClientAddress("")) == "127.0.0.1"


def test_a_missing_or_odd_peer_gives_no_address() -> None:
    assert client("203.0.113.5") == "203.0.113.5"
    assert PROXIES(None, b"203.0.113.5") == ""
    assert PROXIES([7, 1], b"203.0.113.5") == ""


def test_is_trusted_says_no_for_what_is_not_an_address() -> None:
    assert PROXIES.is_trusted("10.1.2.3")
    assert not PROXIES.is_trusted("203.0.113.5")
    assert not PROXIES.is_trusted("10.1.2")
    assert not PROXIES.is_trusted("")


def test_a_bad_network_in_the_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        ClientAddress("10.0.0.0/33")
