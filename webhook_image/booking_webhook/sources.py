"""Who sent a notification: the direct peer, or the client a trusted proxy names.

`X-Forwarded-For` is read only when the direct peer is a trusted proxy; the list is walked
from the right (the entry the nearest proxy appended) and the first address that is not
itself a trusted proxy is the client. Anything unparsable is refused, never guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from booking_webhook.core.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadSourceAddress(ValueError):
    """The peer or a forwarded address is not a valid IP address."""


def parse_address(value: str) -> IPAddress:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443" or "[2001:db8::1]"
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise BadSourceAddress("malformed address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    peer: str | None, forwarded_for: list[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress:
    """The address to authenticate and rate-limit by."""
    if not peer:
        raise BadSourceAddress("no peer address")
    current = parse_address(peer)
    if not _within(current, trusted_proxies):
        return current
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not hop.strip():
            raise BadSourceAddress("empty X-Forwarded-For entry")
        current = parse_address(hop)
        if not _within(current, trusted_proxies):
            return current
    return current


def is_allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return _within(address, networks)
