"""Which client address a request is counted against: the dashboard's login throttle and the
survey's rate limits use this one rule. Pure: no web framework, no I/O.

The address is the connection's peer, unless that peer is a proxy the operator trusts
(AUTH_TRUSTED_PROXIES for the dashboard, SURVEY_TRUSTED_PROXIES for the survey): then
X-Forwarded-For is read from its right end, skipping trusted
proxies, and the first address that is not one of them is the client. A header sent by anyone
else is ignored, so a client cannot pick its own address by forging it.

IPv6 clients are counted per /64, the block one subscriber usually holds, so hopping between
addresses of one network does not reset the count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Streamlit reports a connection from localhost as "no address".
LOOPBACK = ipaddress.ip_address("127.0.0.1")
IPV6_SUBSCRIBER_PREFIX = 64


def parse_trusted_proxies(value: str) -> tuple[IPNetwork, ...]:
    """'10.0.0.0/8, 192.0.2.7' -> networks; raises ValueError naming the entry at fault."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"'{entry}' is not an IP address or network (e.g. 10.0.0.0/8, 192.0.2.7)"
            ) from None
    return tuple(networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The throttle key of the client (an address, or an IPv6 /64 network), or None when the
    peer's address cannot be read."""
    address = _parse(peer) if peer else LOOPBACK
    if address is None:
        return None
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    while hops and _is_trusted(address, trusted):
        hop = _parse(hops.pop())
        if hop is None:
            break  # a trusted proxy passed on junk: count against the proxy itself
        address = hop
    return throttle_key(address)


def throttle_key(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, IPV6_SUBSCRIBER_PREFIX), strict=False)
        return str(network)
    return str(address)


def _parse(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:443
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in trusted)
