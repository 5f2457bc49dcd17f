"""opsbook's own Prometheus metrics, in a per-app registry (tests get a fresh one each, R24)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
        self.requests = Counter(
            "opsbook_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "opsbook_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        # The labelled children by (method, route, status): labels() validates and looks up
        # its arguments on every call, a few percent of a cached status page answer's CPU.
        # Routes are templates and statuses few, so this stays as small as the metric.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
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
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method=method, route=route, status=str(status)),
                self.duration.labels(route=route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(duration_s)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
