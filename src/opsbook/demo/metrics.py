"""Prometheus metrics of one demo app, in the shapes the seed runbooks query.

in-midst-my-life watches ``http_requests_total``, ``http_request_duration_seconds_bucket`` and
``nodejs_heap_size_used_bytes``; Levqor watches ``error_rate_total``; LiLove and Lift alert on
memory, disk, the database pool, auth failures and payment failures. Every app gets its own
``CollectorRegistry`` so two apps in one process (tests, ``opsbook demo``) never share counts.

``DemoMetrics`` is one custom collector: real requests and the simulated users (``Workload``) land
in the same families (``http_requests_total`` counts both), and every gauge is read from the
faults at scrape time, so there is no second copy to keep in step (R20).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from opsbook.demo.faults import DB_POOL_MAX
from opsbook.demo.state import DemoState
from opsbook.demo.workload import API_PATH

# From 1 ms (a healthy /healthz) to 10 s (a staged 3 s latency fault plus margin).
LATENCY_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
HEAP_TOTAL_BYTES = 512 * 1024 * 1024
"""The simulated Node heap (``--max-old-space-size=512``); ``memory_pct`` of it is used."""


class _Histogram:
    """Bucket counts (not cumulative), their sum and count, as Prometheus histograms keep them."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum = 0.0

    def observe(self, value: float, *, times: int = 1) -> None:
        # ``le`` is inclusive: a value equal to a bound belongs to that bound's bucket.
        self.counts[bisect_left(LATENCY_BUCKETS_S, value)] += times
        self.sum += value * times

    def add(self, durations: Mapping[float, int]) -> _Histogram:
        for value, times in durations.items():
            self.observe(value, times=times)
        return self

    def buckets(self) -> list[tuple[str, float]]:
        # Written as prometheus_client writes them ("0.1", "1.0"), which is what repr gives.
        bounds = [*(repr(b) for b in LATENCY_BUCKETS_S), "+Inf"]
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip(bounds, self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


def _histogram(
    name: str, doc: str, series: Iterable[tuple[list[str], _Histogram]], *, labels: list[str]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, histogram in series:
        family.add_metric(values, histogram.buckets(), histogram.sum)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class DemoMetrics:
    def __init__(self, state: DemoState, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._state = state
        self._requests: Counter[tuple[str, str, str]] = Counter()
        self._durations: dict[str, _Histogram] = {}
        self._errors = 0
        self.registry.register(self)

    def observe(self, *, method: str, path: str, code: int, duration_s: float) -> None:
        """Count one real request."""
        self._requests[(str(code), method, path)] += 1
        self._durations.setdefault(path, _Histogram()).observe(duration_s)
        if code >= 500:
            self._errors += 1

    def render(self) -> bytes:
        self._state.settle()
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Every family, built at scrape time (``prometheus_client``'s custom collector)."""
        work = self._state.workload
        faults = self._state.faults
        requests = Counter(self._requests)
        for code, count in work.api_requests.items():
            requests[(str(code), "GET", API_PATH)] += count
        family = CounterMetricFamily(
            "http_requests",
            "HTTP requests answered, by status code, method and route.",
            labels=["code", "method", "path"],
        )
        for labels, count in sorted(requests.items()):
            family.add_metric(list(labels), count)
        yield family
        durations = dict(self._durations)
        if work.api_durations:
            durations[API_PATH] = _Histogram().add(work.api_durations)
        yield _histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, including injected latency.",
            (([path], h) for path, h in sorted(durations.items())),
            labels=["path"],
        )
        errors = self._errors + work.api_requests[500]
        yield CounterMetricFamily(
            "error_rate", "HTTP requests answered with a 5xx status.", value=errors
        )
        yield _histogram(
            "db_query_duration_seconds",
            "Time a database query took (one per API request).",
            [([], _Histogram().add(work.db_durations))] if work.db_durations else [],
            labels=[],
        )
        payments = CounterMetricFamily(
            "payments", "Payments attempted, by outcome.", labels=["status"]
        )
        for status, count in work.payments.items():
            payments.add_metric([status], count)
        yield payments
        yield CounterMetricFamily(
            "auth_failures", "Failed sign-in attempts.", value=work.auth_failures
        )
        yield _gauge("queue_depth", "Jobs waiting in the queue.", faults.queue_depth)
        yield _gauge("queue_dlq", "Jobs in the dead-letter queue.", faults.dlq)
        yield _gauge(
            "process_memory_usage_pct",
            "Memory in use as a percentage of the process's limit.",
            faults.memory_pct,
        )
        yield _gauge(
            "nodejs_heap_size_used_bytes",
            "Heap in use, in bytes.",
            round(HEAP_TOTAL_BYTES * faults.memory_pct / 100),
        )
        yield _gauge("nodejs_heap_size_total_bytes", "Heap size, in bytes.", HEAP_TOTAL_BYTES)
        yield _gauge("disk_used_pct", "Disk space in use, in percent.", faults.disk_used_pct)
        yield _gauge("disk_free_pct", "Disk space free, in percent.", 100 - faults.disk_used_pct)
        yield _gauge(
            "db_pool_active_connections",
            "Database connections in use.",
            faults.db_connections,
        )
        yield _gauge(
            "db_pool_max_connections", "Size of the database connection pool.", DB_POOL_MAX
        )
