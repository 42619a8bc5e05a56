"""Which address a failed login is counted against: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from npscsat.client_address import client_address, parse_trusted_proxies

INGRESS = parse_trusted_proxies("10.0.0.0/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No proxy configured: the header is ignored, whoever sent it.
        ("203.0.113.7", ["198.51.100.1"], (), "203.0.113.7"),
        # From the trusted ingress: the client it names.
        ("10.1.2.3", ["198.51.100.1"], INGRESS, "198.51.100.1"),
        # A client's own forged entry sits left of the real one and is never reached.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], INGRESS, "198.51.100.1"),
        # Chains of trusted proxies are walked from the right; repeated headers join in order.
        ("10.1.2.3", ["198.51.100.1, 10.9.9.9", "10.4.4.4"], INGRESS, "198.51.100.1"),
        # The header from an untrusted peer is not believed.
        ("203.0.113.7", ["10.1.1.1"], INGRESS, "203.0.113.7"),
        # Junk from a trusted proxy: counted against the proxy, not skipped.
        ("10.1.2.3", ["not-an-ip"], INGRESS, "10.1.2.3"),
        # Every hop trusted: the left-most one.
        ("10.1.2.3", ["10.2.2.2"], INGRESS, "10.2.2.2"),
        # Ports and IPv6 brackets are dropped; IPv6 clients are counted per /64.
        ("10.1.2.3", ["198.51.100.1:5044"], INGRESS, "198.51.100.1"),
        ("10.1.2.3", ["[2001:db8:1:2:aaaa::1]:443"], INGRESS, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", [], (), "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", [], (), "203.0.113.7"),
        # Streamlit reports a connection from localhost as None: a local proxy can be trusted.
        (None, ["198.51.100.1"], parse_trusted_proxies("127.0.0.1"), "198.51.100.1"),
        (None, ["198.51.100.1"], (), "127.0.0.1"),
        ("garbage", [], (), None),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(peer, forwarded, trusted) == expected


def test_bad_proxy_entries_are_named():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP address or network"):
        parse_trusted_proxies("10.0.0.0/8, 10.0.0.0/33")
    assert parse_trusted_proxies(" ") == ()
