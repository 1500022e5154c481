"""The caller's address: the socket's, or what trusted proxies say it is (CONTRACT §8)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> IPAddress | None:
    """An address, also written ``[v6]:port`` or ``v4:port``; IPv4-mapped IPv6 as IPv4.
    None when ``text`` is not an address."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed: single addresses and networks."""

    addresses: frozenset[IPAddress] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> TrustedProxies:
        """Read ``APP_TRUSTED_PROXIES``: comma-separated addresses or CIDRs."""
        addresses: set[IPAddress] = set()
        networks: list[IPNetwork] = []
        for entry in (part.strip() for part in setting.split(",")):
            if not entry:
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"APP_TRUSTED_PROXIES: {entry!r} is neither an IP address nor a CIDR network"
                ) from None
            if network.num_addresses == 1:
                addresses.add(network.network_address)
            else:
                networks.append(network)
        return cls(frozenset(addresses), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.addresses or self.networks)

    def __contains__(self, address: IPAddress) -> bool:
        return address in self.addresses or any(
            address.version == network.version and address in network for network in self.networks
        )


def client_address(scope: Mapping[str, Any], trusted: TrustedProxies) -> str:
    """The socket's address unless a trusted proxy sent the request; then the rightmost
    ``X-Forwarded-For`` address that is not a trusted proxy itself ("unknown" without a
    client)."""
    client = scope.get("client")
    if not client:
        return "unknown"
    peer = str(client[0])
    if not trusted:
        return peer
    address = parse_address(peer)
    if address is None or address not in trusted:
        return peer
    forwarded = ",".join(
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    )
    # Walk from the right: each trusted proxy appended the address it saw, so everything
    # left of the first untrusted address may be forged by the client.
    for entry in reversed(forwarded.split(",")):
        hop = parse_address(entry)
        if hop is not None and hop not in trusted:
            return str(hop)
    return peer
