"""A partner host on 127.0.0.1 for casework tests: serves ``pages`` (path → bytes),
404 for anything else, so a test takes content down by deleting its page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PagesHost:
    """The running host: change ``pages`` while it runs; ``port`` is where it listens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.pages: dict[str, bytes] = {}


@contextmanager
def serve_pages() -> Iterator[PagesHost]:
    host: PagesHost

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = host.pages.get(self.path)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host = PagesHost(httpd.server_address[1])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield host
    finally:
        httpd.shutdown()
        httpd.server_close()
