"""Which IP addresses a fetch may connect to.

The default refuses every address that is not plainly public: a caller-supplied
URL must never reach the machine itself, the private network behind it, or the
cloud metadata service at ``169.254.169.254``. ``allow`` names networks to let
through anyway (tests allow ``127.0.0.1/32`` so they can fetch from servers they
started; an operator may allow an internal host on purpose).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not public (``None`` when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved:
        return "reserved address"
    if not address.is_global:
        return "non-global address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Refuse non-public addresses except those inside ``allow``."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        """A policy from CIDR strings (``"127.0.0.1/32"``); a bad one raises ``ValueError``."""
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks))

    def check(self, address: str) -> str | None:
        """Why a connection to ``address`` is refused, or ``None`` if it may go ahead."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"{address!r} is not an IP address"
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return refusal_reason(ip)
