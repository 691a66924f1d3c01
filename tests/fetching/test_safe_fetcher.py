"""SafeFetcher: refusals never open a socket; allowed fetches record where they went."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpcore
import pytest

from jikimi.errors import MediaTooLarge
from jikimi.fetching import AddressPolicy, FetchFailed, FetchRefused, SafeFetcher, refusal_reason
from jikimi.fetching.addresses import IPAddress


class StubResolver:
    """Names → addresses, with no DNS at all."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise FetchFailed(f"cannot resolve {host!r}")
        return self.table[host]


class NoConnections(httpcore.NetworkBackend):
    """A backend that fails the test if anything tries to open a socket."""

    def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        pytest.fail(f"a connection to {host}:{port} was attempted")

    def connect_unix_socket(self, path: str, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        pytest.fail("a unix socket was attempted")


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"gone"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, dict[str, tuple[int, dict[str, str], bytes]]]]:
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    handler = type("H", (_Handler,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], routes
    httpd.shutdown()
    httpd.server_close()


LOOPBACK_ONLY = AddressPolicy.allowing(["127.0.0.1/32"])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_refused_without_a_socket(address: str) -> None:
    resolver = StubResolver({"evil.example": [address]})
    fetcher = SafeFetcher(resolver=resolver, backend=NoConnections())
    with pytest.raises(FetchRefused, match="refused"):
        fetcher.fetch("http://evil.example/x.jpg")
    assert resolver.asked == ["evil.example"]


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    resolver = StubResolver({"mixed.example": ["93.184.216.34", "10.0.0.5"]})
    fetcher = SafeFetcher(resolver=resolver, backend=NoConnections())
    with pytest.raises(FetchRefused):
        fetcher.fetch("https://mixed.example/")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://host.example/x", "gopher://x", "http://user:pw@h.example/"]
)
def test_bad_urls_are_refused(url: str) -> None:
    fetcher = SafeFetcher(resolver=StubResolver({}), backend=NoConnections())
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)


def test_literal_ip_urls_are_checked_too() -> None:
    class Literal:
        def resolve(self, host: str, port: int) -> list[str]:
            return [host]

    fetcher = SafeFetcher(resolver=Literal(), backend=NoConnections())
    with pytest.raises(FetchRefused, match="link-local"):
        fetcher.fetch("http://169.254.169.254/latest/meta-data/")


def test_public_addresses_pass_the_policy() -> None:
    import ipaddress

    ip: IPAddress = ipaddress.ip_address("93.184.216.34")
    assert refusal_reason(ip) is None
    assert AddressPolicy().check("8.8.8.8") is None
    assert AddressPolicy().check("not-an-ip") is not None


def test_fetch_from_an_allowed_loopback_server_records_the_capture(server: Any) -> None:
    port, routes = server
    routes["/p/1.jpg"] = (200, {"Content-Type": "image/jpeg"}, b"\xff\xd8bytes")
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    capture = SafeFetcher(LOOPBACK_ONLY, resolver=resolver).fetch(
        f"http://host.example:{port}/p/1.jpg"
    )
    assert capture.status == 200
    assert capture.content == b"\xff\xd8bytes"
    assert capture.address == "127.0.0.1"
    assert capture.header("content-type") == "image/jpeg"
    assert capture.finished_at >= capture.started_at


def test_a_404_is_a_capture_not_an_error(server: Any) -> None:
    port, _ = server
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    capture = SafeFetcher(LOOPBACK_ONLY, resolver=resolver).fetch(f"http://host.example:{port}/x")
    assert capture.status == 404


def test_redirects_are_followed_and_each_hop_is_checked(server: Any) -> None:
    port, routes = server
    routes["/a"] = (302, {"Location": "/b"}, b"")
    routes["/b"] = (301, {"Location": f"http://meta.example:{port}/c"}, b"")
    resolver = StubResolver({"host.example": ["127.0.0.1"], "meta.example": ["169.254.169.254"]})
    fetcher = SafeFetcher(LOOPBACK_ONLY, resolver=resolver)
    with pytest.raises(FetchRefused, match=r"169\.254\.169\.254"):
        fetcher.fetch(f"http://host.example:{port}/a")
    assert resolver.asked[-1] == "meta.example"


def test_redirect_chain_is_recorded(server: Any) -> None:
    port, routes = server
    routes["/a"] = (302, {"Location": "/b"}, b"")
    routes["/b"] = (200, {}, b"ok")
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    capture = SafeFetcher(LOOPBACK_ONLY, resolver=resolver).fetch(f"http://host.example:{port}/a")
    assert [h.status for h in capture.hops] == [302, 200]
    assert capture.final_url.endswith("/b")


def test_redirect_loops_end(server: Any) -> None:
    port, routes = server
    routes["/loop"] = (302, {"Location": "/loop"}, b"")
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    with pytest.raises(FetchFailed, match="redirects"):
        SafeFetcher(LOOPBACK_ONLY, resolver=resolver, max_redirects=3).fetch(
            f"http://host.example:{port}/loop"
        )


def test_size_cap(server: Any) -> None:
    port, routes = server
    routes["/big"] = (200, {}, b"x" * 5000)
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    with pytest.raises(MediaTooLarge):
        SafeFetcher(LOOPBACK_ONLY, resolver=resolver, max_bytes=1000).fetch(
            f"http://host.example:{port}/big"
        )


def test_unreachable_is_a_fetch_failure() -> None:
    # A port on loopback where nothing listens: allowed, but refused by the kernel.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resolver = StubResolver({"host.example": ["127.0.0.1"]})
    with pytest.raises(FetchFailed):
        SafeFetcher(LOOPBACK_ONLY, resolver=resolver, timeout_s=2).fetch(
            f"http://host.example:{port}/"
        )


class _KeepAlive(_Handler):
    """HTTP/1.1 with keep-alive, as hosts serve; counts connections and cookies seen."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[int]] = []
    cookies: ClassVar[list[str | None]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def do_GET(self) -> None:
        self.cookies.append(self.headers.get("Cookie"))
        self.routes["/set"] = (200, {"Set-Cookie": "session=abc; Path=/"}, b"one")
        super().do_GET()


def test_fetches_reuse_the_pools_connection_but_no_cookie() -> None:
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {"/again": (200, {}, b"two")}
    handler = type("K", (_KeepAlive,), {"routes": routes, "connections": [], "cookies": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        resolver = StubResolver({"host.example": ["127.0.0.1"]})
        fetcher = SafeFetcher(LOOPBACK_ONLY, resolver=resolver)
        first = fetcher.fetch(f"http://host.example:{port}/set")
        second = fetcher.fetch(f"http://host.example:{port}/again")
        fetcher.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (first.content, second.content) == (b"one", b"two")
    assert len(handler.connections) == 1  # the second fetch went over the kept-alive one
    assert resolver.asked == ["host.example"]  # resolved once, when it was opened
    assert second.address == "127.0.0.1"  # recorded on a reused connection too
    assert handler.cookies == [None, None]  # the host's cookie is not sent back


def test_a_literal_address_is_not_resolved_but_still_checked() -> None:
    resolver = StubResolver({})
    with pytest.raises(FetchRefused, match="link-local"):
        SafeFetcher(resolver=resolver, backend=NoConnections()).fetch("http://169.254.169.254/")
    assert resolver.asked == []
