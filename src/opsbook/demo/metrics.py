"""Prometheus metrics of one demo app, in the shape the seed runbooks query.

in-midst-my-life watches ``http_requests_total`` and ``http_request_duration_seconds_bucket``;
Levqor watches ``error_rate_total``. Every app gets its own ``CollectorRegistry`` so two apps in one
process (tests, ``opsbook demo``) never share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from opsbook.demo.state import DemoState

# From 1 ms (a healthy /healthz) to 10 s (a staged 3 s latency fault plus margin).
LATENCY_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


class DemoMetrics:
    def __init__(self, state: DemoState, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by status code, method and route.",
            ["code", "method", "path"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, including injected latency.",
            ["path"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.errors = Counter(
            "error_rate", "HTTP requests answered with a 5xx status.", registry=self.registry
        )
        # Computed at scrape time from the faults, so there is no second copy to keep in step (R20).
        depth = Gauge("queue_depth", "Jobs waiting in the queue.", registry=self.registry)
        depth.set_function(lambda: float(state.faults.queue_depth))
        dlq = Gauge("queue_dlq", "Jobs in the dead-letter queue.", registry=self.registry)
        dlq.set_function(lambda: float(state.faults.dlq))

    def observe(self, *, method: str, path: str, code: int, duration_s: float) -> None:
        self.requests.labels(code=str(code), method=method, path=path).inc()
        self.duration.labels(path=path).observe(duration_s)
        if code >= 500:
            self.errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
