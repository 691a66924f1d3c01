"""Fetching URLs from the open internet without becoming a way into our own network.

:class:`SafeFetcher` resolves each host itself, refuses addresses a server should
never be pointed at (loopback, private, link-local — cloud metadata lives there —
and reserved ranges) unless a setting allows them, connects to the very address it
checked (no second look-up a rebinding DNS server could answer differently),
follows redirects under the same checks, and caps size and time.
"""

from jikimi.fetching.addresses import AddressPolicy, refusal_reason
from jikimi.fetching.fetcher import (
    Capture,
    FetchFailed,
    FetchRefused,
    Hop,
    Resolver,
    SafeFetcher,
    SystemResolver,
)

__all__ = [
    "AddressPolicy",
    "Capture",
    "FetchFailed",
    "FetchRefused",
    "Hop",
    "Resolver",
    "SafeFetcher",
    "SystemResolver",
    "refusal_reason",
]
