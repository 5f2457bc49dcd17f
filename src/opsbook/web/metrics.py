"""opsbook's own Prometheus metrics, in a per-app registry (tests get a fresh one each, R24)."""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from opsbook import __version__
from opsbook.checks.models import State
from opsbook.checks.service import CheckStatus

# Route templates, not raw paths, label the HTTP series: /checks/{id} stays one series.
UNMATCHED_ROUTE = "unmatched"
# Health endpoints answer in microseconds; probes of real services land in the 10 ms-10 s range.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _UpCollector(Collector):
    """``opsbook_store_up`` and ``opsbook_runner_up``, computed at scrape time (R20)."""

    def __init__(self, *, store_up: Callable[[], bool], runner_up: Callable[[], bool]) -> None:
        self._store_up = store_up
        self._runner_up = runner_up

    def describe(self) -> Iterable[Metric]:
        # Describing without collecting keeps registration from touching the database.
        yield GaugeMetricFamily("opsbook_store_up", "1 if the store answers a query, else 0.")
        yield GaugeMetricFamily("opsbook_runner_up", "1 if the background runner is healthy.")

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "opsbook_store_up", "1 if the store answers a query, else 0.", value=self._store_up()
        )
        yield GaugeMetricFamily(
            "opsbook_runner_up", "1 if the background runner is healthy.", value=self._runner_up()
        )


class _FailuresCollector(Collector):
    """``opsbook_task_failures_total`` and ``opsbook_item_failures_total`` by task, read from
    the runner's ``TaskFailures`` at scrape time (the counts live where they happen)."""

    def __init__(self, counts: Callable[[], tuple[dict[str, int], dict[str, int]]]) -> None:
        self._counts = counts

    def describe(self) -> Iterable[Metric]:
        return self._families({}, {})

    def collect(self) -> Iterable[Metric]:
        return self._families(*self._counts())

    def _families(self, passes: dict[str, int], items: dict[str, int]) -> list[Metric]:
        task = CounterMetricFamily(
            "opsbook_task_failures",
            "Failed passes of a background task (a pass that raised), by task.",
            labels=["task"],
        )
        item = CounterMetricFamily(
            "opsbook_item_failures",
            "Single items (alert, incident, notification) a task could not handle and marked"
            " failed while the rest of its pass went on, by task.",
            labels=["task"],
        )
        for name, n in sorted(passes.items()):
            task.add_metric([name], n)
        for name, n in sorted(items.items()):
            item.add_metric([name], n)
        return [task, item]


LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UP_VALUE = {State.UP: 1.0, State.DEGRADED: 0.5, State.DOWN: 0.0}


class _CheckCollector(Collector):
    """Per-check gauges, read from ``check_state`` at scrape time (R20)."""

    def __init__(self, states: Callable[[], Sequence[CheckStatus]]) -> None:
        self._states = states

    def describe(self) -> Iterable[Metric]:
        return self._families([])

    def collect(self) -> Iterable[Metric]:
        return self._families(self._states())

    def _families(self, states: Sequence[CheckStatus]) -> list[Metric]:
        up = GaugeMetricFamily(
            "opsbook_check_up",
            "Last result of a check: 1 up, 0.5 degraded, 0 down.",
            labels=["check"],
        )
        latency = GaugeMetricFamily(
            "opsbook_check_latency_seconds", "Latency of a check's last result.", labels=["check"]
        )
        last = GaugeMetricFamily(
            "opsbook_check_last_result_timestamp_seconds",
            "When a check's last result started, in Unix seconds.",
            labels=["check"],
        )
        for s in states:
            up.add_metric([s.check_id], UP_VALUE[s.state])
            if s.last_latency_ms is not None:
                latency.add_metric([s.check_id], s.last_latency_ms / 1000)
            last.add_metric([s.check_id], s.last_result_at.timestamp())
        return [up, latency, last]


@dataclass(slots=True)
class _Count:
    value: int
    created: float


