"""Who sent a notification: the direct peer, or what a trusted proxy says."""

import ipaddress

import pytest

from booking_webhook.core.config import YOOKASSA_NOTIFICATION_NETWORKS
from booking_webhook.sources import BadSourceAddress, client_address, is_allowed

PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
YOOKASSA = [ipaddress.ip_network(n) for n in YOOKASSA_NOTIFICATION_NETWORKS]


def test_the_direct_peer_is_the_client_when_no_proxy_is_trusted() -> None:
    assert str(client_address("185.71.76.1", ["1.2.3.4"], [])) == "185.71.76.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert str(client_address("8.8.8.8", ["185.71.76.1"], PROXIES)) == "8.8.8.8"


def test_the_rightmost_untrusted_forwarded_address_wins() -> None:
    source = client_address("10.0.0.2", ["185.71.76.1, 6.6.6.6, 10.0.0.9"], PROXIES)
    assert str(source) == "6.6.6.6"


def test_forwarded_headers_are_read_in_order_across_repeats() -> None:
    assert str(client_address("10.0.0.2", ["1.1.1.1", "185.71.76.1"], PROXIES)) == "185.71.76.1"


@pytest.mark.parametrize("bad", ["not-an-ip", "185.71.76.1:443", "", "999.1.1.1", "185.71.76.0/27"])
def test_a_malformed_forwarded_address_is_refused(bad: str) -> None:
    with pytest.raises(BadSourceAddress):
        client_address("10.0.0.2", [f"{bad}"], PROXIES)


def test_a_bracketed_ipv6_forwarded_address_is_understood() -> None:
    assert str(client_address("10.0.0.2", ["[2a02:5180::1]"], PROXIES)) == "2a02:5180::1"


def test_an_ipv4_mapped_ipv6_peer_is_compared_as_ipv4() -> None:
    assert str(client_address("::ffff:185.71.76.1", [], [])) == "185.71.76.1"


@pytest.mark.parametrize(
    "address", ["185.71.76.31", "185.71.77.1", "77.75.156.11", "77.75.154.200", "2a02:5180:1::5"]
)
def test_yookassa_published_networks_are_allowed(address: str) -> None:
    assert is_allowed(ipaddress.ip_address(address), YOOKASSA)


@pytest.mark.parametrize("address", ["185.71.76.32", "77.75.156.12", "127.0.0.1", "2a02:5181::1"])
def test_other_addresses_are_not_allowed(address: str) -> None:
    assert not is_allowed(ipaddress.ip_address(address), YOOKASSA)
