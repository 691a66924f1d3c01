"""A fetcher that is safe to point at the open internet (evidence capture, re-checks).

The guard sits where the socket is made (an ``httpcore`` network backend): the host
name is resolved by a :class:`Resolver` (the system's, or a stub in tests), every
address is checked against the :class:`~jikimi.fetching.addresses.AddressPolicy`,
and the TCP connection goes to the checked address itself, while TLS still
verifies the certificate against the host name. A refused URL therefore never
opens a socket, and a DNS answer that changes between check and connect cannot
slip through. Redirects are followed by hand (each hop checked the same way), the
body is streamed and cut off past ``max_bytes``, and the whole fetch has a deadline.

One fetcher keeps one connection pool for all its fetches (thread-safe), so the
re-checks of many URLs on one host reuse its kept-alive connections instead of
resolving and connecting for each: every pooled connection was checked when it was
opened, to the address it is still connected to. Each fetch still gets a client of
its own, so no cookie is carried from one fetch to the next.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from jikimi.errors import JikimiError, MediaTooLarge
from jikimi.fetching.addresses import AddressPolicy

MAX_REDIRECTS = 5
POOL_CONNECTIONS = 8
"""Connections a fetcher keeps open at once (its callers fetch with up to 4 threads)."""
_CHUNK = 64 * 1024
USER_AGENT = "jikimi-evidence/1 (+takedown verification)"


class FetchRefused(JikimiError):
    """The URL points somewhere a fetch may not go (a non-public address, a bad scheme)."""

    code = "fetch_refused"


class FetchFailed(JikimiError):
    """The URL could not be fetched: unresolvable, unreachable, too slow, too many redirects."""

    code = "fetch_failed"


class Resolver(Protocol):
    """Turns a host name into the IP addresses to try."""

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (raise :class:`FetchFailed` when there are none)."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``)."""

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchFailed(f"cannot resolve {host!r}: {exc}") from exc
        seen: list[str] = []
        for *_, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in seen:
                seen.append(address)
        return seen


@dataclass(frozen=True)
class Hop:
    """One request of a fetch: the URL, its answer's status, and the address it reached."""

    url: str
    status: int
    address: str | None


@dataclass(frozen=True)
class Capture:
    """What one fetch saw: the bytes and everything needed to say where they came from."""

    url: str
    final_url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    started_at: datetime
    finished_at: datetime
    hops: tuple[Hop, ...] = field(default=())

    @property
    def address(self) -> str | None:
        """The IP address the final answer came from."""
        return self.hops[-1].address if self.hops else None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to the checked address."""

    def __init__(
        self, resolver: Resolver, policy: AddressPolicy, inner: httpcore.NetworkBackend
    ) -> None:
        self._resolver = resolver
        self._policy = policy
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = [host] if _is_ip(host) else self._resolver.resolve(host, port)
        if not addresses:
            raise FetchFailed(f"{host!r} has no address")
        for address in addresses:
            reason = self._policy.check(address)
            if reason is not None:
                # One bad address refuses the host: a name that resolves to a public and
                # a private address at once is how rebinding attacks are staged.
                raise FetchRefused(f"{host} resolves to {address}, a {reason}; refused")
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                last = exc
                continue
            return stream
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {last}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise FetchRefused("unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process (loading the CA store takes a fifth of a second)."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that uses the guarded backend."""

    def __init__(self, backend: _GuardedBackend, verify: bool = True) -> None:
        context = _ssl_context(verify)
        super().__init__(trust_env=False, verify=context)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=POOL_CONNECTIONS,
            max_keepalive_connections=POOL_CONNECTIONS,
            network_backend=backend,
        )


class SafeFetcher:
    """Fetches one URL at a time under an address policy, a size cap and a deadline."""

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        backend: httpcore.NetworkBackend | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        timeout_s: float = 30.0,
        max_redirects: int = MAX_REDIRECTS,
        verify_tls: bool = True,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.resolver: Resolver = resolver or SystemResolver()
        self._backend = backend or httpcore.SyncBackend()
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.verify_tls = verify_tls
        guarded = _GuardedBackend(self.resolver, self.policy, self._backend)
        self._transport = _GuardedTransport(guarded, verify_tls)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._transport.close()

    def _client(self) -> httpx.Client:
        """A client of this fetch only (no cookies from earlier ones) over the shared pool.

        Never closed: closing a client closes its transport, which the next fetch uses.
        """
        return httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    def fetch(self, url: str, *, method: str = "GET") -> Capture:
        """Fetch ``url``, following redirects; raise :class:`FetchRefused` or :class:`FetchFailed`.

        Any HTTP status is a capture (a 404 is what a removal looks like); only
        failing to get an answer at all raises.
        """
        started = datetime.now(UTC)
        deadline = time.monotonic() + self.timeout_s
        hops: list[Hop] = []
        current = url
        client = self._client()
        for _ in range(self.max_redirects + 1):
            _check_url(current)
            try:
                with client.stream(method, current) as response:
                    hops.append(Hop(current, response.status_code, _peer(response)))
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        current = urljoin(current, location)
                        continue
                    return self._capture(url, current, response, started, deadline, hops)
            except FetchRefused:
                raise
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"{current}: timed out") from exc
            except httpx.HTTPError as exc:
                cause = exc.__context__ or exc.__cause__
                if isinstance(cause, FetchRefused):
                    raise cause from None
                raise FetchFailed(f"{current}: {exc}") from exc
        raise FetchFailed(f"{url}: more than {self.max_redirects} redirects")

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Capture:
        """POST ``body`` to ``url`` under the same checks; redirects are not followed.

        A partner's takedown API is a caller-configured URL like any other, so it is
        held to the same address policy (a notice must not become a way to reach
        the private network).
        """
        _check_url(url)
        started = datetime.now(UTC)
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._client().stream("POST", url, content=body, headers=headers) as response:
                hops = [Hop(url, response.status_code, _peer(response))]
                return self._capture(url, url, response, started, deadline, hops)
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"{url}: timed out") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{url}: {exc}") from exc

    def _capture(
        self,
        url: str,
        final_url: str,
        response: httpx.Response,
        started: datetime,
        deadline: float,
        hops: list[Hop],
    ) -> Capture:
        """Read the final answer's body (capped, by the deadline) into a capture."""
        content = self._read(response, deadline)
        return Capture(
            url=url,
            final_url=final_url,
            status=response.status_code,
            headers=tuple(response.headers.multi_items()),
            content=content,
            started_at=started,
            finished_at=datetime.now(UTC),
            hops=tuple(hops),
        )

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaTooLarge(f"the answer declares {declared} bytes; at most {self.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise MediaTooLarge(f"the answer is larger than {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchFailed(f"{response.url}: took longer than {self.timeout_s} s")
            chunks.append(chunk)
        return b"".join(chunks)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https URLs are fetched, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise FetchRefused(f"{url!r} has no host")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not fetched")


def _is_ip(host: str) -> bool:
    """A literal address (no name to resolve; the policy still checks it)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _peer(response: httpx.Response) -> str | None:
    """The address the answer came from (its connection's peer, pooled or new); read
    before the body, after which a connection that is not kept alive is closed."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        peer = stream.get_extra_info("server_addr")
    except OSError:  # closed under us
        return None
    return str(peer[0]) if peer else None
