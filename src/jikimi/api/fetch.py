"""Fetching the media of ``POST /v1/scan {"url": …}``: off by default, and fenced when on.

A server that fetches caller-supplied URLs can be turned against its own network
(SSRF), so fetching needs ``url_fetch_enabled`` *and* a host on
``url_fetch_allow_hosts`` (an empty list allows nothing). Redirects are followed
by hand, at most :data:`MAX_REDIRECTS`, and only to allowed hosts; the body is
streamed and cut off past ``max_bytes``; the whole fetch has a timeout.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from jikimi.api.problems import ApiProblem
from jikimi.config import Settings
from jikimi.errors import MediaTooLarge

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class UrlFetcher:
    """Fetches one URL's bytes under the settings' limits (one per app)."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.enabled = settings.url_fetch_enabled
        self.allow_hosts = tuple(h.lower().strip() for h in settings.url_fetch_allow_hosts)
        self.timeout_s = settings.url_fetch_timeout_s
        self.max_bytes = settings.max_bytes
        self.transport = transport
        """Tests plug in ``httpx.MockTransport`` here; production uses the network."""

    def allowed(self, url: str) -> bool:
        """Is ``url``'s host on the allow-list? (``.example.org`` also allows subdomains)."""
        host = (urlsplit(url).hostname or "").lower()
        if not host:
            return False
        for allowed in self.allow_hosts:
            if allowed.startswith(".") and (host.endswith(allowed) or host == allowed[1:]):
                return True
            if host == allowed:
                return True
        return False

    def fetch(self, url: str) -> bytes:
        """The body of ``url`` (2xx only), or an :class:`ApiProblem` saying why not."""
        if not self.enabled:
            raise ApiProblem(
                403,
                "url_fetch_disabled",
                "Scanning a URL is disabled on this server; upload the file instead.",
            )
        with httpx.Client(
            timeout=self.timeout_s, follow_redirects=False, transport=self.transport
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_host(url)
                try:
                    with client.stream("GET", url) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        if not response.is_success:
                            raise _failed(f"the server answered HTTP {response.status_code}")
                        return self._read_capped(response)
                except httpx.TimeoutException as exc:
                    raise _failed(f"no answer within {self.timeout_s:g} s") from exc
                except httpx.HTTPError as exc:
                    raise _failed(type(exc).__name__) from exc
        raise _failed(f"more than {MAX_REDIRECTS} redirects")

    def _check_host(self, url: str) -> None:
        if not self.allowed(url):
            host = urlsplit(url).hostname or url
            raise ApiProblem(
                403, "url_not_allowed", f"Fetching from {host!r} is not on the allow-list."
            )

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaTooLarge(f"the URL's media is larger than {self.max_bytes} bytes")
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise MediaTooLarge(f"the URL's media is larger than {self.max_bytes} bytes")
            parts.append(chunk)
        return b"".join(parts)


def _failed(reason: str) -> ApiProblem:
    return ApiProblem(422, "url_fetch_failed", f"The URL could not be fetched: {reason}.")
