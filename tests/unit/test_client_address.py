"""The client address: the socket's, unless a trusted proxy forwarded the request."""

from __future__ import annotations

from typing import Any

import pytest

from truapi.api.client_address import TrustedProxies, client_address

PROXIES = TrustedProxies.parse("10.0.0.0/8, 192.0.2.7 ,fd00::/8,2001:db8::1")


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    headers.append((b"host", b"testserver"))
    return {
        "type": "http",
        "client": (peer, 50000) if peer is not None else None,
        "headers": headers,
    }


def test_without_trusted_proxies_the_socket_address_is_used() -> None:
    nobody = TrustedProxies.parse("")
    assert not nobody
    assert client_address(scope("203.0.113.5", "198.51.100.1"), nobody) == "203.0.113.5"


def test_a_forwarded_header_from_an_untrusted_socket_is_ignored() -> None:
    spoofed = scope("203.0.113.5", "198.51.100.1")
    assert client_address(spoofed, PROXIES) == "203.0.113.5"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_address(scope("10.1.2.3", "198.51.100.1"), PROXIES) == "198.51.100.1"


def test_the_rightmost_untrusted_hop_wins_over_what_the_client_wrote() -> None:
    # The client forged the first two entries; the proxies appended the rest.
    forged = scope("10.0.0.1", "1.1.1.1, 10.9.9.9, 198.51.100.1, 192.0.2.7, 10.0.0.2")
    assert client_address(forged, PROXIES) == "198.51.100.1"


def test_several_headers_are_read_as_one_list_in_order() -> None:
    request = scope("10.0.0.1", "6.6.6.6", "198.51.100.1, 10.0.0.3", "10.0.0.2")
    assert client_address(request, PROXIES) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_only_falls_back_to_the_socket() -> None:
    assert client_address(scope("10.0.0.1", "10.0.0.2, 192.0.2.7"), PROXIES) == "10.0.0.1"
    assert client_address(scope("10.0.0.1"), PROXIES) == "10.0.0.1"


def test_ipv6_proxies_and_clients() -> None:
    request = scope("fd00::10", "2001:db8:ffff::1, 2001:db8::1")
    assert client_address(request, PROXIES) == "2001:db8:ffff::1"
    assert client_address(scope("2001:db8::1", "[2001:db8::42]:443"), PROXIES) == "2001:db8::42"
    assert client_address(scope("2001:db8::2", "198.51.100.1"), PROXIES) == "2001:db8::2"


def test_ipv4_mapped_and_ported_forms_are_understood() -> None:
    assert client_address(scope("::ffff:10.0.0.1", "198.51.100.1:5555"), PROXIES) == (
        "198.51.100.1"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        " , ,",
        "unknown",
        "not an address, ,,",
        "999.1.1.1",
        "[::1",
        "\x00\xff",
        "1.2.3.4:5:6",
        "a" * 10_000,
    ],
)
def test_garbage_is_skipped_safely(garbage: str) -> None:
    assert client_address(scope("10.0.0.1", garbage), PROXIES) == "10.0.0.1"
    mixed = scope("10.0.0.1", f"198.51.100.1, {garbage}, 10.0.0.2")
    assert client_address(mixed, PROXIES) == "198.51.100.1"


def test_a_socket_that_is_not_an_ip_address_is_returned_as_is() -> None:
    assert client_address(scope("testclient", "198.51.100.1"), PROXIES) == "testclient"


def test_no_client_in_the_scope_is_unknown() -> None:
    assert client_address(scope(None, "198.51.100.1"), PROXIES) == "unknown"
    assert client_address({"type": "http", "headers": []}, PROXIES) == "unknown"


@pytest.mark.parametrize("setting", ["10.0.0.0/33", "localhost", "10.0.0.1,,nope", "1.2.3"])
def test_an_invalid_setting_names_the_variable(setting: str) -> None:
    with pytest.raises(ValueError, match="APP_TRUSTED_PROXIES"):
        TrustedProxies.parse(setting)


def test_the_setting_tolerates_whitespace_and_host_bits() -> None:
    proxies = TrustedProxies.parse("  10.1.2.3/8 ,\t::1 , ")
    assert client_address(scope("10.200.0.1", "198.51.100.1"), proxies) == "198.51.100.1"
    assert client_address(scope("::1", "198.51.100.2"), proxies) == "198.51.100.2"
