"""Prometheus metrics of one API process, served at ``/metrics``.

Each app gets its own :class:`~prometheus_client.CollectorRegistry` (not the
global one) so that tests can build many apps in one process and a metric is
never registered twice. Routes are labelled by their *template*
(``/v1/banks/{name}``), never the raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from jikimi.domain import Verdict

UNMATCHED_ROUTE = "<unmatched>"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ApiMetrics:
    """The counters and histograms the middleware and the scan route update."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    scans: Counter
    hashes_matched: Counter

    @classmethod
    def create(cls) -> ApiMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            requests=Counter(
                "jikimi_http_requests",
                "HTTP requests by method, route template and status.",
                ("method", "route", "status"),
                registry=registry,
            ),
            latency=Histogram(
                "jikimi_http_request_duration_seconds",
                "Time to the end of the response, by method and route template.",
                ("method", "route"),
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            scans=Counter(
                "jikimi_scans",
                "Scans by grade and decision action (error for media that failed).",
                ("grade", "action"),
                registry=registry,
            ),
            hashes_matched=Counter(
                "jikimi_match_hashes",
                "Hashes looked up through POST /v1/match.",
                registry=registry,
            ),
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_scan(self, verdict: Verdict) -> None:
        if verdict.error is not None or verdict.grade is None or verdict.decision is None:
            self.scans.labels("error", "error").inc()
            return
        self.scans.labels(verdict.grade.label.value, verdict.decision.action.value).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
