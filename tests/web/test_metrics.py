from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from opsbook import __version__
from opsbook.web.metrics import DURATION_BUCKETS, Metrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_it_exposes_opsbook_metrics_in_prometheus_text_format(client: TestClient) -> None:
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(response.text)
    assert samples[("opsbook_build_info", (("version", __version__),))] == 1.0
    assert samples[("opsbook_store_up", ())] == 1.0
    assert samples[("opsbook_runner_up", ())] == 1.0
    health = (("method", "GET"), ("route", "/health"), ("status", "200"))
    assert samples[("opsbook_http_requests_total", health)] == 1.0
    assert samples[("opsbook_http_request_duration_seconds_count", (("route", "/health"),))] == 1.0
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_finds_no_problems(client: TestClient) -> None:
    client.get("/health")
    client.get("/no-such-page")
    body = client.get("/metrics").text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""
    assert checked.stderr.strip() == ""


def test_requests_are_counted_by_route_template_not_raw_path(
    app: FastAPI, client: TestClient
) -> None:
    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    for thing_id in (1, 2, 3):
        assert client.get(f"/things/{thing_id}").status_code == 200
    client.get("/nowhere/1")
    client.get("/nowhere/2")
    samples = _samples(client.get("/metrics").text)
    things = (("method", "GET"), ("route", "/things/{thing_id}"), ("status", "200"))
    assert samples[("opsbook_http_requests_total", things)] == 3.0
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("opsbook_http_requests_total", unmatched)] == 2.0
    routes = {
        dict(labels).get("route") for name, labels in samples if name.startswith("opsbook_http")
    }
    assert not any(r and r.startswith(("/things/1", "/nowhere")) for r in routes)


def test_the_counter_increments_on_each_request(client: TestClient) -> None:
    key = (
        "opsbook_http_requests_total",
        (("method", "GET"), ("route", "/ready"), ("status", "200")),
    )
    client.get("/ready")
    first = _samples(client.get("/metrics").text)[key]
    client.get("/ready")
    assert _samples(client.get("/metrics").text)[key] == first + 1


def test_docs_routes_are_labelled_by_their_path(client: TestClient) -> None:
    client.get("/openapi.json")
    samples = _samples(client.get("/metrics").text)
    key = (("method", "GET"), ("route", "/openapi.json"), ("status", "200"))
    assert samples[("opsbook_http_requests_total", key)] == 1.0


def test_store_up_is_zero_when_the_store_is_unreachable(
    make_app: Callable[..., FastAPI], closed_port: int
) -> None:
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x?connect_timeout=2")
    with TestClient(app) as client:
        samples = _samples(client.get("/metrics").text)
    assert samples[("opsbook_store_up", ())] == 0.0
    assert samples[("opsbook_runner_up", ())] == 1.0


def test_each_app_has_its_own_registry(make_app: Callable[..., FastAPI], sqlite_url: str) -> None:
    # Two apps in one process (tests, or a future multi-app server) must not collide.
    first = make_app(sqlite_url, registry=CollectorRegistry())
    second = make_app(sqlite_url, registry=CollectorRegistry())
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/health")
        key = (
            "opsbook_http_requests_total",
            (("method", "GET"), ("route", "/health"), ("status", "200")),
        )
        assert key not in _samples(two.get("/metrics").text)


_OBSERVATION = st.tuples(
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["/health", "/api/v2/alerts", "/ping/{key}", "unmatched"]),
    st.sampled_from([200, 304, 404, 500]),
    # Every bound exactly, and between and past them.
    st.one_of(st.sampled_from(DURATION_BUCKETS), st.floats(0, 30, allow_nan=False)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OBSERVATION, max_size=30))
def test_the_http_series_are_prometheus_clients_own(
    observations: list[tuple[str, str, int, float]],
) -> None:
    """The request counter and duration histogram, counted in plain Python, expose exactly what
    prometheus_client's ``Counter`` and ``Histogram`` would for the same requests (the
    ``_created`` times aside, which only have to be there)."""
    ours_registry = CollectorRegistry()
    ours = Metrics(ours_registry, store_up=lambda: True, runner_up=lambda: True)
    theirs_registry = CollectorRegistry()
    requests = Counter(
        "opsbook_http_requests",
        "HTTP requests answered, by method, route template and status.",
        ["method", "route", "status"],
        registry=theirs_registry,
    )
    duration = Histogram(
        "opsbook_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template.",
        ["route"],
        buckets=DURATION_BUCKETS,
        registry=theirs_registry,
    )
    for method, route, status, duration_s in observations:
        ours.observe_request(method=method, route=route, status=status, duration_s=duration_s)
        requests.labels(method=method, route=route, status=str(status)).inc()
        duration.labels(route=route).observe(duration_s)

    def http_lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        lines = [line for line in text.splitlines() if "opsbook_http_request" in line]
        # A _created sample's value is when its series started: keep its name and labels.
        return [line.rpartition(" ")[0] if "_created{" in line else line for line in lines]

    assert http_lines(ours_registry) == http_lines(theirs_registry)