@dataclass(slots=True)
class _Durations:
    buckets: list[int]
    """Requests per bucket, not cumulative: ``buckets[i]`` took at most ``DURATION_BUCKETS[i]``
    and more than the bound before; the last, more than every bound (``+Inf``)."""
    sum_s: float
    created: float


class _HttpCollector(Collector):
    """``opsbook_http_requests_total`` (method, route template, status) and the histogram
    ``opsbook_http_request_duration_seconds`` (route template): the series prometheus_client's
    ``Counter`` and ``Histogram`` would expose, ``_created`` included, counted in plain Python and
    read at scrape time. Those classes take a lock for each value they add (four a request),
    which was 3.7 % of the CPU of a one-alert ``POST /api/v2/alerts`` (docs/benchmarks.md).

    ``observe`` runs on the event loop only (the request middleware), so nothing adds at once;
    a scrape, which may run in another thread, reads copies of the tables (``list`` of a dict
    copies it whole while holding the GIL). Route templates bound the tables' size."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], _Count] = {}
        self._durations: dict[str, _Durations] = {}

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        count = self._counts.get((method, route, status))
        if count is None:
            count = self._counts[(method, route, status)] = _Count(0, time.time())
        count.value += 1
        durations = self._durations.get(route)
        if durations is None:
            buckets = [0] * (len(DURATION_BUCKETS) + 1)
            durations = self._durations[route] = _Durations(buckets, 0.0, time.time())
        # The first bound at or above the duration: Prometheus buckets are "less or equal".
        durations.buckets[bisect.bisect_left(DURATION_BUCKETS, duration_s)] += 1
        durations.sum_s += duration_s

    def describe(self) -> Iterable[Metric]:
        return self._families([], [])

    def collect(self) -> Iterable[Metric]:
        return self._families(list(self._counts.items()), list(self._durations.items()))

    def _families(
        self,
        counts: list[tuple[tuple[str, str, int], _Count]],
        durations: list[tuple[str, _Durations]],
    ) -> list[Metric]:
        requests = CounterMetricFamily(
            "opsbook_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in counts:
            requests.add_metric([method, route, str(status)], count.value, created=count.created)
        name = "opsbook_http_request_duration_seconds"
        duration = HistogramMetricFamily(
            name, "Time to answer an HTTP request, by route template.", labels=["route"]
        )
        for route, d in durations:
            cumulative = list(itertools.accumulate(d.buckets))
            duration.add_metric([route], list(zip(_LE, cumulative, strict=True)), d.sum_s)
            duration.add_sample(f"{name}_created", {"route": route}, d.created)
        return [requests, duration]


# The `le` labels as prometheus_client writes them (its helper has no type hints).
_LE = [*(floatToGoString(b) for b in DURATION_BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]


class Metrics:
    """The app's collectors. ``observe_request`` is called once per HTTP request."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        store_up: Callable[[], bool],
        runner_up: Callable[[], bool],
        check_states: Callable[[], Sequence[CheckStatus]] | None = None,
        failures: Callable[[], tuple[dict[str, int], dict[str, int]]] | None = None,
    ) -> None:
        self.registry = registry
        Info("opsbook_build", "opsbook version.", registry=registry).info({"version": __version__})
        self._http = _HttpCollector()
        registry.register(self._http)
        self.lateness = Histogram(
            "opsbook_scheduler_lateness_seconds",
            "How late probes start against their planned time (the scheduler's health).",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        registry.register(_UpCollector(store_up=store_up, runner_up=runner_up))
        if check_states is not None:
            registry.register(_CheckCollector(check_states))
        if failures is not None:
            registry.register(_FailuresCollector(failures))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def observe_request(self, *, method: str, route: str, status: int, duration_s: float) -> None:
        """Count one answered request (on the event loop: see ``_HttpCollector``)."""
        self._http.observe(method, route, status, duration_s)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
